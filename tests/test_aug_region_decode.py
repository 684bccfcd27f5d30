"""Region decoding (``decode.decode_region``, the C extension ``inception_aug._jpeg_region``): the
pixels of a crop equal the same crop of a whole-file decode, for every subsampling, progressive,
gray and EXIF-oriented JPEGs; anything doubtful falls back to the whole-file decode and its verdict."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from jpeg_helpers import jpeg_bytes

from inception_aug import decode as decode_mod
from inception_aug.decode import (
    ImageDecodeError,
    apply_orientation,
    decode_image,
    decode_region,
    read_header,
    region_decode_status,
    stored_box,
)
from inception_aug.transforms import InceptionTrainTransform

simplejpeg = pytest.importorskip("simplejpeg")


def _texture(w: int, h: int, seed: int = 0) -> np.ndarray:
    """Gradients plus sharp coloured noise: chroma edges everywhere, so a wrong upsampling
    neighbour at a crop edge changes pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, ((x // 3 + y // 5) % 2) * 200.0], -1)
    return np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)


def _jpegs() -> dict[str, bytes]:
    a = _texture(203, 157)  # odd sizes: partial MCUs on the right and bottom edges
    out = {f"simplejpeg {s}": simplejpeg.encode_jpeg(a, quality=92, colorsubsampling=s)
           for s in ("444", "422", "420", "411", "440")}
    out["progressive 4:2:0"] = jpeg_bytes(a, quality=92, progressive=True)
    out["gray"] = jpeg_bytes(a[:, :, 1], quality=92)
    restarts = jpeg_bytes(a, quality=92, restart_marker_rows=1)
    if b"\xff\xdd" in restarts:  # Pillow ignores options it does not know
        out["restart markers"] = restarts
    return out


def _boxes(w: int, h: int, rng: np.random.Generator, n: int = 40) -> list[tuple[int, int, int, int]]:
    """Random boxes plus the edge cases: whole image, one pixel at each corner, full rows/columns."""
    fixed = [(0, 0, w, h), (0, 0, 1, 1), (w - 1, h - 1, 1, 1), (0, h - 1, w, 1), (w - 1, 0, 1, h),
             (15, 15, 2, 2), (16, 16, 17, 17), (1, 0, w - 2, h)]
    fixed = [(x, y, bw, bh) for x, y, bw, bh in fixed if x + bw <= w and y + bh <= h]
    rand = []
    for _ in range(n):
        bw, bh = int(rng.integers(1, w + 1)), int(rng.integers(1, h + 1))
        rand.append((int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1)), bw, bh))
    return fixed + rand


def _need_extension() -> None:
    status = region_decode_status()
    if status != "active":
        pytest.skip(f"region decoding is off: {status}")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_stored_box_maps_an_oriented_box_onto_the_stored_pixels(orientation):
    """Pure geometry: the stored rectangle, oriented, is the oriented image's rectangle."""
    rng = np.random.default_rng(orientation)
    stored = rng.integers(0, 255, (37, 45, 3), dtype=np.uint8)
    oriented = apply_orientation(stored, orientation)
    H, W = oriented.shape[:2]
    for x, y, w, h in _boxes(W, H, rng, 25):
        sx, sy, sw, sh = stored_box((x, y, w, h), (W, H), orientation)
        assert 0 <= sx and sx + sw <= 45 and 0 <= sy and sy + sh <= 37
        got = apply_orientation(stored[sy : sy + sh, sx : sx + sw], orientation)
        np.testing.assert_array_equal(got, oriented[y : y + h, x : x + w])


def test_region_equals_the_same_crop_of_a_whole_file_decode():
    _need_extension()
    rng = np.random.default_rng(0)
    for name, data in _jpegs().items():
        full = decode_image(data)
        hdr = read_header(data)
        H, W = full.shape[:2]
        for box in _boxes(W, H, rng):
            x, y, w, h = box
            got = decode_region(data, hdr, box)
            assert got is not None, (name, box)
            assert got.shape == (h, w, 3) and got.flags["C_CONTIGUOUS"]
            np.testing.assert_array_equal(got, full[y : y + h, x : x + w], err_msg=f"{name} {box}")


