"""Result store: layout, persistence, damaged files; engine resume and stale-cache rejection."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from inception_eval import data, engine, store
from inception_eval.models.checkpoint import save_checkpoint
from inception_eval.models.googlenet import googlenet

CROP = 64
TEN = ("ten", "center")


def _key(**over) -> store.CacheKey:
    base = dict(checkpoint_sha256="a" * 64, protocols=("center=x",), heads=("main",), crop_size=64,
                interpolation="auto", averaging="softmax_mean", precision="fp32", device="cpu",
                dataset_signature="d", num_images=5, num_classes=3)
    base.update(over)
    return store.CacheKey(**base)


def test_store_persists_rows_status_and_reasons(tmp_path):
    key = _key()
    entries = [("center", "main"), ("ten", "main")]
    s = store.open_store(tmp_path, key, entries)
    assert s.folder == tmp_path / key.digest()[:24]
    rows = {e: np.full((2, 3), k + 0.5, np.float32) for k, e in enumerate(entries)}
    s.write([3, 1], rows)
    s.write_skipped(4, "/x/bad.jpg", "empty file")
    s.close()
    del s
    t = store.open_store(tmp_path, key, entries)
    assert t.status.tolist() == [0, 1, 0, 1, 2]
    assert t.probs[("ten", "main")][3].tolist() == [1.5] * 3
    assert t.reasons() == {4: ("/x/bad.jpg", "empty file")}
    # the documented raw layout
    raw = np.fromfile(tmp_path / key.digest()[:24] / "probs.1.f32", dtype=np.float32).reshape(5, 3)
    assert raw[1].tolist() == [1.5] * 3
    assert (tmp_path / key.digest()[:24] / "key.json").is_file()


def test_store_keys_and_damaged_files(tmp_path):
    entries = [("center", "main")]
    digests = {_key().digest()}
    for change in (dict(checkpoint_sha256="b" * 64), dict(precision="bf16"), dict(interpolation="bilinear"),
                   dict(averaging="max"), dict(protocols=("center=y",)), dict(heads=("main", "aux1")),
                   dict(dataset_signature="e"), dict(crop_size=112), dict(device="cuda")):
        digests.add(_key(**change).digest())
    assert len(digests) == 10
    s = store.open_store(tmp_path, _key(), entries)
    s.write([0], {entries[0]: np.ones((1, 3), np.float32)})
    (s.folder / "probs.0.f32").write_bytes(b"\0" * 7)  # damaged: wrong size
    t = store.open_store(tmp_path, _key(), entries)
    assert t.status.tolist() == [0] * 5  # not trusted: started fresh
    with pytest.raises(FileNotFoundError):
        store.open_store(tmp_path / "nothing", _key(), entries, create=False)
    mem = store.open_store(None, _key(), entries)
    assert mem.folder is None and mem.status.shape == (5,)


@pytest.fixture()
def setup(tmp_path, imagenet_samples):
    torch.manual_seed(0)
    ckpt = tmp_path / "a.pt"
    save_checkpoint(ckpt, googlenet(num_classes=1000, width_mult=0.25), input_size=CROP)
    ds = data.open_dataset(imagenet_samples).subset(range(0, 40, 8))  # 5 photos
    return ckpt, ds, tmp_path / "cache"


def _score(ckpt, ds, cache, protocols=("center",), **kw):
    args = dict(workers=0, progress=False, cache_dir=cache, max_batch=64)
    args.update(kw)
    return engine.score(ckpt, ds, list(protocols), **args)


def test_rerun_reuses_and_partial_store_resumes(setup):
    ckpt, ds, cache = setup
    a = _score(ckpt, ds, cache, TEN)
    assert (a.images_computed, a.images_cached, a.forward_views) == (5, 0, 50)
    b = _score(ckpt, ds, cache, TEN)
    assert (b.images_computed, b.images_cached, b.forward_views) == (0, 5, 0)
    for k in a.probs:
        assert np.array_equal(a.probs[k], b.probs[k])
    assert b.total_unique_views == 50 and b.stored_seconds > 0
    # Simulate an interruption: two images lost their "done" byte (rows written, status not yet).
    st = np.memmap(os.path.join(a.cache_path, "status.u8"), dtype=np.uint8, mode="r+")
    st[[1, 3]] = 0
    st.flush()
    del st
    c = _score(ckpt, ds, cache, TEN)
    assert (c.images_computed, c.images_cached, c.forward_views) == (2, 3, 20)
    for k in a.probs:
        np.testing.assert_allclose(c.probs[k], a.probs[k], rtol=0, atol=2e-6)


def test_stale_results_never_reused(setup, tmp_path):
    ckpt, ds, cache = setup
    base = _score(ckpt, ds, cache)
    assert base.images_computed == 5
    # A different checkpoint (other weights, same file name) -> new sha256 -> recomputed.
    torch.manual_seed(1)
    save_checkpoint(ckpt, googlenet(num_classes=1000, width_mult=0.25), input_size=CROP)
    other = _score(ckpt, ds, cache)
    assert other.images_computed == 5 and other.checkpoint_sha256 != base.checkpoint_sha256
    assert not np.allclose(other.probs[("center", "main")], base.probs[("center", "main")])
    # Settings: precision, interpolation, averaging, protocol set each get their own results.
    for kw in (dict(precision="bf16"), dict(interpolation="bilinear"), dict(averaging="logit_mean"),
               dict(protocols=TEN)):
        r = _score(ckpt, ds, cache, **kw)
        assert r.images_computed == 5, kw
    # Touching an image file changes the dataset signature.
    p = ds.paths[2]
    st = os.stat(p)
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    paths = []
    for q in ds.paths:
        dst = copy_dir / os.path.basename(q)
        dst.write_bytes(open(q, "rb").read())
        paths.append(str(dst))
    ds2 = data.ImageDataset(paths, ds.labels, root=copy_dir)
    assert _score(ckpt, ds2, cache).images_computed == 5
    assert _score(ckpt, ds2, cache).images_computed == 0
    os.utime(paths[2], ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    ds3 = data.ImageDataset(paths, ds.labels, root=copy_dir)
    assert _score(ckpt, ds3, cache).images_computed == 5


def _filled(tmp_path, entries=(("center", "main"),)):
    """A store of 5 rows with rows 0-3 done (distinct values), row 4 skipped; closed."""
    s = store.open_store(tmp_path, _key(), list(entries))
    s.write([0, 1, 2, 3], {e: np.arange(12, dtype=np.float32).reshape(4, 3) + k for k, e in enumerate(entries)},
            nviews=[1, 2, 3, 4])
    s.write_skipped(4, "/x/bad.jpg", "empty file")
    s.close()
    return s.folder


def test_verified_rows_truncated_file_recomputes_only_lost_rows(tmp_path, caplog):
    folder = _filled(tmp_path)
    raw = (folder / "probs.0.f32").read_bytes()
    (folder / "probs.0.f32").write_bytes(raw[: 2 * 3 * 4 + 5])  # rows 0-1 intact, row 2 cut, 3-4 gone
    t = store.open_store(tmp_path, _key(), [("center", "main")])
    # Rows 2 and 3 lost their bytes; row 4 (skipped, zero row) reads back as zeros and still checks.
    assert t.status.tolist() == [1, 1, 0, 0, 2]
    assert t.probs[("center", "main")][1].tolist() == [3.0, 4.0, 5.0] and t.nviews[:2].tolist() == [1, 2]
    assert any("wrong size" in n for n in t.notices) and any("2 stored rows failed" in n for n in t.notices)
    assert "failed their checksum" in caplog.text


def test_verified_rows_status_without_row_and_corrupted_bytes(tmp_path):
    folder = _filled(tmp_path)
    status = np.memmap(folder / "status.u8", dtype=np.uint8, mode="r+")
    status[4] = 1  # "done" written for a row that never was (it was skipped: zeros, no checksum for done)
    status.flush()
    del status
    with open(folder / "probs.0.f32", "r+b") as f:  # flip one byte inside row 1
        f.seek(3 * 4 + 5)
        b = f.read(1)
        f.seek(3 * 4 + 5)
        f.write(bytes([b[0] ^ 0x40]))
    with open(folder / "nviews.i32", "r+b") as f:  # and a view count of row 2
        f.seek(2 * 4)
        f.write(np.int32(99).tobytes())
    t = store.open_store(tmp_path, _key(), [("center", "main")])
    assert t.status.tolist() == [1, 0, 0, 1, 0]
    assert t.probs[("center", "main")][3].tolist() == [9.0, 10.0, 11.0]
    # verify=False (the non-zero ranks of a distributed run) trusts what rank 0 checked.
    assert store.open_store(tmp_path, _key(), [("center", "main")], verify=False).status.tolist() == [1, 0, 0, 1, 0]


def test_other_store_format_starts_fresh_with_a_message(tmp_path, caplog):
    import json

    folder = _filled(tmp_path)
    meta = json.loads((folder / "key.json").read_text())
    meta["format"] = store.STORE_FORMAT - 1
    (folder / "key.json").write_text(json.dumps(meta))
    t = store.open_store(tmp_path, _key(), [("center", "main")])
    assert t.status.tolist() == [0] * 5 and t.reasons() == {}
    assert any(f"store format {store.STORE_FORMAT - 1}" in n and "fresh" in n for n in t.notices)
    assert json.loads((folder / "key.json").read_text())["format"] == store.STORE_FORMAT
    assert not list(folder.glob(".*.tmp"))  # temporary files never left behind


def test_key_lock_makes_a_second_opener_wait(tmp_path):
    import threading
    import time as _time

    first = store.open_store(tmp_path, _key(), [("center", "main")], lock=True)
    opened = threading.Event()

    def second():
        with store.open_store(tmp_path, _key(), [("center", "main")], lock=True) as s:
            assert s.status[0] == 1  # it sees what the first holder wrote
            opened.set()

    t = threading.Thread(target=second)
    t.start()
    _time.sleep(0.5)
    assert not opened.is_set()  # still waiting for the lock
    first.write([0], {("center", "main"): np.ones((1, 3), np.float32)})
    first.close()
    t.join(10)
    assert opened.is_set()


def test_store_lists_and_removes(tmp_path, capsys):
    from inception_eval.cli import main

    a = store.open_store(tmp_path, _key(), [("center", "main")], about={"checkpoint": "/m/a.pt", "data": "/d"})
    a.write([0, 2], {("center", "main"): np.ones((2, 3), np.float32)})
    a.close()
    b = store.open_store(tmp_path, _key(precision="bf16"), [("center", "main")])
    b.close()
    os.utime(b.folder / "key.json", (1, 1))
    for f in b.folder.iterdir():
        os.utime(f, (1, 1))
    infos = store.list_stores(tmp_path)
    assert [i.key for i in infos] == [a.folder.name, b.folder.name]  # newest first
    ia = infos[0]
    assert (ia.checkpoint, ia.data, ia.rows_done, ia.num_images) == ("/m/a.pt", "/d", 2, 5)
    assert ia.settings["precision"] == "fp32" and ia.settings["protocols"] == ["center"] and ia.size_bytes > 0
    assert main(["cache", "--cache-dir", str(tmp_path), "list"]) == 0
    out = capsys.readouterr().out
    assert a.folder.name in out and "2/5 rows" in out and "/m/a.pt" in out
    # By age: only the old one goes; a held store is kept.
    held = store.open_store(tmp_path, _key(), [("center", "main")], lock=True)
    removed, busy = store.remove_stores(tmp_path, older_than=3600)
    assert [s.key for s in removed] == [b.folder.name] and busy == [] and not b.folder.exists()
    removed, busy = store.remove_stores(tmp_path, keys=[a.folder.name[:6]])
    assert removed == [] and [s.key for s in busy] == [a.folder.name] and a.folder.exists()
    held.close()
    assert main(["cache", "--cache-dir", str(tmp_path), "remove", a.folder.name[:6]]) == 0
    assert not a.folder.exists() and "removed" in capsys.readouterr().out
    assert main(["cache", "--cache-dir", str(tmp_path), "remove", "ffff"]) == 2  # no such key: usage error
    assert main(["cache", "--cache-dir", str(tmp_path), "remove"]) == 2


def test_stored_prob_files_name_the_raw_rows(tmp_path):
    entries = [("center", "main"), ("ten", "aux1")]
    folder = _filled(tmp_path, entries)
    files = store.stored_prob_files(folder)
    assert set(files) == set(entries)
    path, shape = files[("ten", "aux1")]
    assert shape == (5, 3)
    raw = np.fromfile(path, dtype=np.float32).reshape(shape)
    assert raw[2].tolist() == [7.0, 8.0, 9.0]  # row 2 of entry 1: arange(12)[6:9] + 1
    with pytest.raises(OSError):
        store.stored_prob_files(tmp_path / "nothing")


def test_no_file_locking_is_a_clear_error(tmp_path, monkeypatch):
    import errno
    import fcntl

    def refuse(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refuse)
    with pytest.raises(store.StoreError, match="cannot lock the result store.*--no-cache"):
        store.open_store(tmp_path, _key(), [("center", "main")], lock=True)
    assert store.open_store(tmp_path, _key(), [("center", "main")]).status.shape == (5,)  # no lock asked
