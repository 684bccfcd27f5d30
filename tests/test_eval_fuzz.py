"""Fuzzed inputs: a scoring run over 200 broken, odd and hostile files finishes; every file is either
scored or skipped with its reason; the scored ones equal the same files scored in a clean run; no
worker dies; peak memory stays bounded (a 30000x30000 PNG is refused from its header, not decoded).

The corpus is built here, in ``tmp_path``, from the shared ImageNet photos (seeded numpy rng)."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inception_aug import decode as decode_mod
from inception_aug.decode import ImageDecodeError, decode_image
from inception_eval import data, engine
from inception_eval.models.checkpoint import save_checkpoint
from inception_eval.models.googlenet import googlenet

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("c0", "c1", "c2", "c3")
CORPUS_SIZE = 200
#: Peak resident memory of any one process of the fuzzed run (the scoring process and each of its
#: two workers), MB. Measured: 268 MB (scoring process) and at most 197 MB (a worker, counting the
#: pages it shares with its parent); Python + torch alone is about 240 MB. The 30000x30000 canvas
#: decoded would be 2.7 GB of RGB (plus 0.9 GB of palette indices).
PEAK_MB_BOUND = 512


# ---------------------------------------------------------------------------- hand-made files
def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_png(width: int, height: int, bit_depth: int = 1, color_type: int = 3) -> bytes:
    """A valid PNG of ``width`` x ``height`` all-zero pixels, written row by row (never held in
    memory): a 30000x30000 1-bit palette canvas is about 110 kB on disk."""
    bits_per_px = bit_depth * {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row = b"\x00" * (1 + -(-width * bits_per_px // 8))
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    out = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type,
                                                                 0, 0, 0))
    if color_type == 3:
        out += _png_chunk(b"PLTE", bytes([0, 0, 0, 255, 255, 255]))
    return out + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOF) claiming ``width`` x ``height``."""
    i = 2
    while i + 4 <= len(jpeg):
        marker, seglen = jpeg[i + 1], int.from_bytes(jpeg[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            b = bytearray(jpeg)
            b[i + 5:i + 9] = struct.pack(">HH", height, width)
            return bytes(b)
        i += 2 + seglen
    raise AssertionError("no SOF marker")


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _special_files(photo: bytes, rng: np.random.Generator) -> dict[str, bytes]:
    """Name -> bytes of the hand-picked odd inputs."""
    rgb = Image.open(io.BytesIO(photo)).convert("RGB")
    small = rgb.resize((96, 72))
    gray16 = Image.fromarray((rng.integers(0, 65536, (40, 50))).astype(np.uint16))
    thin = Image.fromarray(rng.integers(0, 256, (2, 200000, 3), dtype=np.uint8))
    return {
        "png_named_jpeg.JPEG": _encode(small, "PNG"),
        "jpeg_named_png.png": _encode(small, "JPEG", quality=90),
        "empty.JPEG": b"",
        "empty2.png": b"",
        "gray16.png": _encode(gray16, "PNG"),
        "cmyk.jpg": _encode(small.convert("CMYK"), "JPEG", quality=90),
        "one_pixel.png": _encode(Image.new("RGB", (1, 1), (200, 30, 90)), "PNG"),
        "one_pixel.jpg": _encode(Image.new("RGB", (1, 1), (200, 30, 90)), "JPEG"),
        "canvas_30000.png": huge_png(30000, 30000),
        "canvas_30000_gray.png": huge_png(30000, 30000, 1, 0),
        "canvas_65000.jpg": jpeg_with_size(photo, 65000, 65000),
        "thin_200000x2.png": _encode(thin, "PNG"),
        "text.jpg": b"this is not an image, just some text\n" * 20,
        "rgba.png": _encode(small.convert("RGBA"), "PNG"),
        "palette_gif.gif": _encode(small.convert("P"), "GIF"),
        "gray.jpg": _encode(small.convert("L"), "JPEG"),
        "bmp.bmp": _encode(small, "BMP"),
        "webp.webp": _encode(small, "WEBP"),
        "tiff.tif": _encode(small, "TIFF"),
    }


def _mutate(photo: bytes, rng: np.random.Generator, kind: str) -> bytes:
    """A broken copy of ``photo``: truncated, or bytes flipped in the header or the entropy data."""
    b = bytearray(photo)
    sos = photo.find(b"\xff\xda")
    if kind == "truncate":
        return bytes(b[:int(rng.integers(0, len(b)))])
    lo, hi = (2, sos) if kind == "header" else (sos + 12, len(b) - 2)
    for pos in rng.integers(lo, hi, int(rng.integers(1, 9))):
        b[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


def build_corpus(root: Path, samples: Path, seed: int = 0, size: int = CORPUS_SIZE) -> dict[str, str]:
    """An ImageFolder tree of ``size`` files under ``root`` (classes ``CLASSES``); returns
    {relative path: kind}. Also a ``notes.txt`` and an ``album.jpg/`` folder the loader must not
    take for images."""
    rng = np.random.default_rng(seed)
    photos = sorted(p for p in samples.iterdir() if p.suffix == ".JPEG")
    kinds: dict[str, str] = {}
    for c in CLASSES:
        (root / c).mkdir(parents=True)

    def put(name: str, payload: bytes, kind: str) -> None:
        rel = f"{CLASSES[len(kinds) % len(CLASSES)]}/{len(kinds):03d}_{name}"
        (root / rel).write_bytes(payload)
        kinds[rel] = kind

    for name, payload in _special_files(photos[0].read_bytes(), rng).items():
        put(name, payload, name.rsplit(".", 1)[0])
    for k in range(8):
        put(f"clean_{k}.JPEG", photos[k].read_bytes(), "clean")
    mutations = ("truncate", "header", "entropy")
    while len(kinds) < size:
        photo = photos[int(rng.integers(0, len(photos)))]
        kind = mutations[len(kinds) % 3]
        put(f"{kind}_{photo.name}", _mutate(photo.read_bytes(), rng, kind), kind)
    (root / "c0" / "notes.txt").write_text("not listed: no image extension\n")
    (root / "c1" / "album.jpg").mkdir()  # a folder named like an image: walked into, not loaded
    (root / "c2" / "loop").symlink_to("..")  # a cycle: must not list the tree again (or forever)
    (root / "c3" / "dangling").symlink_to(root / "nowhere")
    return kinds


# ---------------------------------------------------------------------------- expected outcomes
#: Kinds that must be scored, and kinds that must be skipped with a reason starting so.
MUST_SCORE = frozenset({"clean", "png_named_jpeg", "jpeg_named_png", "gray16", "cmyk", "one_pixel", "thin_200000x2",
                        "rgba", "palette_gif", "gray", "bmp", "webp", "tiff"})
MUST_SKIP = {"folder": "Is a directory", "missing": "No such file or directory", "empty": "empty file",
             "empty2": "empty file", "text": "not an image", "canvas_30000": "too large", "canvas_30000_gray": "too large", "canvas_65000": "too large: 65000x65000"}
#: Reasons a broken photo may be skipped with (the decoders' verdicts, mapped by inception_aug.decode).
BROKEN_REASONS = ("corrupt or truncated", "corrupt header", "not an image", "too large", "empty file",
                  "unsupported pixel format")

_RUN = textwrap.dedent("""
    import json, resource, sys
    from inception_eval.cli import main
    rc = main(sys.argv[1:])
    with open("/proc/self/status") as f:  # this process's own high-water mark (not pytest's)
        main_mb = int(next(l for l in f if l.startswith("VmHWM:")).split()[1]) // 1024
    # The largest waited-for child: the DataLoader workers (forked from this process, so their
    # figure includes the pages they share with it: an upper bound).
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(json.dumps({"rc": rc, "main_mb": main_mb, "worker_mb": worker_mb}))
""")


def _checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    save_checkpoint(path, googlenet("torchvision", num_classes=len(CLASSES), width_mult=0.25), input_size=32)
    return path


def _score_in_child(ckpt: Path, tree: Path, out: Path, protocol: str, workers: int) -> dict:
    args = ["score", "--checkpoint", str(ckpt), "--data", str(tree), "--protocol", protocol, "--max-batch", "1",
            "--workers", str(workers), "--no-progress", "--cache-dir", str(out / "cache"),
            "--out", str(out / "r.json"), "--probs", str(out / "r.npz")]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True, env=env, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "killed by signal" not in r.stderr, r.stderr[-3000:]
    measured = json.loads(r.stdout.strip().splitlines()[-1])
    assert measured["rc"] == 0, r.stderr[-3000:]
    return measured


def _check_outcomes(tree: Path, kinds: dict[str, str], summary: dict, valid: np.ndarray) -> list[str]:
    """Every file scored or skipped (never both, never neither), as its kind requires; returns the
    dataset's paths."""
    paths = data.image_folder(tree).paths
    rel = [os.path.relpath(p, tree) for p in paths]
    assert sorted(rel) == sorted(kinds)  # notes.txt and the album.jpg folder are not images
    skipped = {os.path.relpath(s["path"], tree): s["reason"] for s in summary["skipped"]}
    assert summary["images"] == len(kinds) and summary["images_valid"] + summary["images_skipped"] == len(kinds)
    assert set(skipped) == {r for r, ok in zip(rel, valid) if not ok}
    for r in rel:
        kind = kinds[r]
        if kind in MUST_SCORE:
            assert r not in skipped, (r, skipped.get(r))
        elif kind in MUST_SKIP:
            assert skipped.get(r, "").startswith(MUST_SKIP[kind]), (r, skipped.get(r))
        elif r in skipped:
            assert skipped[r].startswith(BROKEN_REASONS), (r, skipped[r])
    return paths


@pytest.mark.slow
def test_fuzzed_corpus_scored_or_skipped_bit_exact_bounded_memory(tmp_path, imagenet_samples):
    tree = tmp_path / "tree"
    kinds = build_corpus(tree, imagenet_samples)
    ckpt = _checkpoint(tmp_path / "m.pt")
    measured = _score_in_child(ckpt, tree, tmp_path, "center", workers=2)
    summary = json.loads((tmp_path / "r.json").read_text())
    got = np.load(tmp_path / "r.npz")
    paths = _check_outcomes(tree, kinds, summary, got["valid"])
    n_ok = int(got["valid"].sum())
    assert n_ok >= 60 and summary["images_skipped"] >= 60  # the corpus exercises both outcomes
    assert summary["images_computed"] == n_ok and summary["forward_views"] == n_ok

    # The scored files, in a clean run of only them (in this process, no workers, no cache):
    # bit-identical probabilities (one view per forward in both runs).
    ok = [p for p, v in zip(paths, got["valid"]) if v]
    labels = got["labels"][got["valid"]]
    clean = engine.score(ckpt, data.ImageDataset(ok, labels, class_names=list(CLASSES)), "center", max_batch=1,
                         workers=0, progress=False)
    assert clean.valid.all()
    assert np.array_equal(got["center|main"][got["valid"]], clean.probs[("center", "main")])
    # A few truly alone (a dataset of one file each).
    for i in np.random.default_rng(1).choice(len(ok), 4, replace=False):
        alone = engine.score(ckpt, data.ImageDataset([ok[i]], labels[i:i + 1], class_names=list(CLASSES)),
                             "center", max_batch=1, workers=0, progress=False)
        assert np.array_equal(alone.probs[("center", "main")][0], clean.probs[("center", "main")][i])

    print(f"peak RSS: scoring process {measured['main_mb']} MB, largest worker {measured['worker_mb']} MB")
    assert measured["main_mb"] < PEAK_MB_BOUND and measured["worker_mb"] < PEAK_MB_BOUND, measured


@pytest.mark.slow
def test_fuzzed_subset_paper144(tmp_path, imagenet_samples):
    # The odd files and a few broken photos under paper144 (144 views, box-by-box resizes for the
    # 200000x2 photo), listed in a CSV, two workers: the same outcomes, bit-exact against a clean run.
    tree = tmp_path / "tree"
    kinds = build_corpus(tree, imagenet_samples)
    chosen = [r for r, k in sorted(kinds.items()) if k not in ("truncate", "header", "entropy", "clean")]
    chosen += [r for r, k in sorted(kinds.items()) if k in ("truncate", "header", "entropy")][:6]
    # Rows naming a folder and a missing file: skipped, with the system's reason.
    kinds.update({"c1/album.jpg": "folder", "c0/missing.JPEG": "missing"})
    chosen += ["c1/album.jpg", "c0/missing.JPEG"]
    (tree / "list.csv").write_text("".join(f"{r},{CLASSES.index(r.split('/')[0])}\n" for r in chosen))
    ckpt = _checkpoint(tmp_path / "m.pt")
    measured = _score_in_child(ckpt, tree / "list.csv", tmp_path, "paper144", workers=2)
    summary = json.loads((tmp_path / "r.json").read_text())
    got = np.load(tmp_path / "r.npz")
    skipped = {os.path.relpath(s["path"], tree): s["reason"] for s in summary["skipped"]}
    assert {r for r, v in zip(chosen, got["valid"]) if not v} == set(skipped)
    for r in chosen:
        if kinds[r] in MUST_SCORE:
            assert r not in skipped, (r, skipped[r])
        elif kinds[r] in MUST_SKIP:
            assert skipped[r].startswith(MUST_SKIP[kinds[r]]), (r, skipped[r])
    ok = [str(tree / r) for r, v in zip(chosen, got["valid"]) if v]
    clean = engine.score(ckpt, data.ImageDataset(ok, got["labels"][got["valid"]]), "paper144", max_batch=1,
                         workers=0, progress=False)
    assert np.array_equal(got["paper144|main"][got["valid"]], clean.probs[("paper144", "main")])
    print(f"paper144 peak RSS: scoring process {measured['main_mb']} MB, largest worker {measured['worker_mb']} MB")
    assert measured["main_mb"] < PEAK_MB_BOUND and measured["worker_mb"] < PEAK_MB_BOUND, measured


# ---------------------------------------------------------------------------- regressions
def test_pil_limit_disabled_still_refuses_huge_canvas_from_header(tmp_path, monkeypatch):
    # Image.MAX_IMAGE_PIXELS = None (set by many programs) used to let a 110 kB PNG decode to a
    # 30000x30000 canvas (2.7 GB of RGB, 29 s); the header is now checked against our own limit.
    path = tmp_path / "canvas.png"
    path.write_bytes(huge_png(30000, 30000))
    assert path.stat().st_size < 200_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageDecodeError, match=r"too large: 30000x30000 = 900,000,000 pixels") as e:
        decode_image(path)
    assert e.value.source == str(path)


def test_pixel_limit_checked_before_pil_decodes(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    Image.new("RGB", (40, 30)).save(path)
    monkeypatch.setattr(decode_mod, "MAX_DECODED_PIXELS", 1000)
    loaded = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: loaded.append(1) or real_load(self))
    with pytest.raises(ImageDecodeError, match=r"too large: 40x30 = 1,200 pixels, above the limit of 1,000"):
        decode_image(path)
    assert loaded == []  # refused from the header: no pixel decoded


def test_header_of_a_decompression_bomb_is_a_decode_error(tmp_path):
    # read_header (the training path's header read) let PIL's DecompressionBombError escape: in a
    # loader worker that is a crash, not an unreadable image.
    path = tmp_path / "canvas.png"
    path.write_bytes(huge_png(30000, 30000, 1, 0))
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_mod.read_header(path)


def test_corpus_special_files_decode_as_expected(tmp_path, imagenet_samples):
    # Each odd input on its own: decoded to (H, W, 3) uint8 or refused with an ImageDecodeError.
    photo = sorted(imagenet_samples.glob("*.JPEG"))[0].read_bytes()
    for name, payload in _special_files(photo, np.random.default_rng(0)).items():
        kind = name.rsplit(".", 1)[0]
        if kind in MUST_SKIP:
            with pytest.raises(ImageDecodeError, match=MUST_SKIP[kind]):
                decode_image(payload)
        else:
            img = decode_image(payload)
            assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
    assert decode_image(_special_files(photo, np.random.default_rng(0))["thin_200000x2.png"]).shape == (2, 200000, 3)


def test_image_folder_symlink_cycle_lists_each_image_once(tmp_path, imagenet_samples):
    # os.walk(followlinks=True) does not track visited folders: a link to the root listed the tree
    # 40 times over (until ELOOP), with the other classes' images under this class's label.
    root = tmp_path / "root"
    photos = sorted(imagenet_samples.glob("*.JPEG"))[:2]
    for c, photo in zip(("a", "b"), photos):
        (root / c / "sub").mkdir(parents=True)
        (root / c / "sub" / photo.name).write_bytes(photo.read_bytes())
    (root / "a" / "up").symlink_to("..")            # to the root
    (root / "a" / "sub" / "back").symlink_to("..")  # to its own class folder
    (root / "b" / "sub" / "other").symlink_to(root / "a" / "sub")  # into another class
    (root / "b" / "dangling").symlink_to(root / "nowhere")
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "x.png").write_bytes(b"")
    (root / "a" / "linked").symlink_to(tmp_path / "ext")  # an ordinary linked folder: followed
    (root / "b" / "linked_too").symlink_to(tmp_path / "ext")  # the same folder again: listed once
    ds = data.image_folder(root)
    rel = [os.path.relpath(p, root) for p in ds.paths]
    assert ds.class_names == ["a", "b"]
    assert rel == ["a/linked/x.png", f"a/sub/{photos[0].name}", f"b/sub/{photos[1].name}"]
    assert ds.labels.tolist() == [0, 0, 1]
