"""Decoding: fast JPEG path vs PIL, EXIF orientation, colour modes, reduced-size decode, bad input."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from jpeg_helpers import jpeg_bytes

from inception_aug.decode import (
    ImageDecodeError,
    apply_orientation,
    decode_image,
    image_size,
    read_header,
)


def _photo(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    # Smooth content so JPEG round trips are well behaved.
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8))


def _pil_reference(data: bytes) -> np.ndarray:
    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pil_for_bytes_and_files(tmp_path, orientation):
    data = jpeg_bytes(_photo(40, 24), orientation)
    ref = _pil_reference(data)
    out = decode_image(data)
    assert out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, ref)
    p = tmp_path / f"o{orientation}.jpg"
    p.write_bytes(data)
    np.testing.assert_array_equal(decode_image(p), ref)
    assert image_size(p) == (ref.shape[1], ref.shape[0])
    assert image_size(data) == (ref.shape[1], ref.shape[0])
    # orient=False keeps the stored layout and apply_orientation completes it.
    raw = decode_image(data, orient=False)
    assert raw.shape == (24, 40, 3)
    np.testing.assert_array_equal(apply_orientation(raw, orientation), ref)


def test_fast_path_equals_pil_on_real_photos(imagenet_samples):
    files = sorted(imagenet_samples.glob("*.JPEG"))
    assert len(files) >= 100
    for p in files[::7]:
        np.testing.assert_array_equal(decode_image(p), _pil_reference(p.read_bytes()), err_msg=str(p))


def test_can_opener_exif_6_is_rotated(imagenet_samples):
    p = imagenet_samples / "n02951585_can_opener.JPEG"
    assert read_header(p).orientation == 6
    assert image_size(p) == (294, 392)
    assert decode_image(p).shape == (392, 294, 3)


@pytest.mark.parametrize("reduce", [2, 4, 8])
def test_reduce_gives_ceil_size_and_equals_pil_draft(reduce):
    im = _photo(203, 157)
    data = jpeg_bytes(im)
    out = decode_image(data, reduce=reduce)
    assert out.shape == (-(-157 // reduce), -(-203 // reduce), 3)
    ref = Image.open(io.BytesIO(data))
    ref.draft("RGB", (203 // reduce, 157 // reduce))
    np.testing.assert_array_equal(out, np.asarray(ref.convert("RGB")))


def test_fast_dct_option_is_close_and_keeps_shape_and_orientation(imagenet_samples):
    # libjpeg-turbo's fast IDCT + plain upsampling: same geometry, pixels a few levels off on average
    for p in sorted(imagenet_samples.glob("*.JPEG"))[::23]:
        for reduce in (1, 2):
            ref = decode_image(p, reduce=reduce).astype(int)
            fast = decode_image(p, reduce=reduce, fast_dct=True).astype(int)
            assert fast.shape == ref.shape
            assert np.abs(fast - ref).mean() < 3.0, p
    p = imagenet_samples / "n02951585_can_opener.JPEG"  # EXIF 6
    assert decode_image(p, fast_dct=True).shape == (392, 294, 3)


def test_reduce_with_orientation_rotates_the_reduced_image():
    data = jpeg_bytes(_photo(80, 40), orientation=6)
    assert decode_image(data, reduce=2).shape == (40, 20, 3)


def test_reduce_is_ignored_for_png():
    buf = io.BytesIO()
    _photo(30, 20).save(buf, "PNG")
    assert decode_image(buf.getvalue(), reduce=4).shape == (20, 30, 3)


def test_bad_reduce_value():
    with pytest.raises(ValueError, match="reduce"):
        decode_image(jpeg_bytes(_photo()), reduce=3)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_colour_modes_become_rgb():
    rgb = _photo(16, 12)
    # gray JPEG (fast path) -> R = G = B
    g = decode_image(jpeg_bytes(rgb.convert("L")))
    assert g.shape == (12, 16, 3) and (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
    # palette PNG
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    np.testing.assert_array_equal(decode_image(_encode(pal, "PNG")), np.asarray(pal.convert("RGB")))
    # RGBA: fully transparent pixels become white, opaque ones keep their colour
    a = np.asarray(rgb.convert("RGBA")).copy()
    a[:6, :, 3] = 0
    out = decode_image(_encode(Image.fromarray(a, "RGBA"), "PNG"))
    assert (out[:6] == 255).all()
    np.testing.assert_array_equal(out[6:], np.asarray(rgb)[6:])
    # CMYK JPEG (PIL fallback): close to the RGB source
    cmyk = decode_image(_encode(rgb.convert("CMYK"), "JPEG", quality=95))
    assert cmyk.shape == (12, 16, 3)
    assert np.abs(cmyk.astype(int) - np.asarray(rgb.convert("CMYK").convert("RGB"))).mean() < 6
    # 16-bit gray PNG: 65535 -> 255, 257 * k -> k
    v = (np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) % 256) * 257
    out16 = decode_image(_encode(Image.fromarray(v), "PNG"))
    np.testing.assert_array_equal(out16[..., 0], (v // 257).astype(np.uint8))


def test_bad_input_names_file_and_reason(tmp_path):
    good = jpeg_bytes(_photo(64, 64))
    cases = {
        "empty.jpg": (b"", "empty"),
        "text.jpg": (b"hello, this is not an image at all", "not an image"),
        "trunc.jpg": (good[: len(good) // 2], "truncated"),
        "corrupt.jpg": (good[:300] + bytes(range(256)) * 8, "corrupt"),
    }
    for fname, (payload, reason) in cases.items():
        p = tmp_path / fname
        p.write_bytes(payload)
        with pytest.raises(ImageDecodeError) as ei:
            decode_image(p)
        assert ei.value.source == str(p)
        assert reason in ei.value.reason, (fname, ei.value.reason)
        assert str(ei.value).startswith(f"cannot decode image {p}: ")
        with pytest.raises(ImageDecodeError) as eb:
            decode_image(payload)
        assert eb.value.source == "<bytes>"
    with pytest.raises(ImageDecodeError, match="No such file"):
        decode_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageDecodeError, match="empty"):
        image_size(b"")
    with pytest.raises(ImageDecodeError, match="not an image"):
        image_size(b"plain text")


def test_progressive_jpeg_and_png_with_exif_orientation():
    im = _photo(50, 30)
    prog = _encode(im, "JPEG", quality=90, progressive=True)
    np.testing.assert_array_equal(decode_image(prog), _pil_reference(prog))
    exif = Image.Exif()
    exif[0x0112] = 8
    png = _encode(im, "PNG", exif=exif.tobytes())
    assert image_size(png) == (30, 50)
    np.testing.assert_array_equal(decode_image(png), np.asarray(im.transpose(Image.Transpose.ROTATE_90)))
    np.testing.assert_array_equal(decode_image(png, orient=False), np.asarray(im))


def test_decode_error_is_an_input_error():
    from inception_aug.errors import InputError

    err = ImageDecodeError("x.jpg", "truncated")
    assert isinstance(err, InputError) and isinstance(err, ValueError)
    assert str(err) == "cannot decode image x.jpg: truncated"


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    """A JPEG above the limit is refused from its header (the fast path never decodes it); PNGs
    go through PIL's own bomb check, which our limit (2x PIL's default) matches."""
    import io

    import numpy as np
    from PIL import Image

    from inception_aug import decode as decode_mod

    buf = io.BytesIO()
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(buf, "JPEG")
    path = tmp_path / "wide.jpg"
    path.write_bytes(buf.getvalue())
    assert decode_mod.decode_image(path).shape == (30, 40, 3)
    monkeypatch.setattr(decode_mod, "MAX_DECODED_PIXELS", 1000)
    monkeypatch.setattr(decode_mod, "_decode_fast", lambda *a, **k: pytest.fail("decoded despite the limit"))
    with pytest.raises(decode_mod.ImageDecodeError, match=r"wide\.jpg: too large: 40x30 = 1,200 pixels"):
        decode_mod.decode_image(path)