@pytest.mark.parametrize("orientation", range(2, 9))
def test_region_of_an_exif_oriented_jpeg_is_the_oriented_crop(orientation):
    _need_extension()
    data = jpeg_bytes(_texture(120, 70, seed=orientation), orientation, quality=92)
    full = decode_image(data)  # oriented
    hdr = read_header(data)
    H, W = full.shape[:2]
    for x, y, w, h in _boxes(W, H, np.random.default_rng(orientation), 15):
        np.testing.assert_array_equal(decode_region(data, hdr, (x, y, w, h)), full[y : y + h, x : x + w])


def test_region_equals_whole_file_crop_on_real_photos(imagenet_samples):
    _need_extension()
    rng = np.random.default_rng(1)
    files = sorted(imagenet_samples.glob("*.JPEG"))
    assert files
    for f in files:
        data = f.read_bytes()
        hdr = read_header(f, data)
        full = decode_image(f, data=data, header=hdr)
        H, W = full.shape[:2]
        for x, y, w, h in _boxes(W, H, rng, 3)[:1] + _boxes(W, H, rng, 3)[-3:]:
            got = decode_region(data, hdr, (x, y, w, h), str(f))
            np.testing.assert_array_equal(got, full[y : y + h, x : x + w], err_msg=f"{f.name} {(x, y, w, h)}")


