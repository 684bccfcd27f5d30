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