def test_doubtful_files_fall_back_to_the_whole_file_decode_and_its_verdict():
    _need_extension()
    good = simplejpeg.encode_jpeg(_texture(96, 96), quality=90, colorsubsampling="420")
    hdr = read_header(good)
    truncated = good[: len(good) // 2]
    assert decode_region(truncated, hdr, (0, 0, 8, 8)) is None  # no end-of-image marker: never trusted
    # A stray marker inside the entropy data, the end marker intact: libjpeg warns -> None, and
    # the whole-file path gives its own verdict (here PIL decodes it, as before).
    sos = good.find(b"\xff\xda")
    damaged = good[: sos + 300] + b"\xff\xd5" + good[sos + 300 :]
    assert decode_region(damaged, hdr, (0, 0, 96, 96)) is None
    on = InceptionTrainTransform.from_preset("paper", output="numpy")
    off = InceptionTrainTransform.from_preset("paper", output="numpy", region_decode=False)
    np.testing.assert_array_equal(on(damaged, np.random.default_rng(5)), off(damaged, np.random.default_rng(5)))
    png = io.BytesIO()
    Image.fromarray(_texture(20, 20)).save(png, "PNG")
    assert decode_region(png.getvalue(), read_header(png.getvalue()), (0, 0, 4, 4)) is None  # not a JPEG
    # Through the transform: the truncated file gets the whole-file error, region path on or off.
    for tr in (on, off):
        with pytest.raises(ImageDecodeError, match="truncated"):
            tr(truncated, np.random.default_rng(0))


def test_extension_checks_its_arguments():
    _need_extension()
    from inception_aug import _jpeg_region

    data = simplejpeg.encode_jpeg(_texture(32, 24), quality=90, colorsubsampling="420")
    with pytest.raises(ValueError, match="smaller than"):
        _jpeg_region.decode_region(data, np.empty((4, 4, 3), np.uint8), 0, 0, 5, 5, 1, False)
    with pytest.raises(ValueError, match="outside"):
        _jpeg_region.decode_region(data, np.empty((8, 8, 3), np.uint8), 30, 0, 8, 8, 1, False)
    with pytest.raises(ValueError, match="outside"):  # the 1/2 grid is 16 x 12
        _jpeg_region.decode_region(data, np.empty((8, 8, 3), np.uint8), 10, 0, 8, 8, 2, False)
    with pytest.raises(ValueError, match="reduce must be"):
        _jpeg_region.decode_region(data, np.empty((8, 8, 3), np.uint8), 0, 0, 8, 8, 3, False)
    with pytest.raises(ValueError, match="outside"):
        _jpeg_region.decode_region(data, np.empty((1, 1, 3), np.uint8), 0, 0, 0, 1, 1, False)
    with pytest.raises(ValueError, match="JPEG"):
        _jpeg_region.decode_region(b"not a jpeg at all" * 4, np.empty((1, 1, 3), np.uint8), 0, 0, 1, 1, 1, False)
    with pytest.raises(TypeError, match="read-write"):  # a read-only output buffer
        _jpeg_region.decode_region(data, bytes(300), 0, 0, 1, 1, 1, False)


def test_transform_pixels_are_the_same_with_and_without_region_decoding():
    _need_extension()
    on = InceptionTrainTransform.from_preset("paper", output="numpy")
    off = InceptionTrainTransform.from_preset("paper", output="numpy", region_decode=False)
    for name, data in _jpegs().items():
        for seed in range(12):
            np.testing.assert_array_equal(on(data, np.random.default_rng(seed)), off(data, np.random.default_rng(seed)),
                                          err_msg=f"{name} seed {seed}")


def test_without_the_extension_the_transform_decodes_whole_files(monkeypatch):
    data = simplejpeg.encode_jpeg(_texture(64, 48), quality=90, colorsubsampling="420")
    t = InceptionTrainTransform.from_preset("paper", output="numpy")
    expected = [t(data, np.random.default_rng(seed)) for seed in range(6)]  # region path if built
    monkeypatch.setattr(decode_mod, "_jr", None)
    monkeypatch.setattr(decode_mod, "_JR_MISSING", "libjpeg.so.62: cannot open shared object file")
    monkeypatch.setattr(decode_mod, "_region_problem", [])
    status = region_decode_status()
    assert "not available (libjpeg.so.62: cannot open shared object file;" in status and "headers" in status
    assert decode_region(data, read_header(data), (0, 0, 8, 8)) is None
    for seed in range(6):
        np.testing.assert_array_equal(t(data, np.random.default_rng(seed)), expected[seed])


def test_self_check_failure_turns_the_region_path_off(monkeypatch):
    """A libjpeg whose pixels differ from simplejpeg's is detected once and never used."""
    _need_extension()

    class Wrong:
        @staticmethod
        def decode_region(data, out, x, y, w, h, reduce, fast):
            np.asarray(out)[...] = 7

    monkeypatch.setattr(decode_mod, "_jr", Wrong)
    monkeypatch.setattr(decode_mod, "_region_problem", [])
    assert "differ" in region_decode_status()
    data = simplejpeg.encode_jpeg(_texture(64, 48), quality=90, colorsubsampling="420")
    assert decode_region(data, read_header(data), (0, 0, 8, 8)) is None


@pytest.mark.parametrize("reduce", [2, 4, 8])
def test_region_at_reduced_scale_equals_the_same_crop_of_the_reduced_decode(reduce):
    _need_extension()
    rng = np.random.default_rng(reduce)
    a = _texture(531, 397, seed=reduce)
    for name, data in {"420": simplejpeg.encode_jpeg(a, quality=92, colorsubsampling="420"),
                       "422": simplejpeg.encode_jpeg(a, quality=92, colorsubsampling="422"),
                       "progressive, EXIF 6": jpeg_bytes(a, 6, quality=92, progressive=True)}.items():
        full = decode_image(data, reduce=reduce)
        hdr = read_header(data)
        H, W = full.shape[:2]
        for x, y, w, h in _boxes(W, H, rng, 20):
            got = decode_region(data, hdr, (x, y, w, h), reduce=reduce)
            np.testing.assert_array_equal(got, full[y : y + h, x : x + w], err_msg=f"{name} 1/{reduce} {(x, y, w, h)}")


@pytest.mark.parametrize("orientation", [1, 3, 6, 7])
def test_reduced_crops_from_regions_equal_crops_from_whole_reduced_decodes(orientation):
    """Large photos, where crops are decoded at 1/2..1/8: every interpolation, the region path
    against the whole-file path, pixel for pixel (the sub-pixel resampling runs in whole-grid
    coordinates, so the region's origin cancels exactly)."""
    _need_extension()
    data = jpeg_bytes(_texture(1900, 1300, seed=orientation), None if orientation == 1 else orientation,
                      quality=92)
    for interp in ("bilinear", "area", "nearest", "bicubic"):
        kw = dict(output="numpy", interpolations=(interp,), photometric="none", flip=0.0)
        on = InceptionTrainTransform.from_preset("paper", **kw)
        off = InceptionTrainTransform.from_preset("paper", region_decode=False, **kw)
        reduced = 0
        for seed in range(10):
            p = on.sample(*read_header(data).size, np.random.default_rng(seed))
            reduced += p.crop.w >= 448 and p.crop.h >= 448
            np.testing.assert_array_equal(on.apply(data, p), off.apply(data, p), err_msg=f"{interp} seed {seed}")
        assert reduced >= 3  # the test exercises the reduced path


def test_region_path_checks_the_pixel_limit_first(monkeypatch):
    _need_extension()
    data = simplejpeg.encode_jpeg(_texture(64, 48), quality=90, colorsubsampling="420")
    monkeypatch.setattr(decode_mod, "MAX_DECODED_PIXELS", 1000)
    with pytest.raises(ImageDecodeError, match="too large: 64x48"):
        decode_region(data, read_header(data), (0, 0, 8, 8), "big.jpg")


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random damage: flipped bytes, a cut (end marker re-appended), inserted junk, a stray marker."""
    d = bytearray(data)
    kind = int(rng.integers(4))
    if kind == 0:
        for _ in range(int(rng.integers(1, 8))):
            d[int(rng.integers(2, len(d)))] = int(rng.integers(256))
    elif kind == 1:
        d = d[: int(rng.integers(2, len(d)))] + b"\xff\xd9"
    elif kind == 2:
        pos = int(rng.integers(2, len(d)))
        d[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    else:
        pos = int(rng.integers(2, len(d) - 20))
        d[pos : pos + 2] = bytes([0xFF, int(rng.integers(0xC0, 0xFF))])
    return bytes(d)


def test_damaged_jpegs_never_crash_and_agree_with_a_clean_whole_decode():
    """C code on hostile bytes: 1,500 damaged files, random boxes. Every call returns (None, an
    array of the box's shape, or the decoder's own error); where simplejpeg decodes the same bytes
    without a warning, the region's pixels are that decode's."""
    _need_extension()
    rng = np.random.default_rng(7)
    bases = list(_jpegs().values())
    outcomes = {"pixels": 0, "none": 0, "error": 0, "compared": 0}
    for i in range(1500):
        data = _mutate(bases[i % len(bases)], rng)
        try:
            hdr = read_header(data)
        except ImageDecodeError:
            outcomes["error"] += 1
            continue
        W, H = hdr.size
        bw, bh = int(rng.integers(1, W + 1)), int(rng.integers(1, H + 1))
        x, y = int(rng.integers(0, W - bw + 1)), int(rng.integers(0, H - bh + 1))
        got = decode_region(data, hdr, (x, y, bw, bh))
        if got is None:
            outcomes["none"] += 1
            continue
        outcomes["pixels"] += 1
        assert got.shape == (bh, bw, 3)
        try:
            whole = simplejpeg.decode_jpeg(data, colorspace="RGB")
        except ValueError:
            continue  # damaged outside the region: documented, no reference to compare with
        if hdr.orientation == 1 and whole.shape[:2] == (H, W):
            np.testing.assert_array_equal(got, whole[y : y + bh, x : x + bw])
            outcomes["compared"] += 1
    assert outcomes["error"] > 0 and outcomes["compared"] > 20 and min(outcomes["pixels"], outcomes["none"]) > 100, outcomes


def test_threads_decode_regions_concurrently():
    """The extension releases the GIL; concurrent calls must not share state."""
    from concurrent.futures import ThreadPoolExecutor

    _need_extension()
    rng = np.random.default_rng(11)
    jobs = []
    for data in _jpegs().values():
        hdr = read_header(data)
        jobs += [(data, hdr, box) for box in _boxes(*hdr.size, rng, 10)]
    serial = [decode_region(d, h, b) for d, h, b in jobs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda j: decode_region(*j), jobs * 3))
    for k, got in enumerate(threaded):
        np.testing.assert_array_equal(got, serial[k % len(jobs)])


def test_fast_dct_regions_equal_the_fast_whole_decode():
    """``fast_dct=True`` (fast IDCT, plain upsampling) keeps the region path, with that mode's pixels."""
    _need_extension()
    rng = np.random.default_rng(13)
    for name, data in _jpegs().items():
        hdr = read_header(data)
        for reduce in (1, 2):
            full = decode_image(data, reduce=reduce, fast_dct=True)
            H, W = full.shape[:2]
            for x, y, w, h in _boxes(W, H, rng, 10):
                got = decode_region(data, hdr, (x, y, w, h), reduce=reduce, fast_dct=True)
                np.testing.assert_array_equal(got, full[y : y + h, x : x + w], err_msg=f"{name} 1/{reduce}")
    on = InceptionTrainTransform.from_preset("paper", output="numpy", fast_dct=True)
    off = InceptionTrainTransform.from_preset("paper", output="numpy", fast_dct=True, region_decode=False)
    data = jpeg_bytes(_texture(900, 700), 6, quality=92)
    for seed in range(8):
        np.testing.assert_array_equal(on(data, np.random.default_rng(seed)), off(data, np.random.default_rng(seed)))
