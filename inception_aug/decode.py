"""Bytes or path -> RGB uint8 HWC array. The one decoder both packages use.

Fast path: baseline/progressive JPEGs with 1 or 3 components are decoded by simplejpeg
(libjpeg-turbo), optionally with DCT scaling (``reduce`` = 2, 4, 8 -> output ceil(W / reduce) x
ceil(H / reduce), the same pixels PIL's ``draft`` gives). Everything else (PNG, GIF, BMP, WebP,
TIFF, CMYK/YCCK JPEGs, 12-bit JPEGs, anything simplejpeg refuses) goes through PIL.

Region path (:func:`decode_region`, used by the training crop): only the rows and columns of one
rectangle are transformed, by the optional C extension ``inception_aug._jpeg_region`` over the
system libjpeg-turbo; the pixels equal the same rectangle of the fast path's full decode (checked
once per process against simplejpeg, and by the tests). :func:`region_decode_status` says whether
it is active.

EXIF orientation is read by a small parser of the JPEG APP1 segment (no PIL object on the fast
path) and applied with numpy index operations, matching ``PIL.ImageOps.exif_transpose``.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inception_aug.errors import InputError

try:  # simplejpeg is a declared dependency; PIL alone still gives correct (slower) results.
    import simplejpeg as _sj
except ImportError:  # pragma: no cover - exercised only on installs without the wheel
    _sj = None

try:  # optional C extension: built at install time where the libjpeg-turbo headers exist
    from inception_aug import _jpeg_region as _jr
    _JR_MISSING = ""
except ImportError as e:  # not built, or built but unloadable (say, libjpeg removed since)
    _jr, _JR_MISSING = None, str(e)

__all__ = [
    "decode_region", "region_decode_status", "stored_box", "FLIPPED_X", "FLIPPED_Y", "TRANSPOSED",
    "REDUCE_FACTORS", "ImageDecodeError", "ImageHeader", "Source", "source_name", "read_bytes", "read_header",
    "image_size", "apply_orientation", "pil_to_rgb_array", "decode_image", "MAX_DECODED_PIXELS", "check_image_size",
]

#: Largest decoded photo accepted, in pixels (width x height): twice PIL's default
#: ``Image.MAX_IMAGE_PIXELS`` (89,478,485), the point where PIL itself refuses; about 537 MB of RGB.
#: Checked from the header before any pixel is decoded, and again by the view cutter for arrays.
MAX_DECODED_PIXELS = 178_956_970


def check_image_size(width: int, height: int, source: str = "<array>") -> None:
    """Refuse a photo of ``width`` x ``height`` px above :data:`MAX_DECODED_PIXELS` with an
    :class:`ImageDecodeError` naming ``source`` (a path) and the reason."""
    limit = MAX_DECODED_PIXELS
    if width * height > limit:
        raise ImageDecodeError(source, f"too large: {width}x{height} = {width * height:,} pixels, "
                                       f"above the limit of {limit:,}")

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

REDUCE_FACTORS: tuple[int, ...] = (1, 2, 4, 8)


class ImageDecodeError(InputError):
    """An image could not be decoded (exit code 1 on the command lines; an ``InputError``, so also a
    ``ValueError``). ``source`` names the file (or ``<bytes>``), ``reason`` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"cannot decode image {source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class ImageHeader:
    """What the header says. ``width``/``height`` are the STORED size in pixels (before EXIF
    orientation); ``orientation`` is the EXIF tag (1..8, 1 = none); ``fast`` says whether the
    simplejpeg path can decode it (JPEG with 1 or 3 components, 8-bit, no Adobe CMYK/YCCK)."""

    width: int
    height: int
    orientation: int = 1
    fast: bool = False
    jpeg: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) after EXIF orientation, in pixels."""
        return (self.height, self.width) if self.orientation in TRANSPOSED else (self.width, self.height)


def source_name(src: object) -> str:
    """How errors name a source: the path, or ``<bytes>``."""
    return os.fspath(src) if isinstance(src, (str, os.PathLike)) else "<bytes>"


def read_bytes(src: Source) -> bytes:
    """The encoded bytes of ``src`` (path or bytes-like); ImageDecodeError if unreadable."""
    if isinstance(src, bytes):
        return src
    if isinstance(src, (bytearray, memoryview)):
        return bytes(src)
    if not isinstance(src, (str, os.PathLike)):
        raise TypeError(f"expected a path or encoded bytes, got {type(src).__name__}")
    try:
        with open(src, "rb") as f:
            return f.read()
    except OSError as e:
        raise ImageDecodeError(source_name(src), e.strerror or str(e)) from None


# ---------------------------------------------------------------------------------------------
# JPEG header parsing (markers up to SOS): size, components, Adobe transform, EXIF orientation.

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _exif_orientation(tiff: bytes) -> int:
    """Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block; 1 if absent/garbled."""
    if len(tiff) < 8:
        return 1
    order = tiff[:2]
    if order == b"II":
        bo = "little"
    elif order == b"MM":
        bo = "big"
    else:
        return 1
    ifd = int.from_bytes(tiff[4:8], bo)
    if ifd + 2 > len(tiff):
        return 1
    count = int.from_bytes(tiff[ifd : ifd + 2], bo)
    for k in range(count):
        e = ifd + 2 + 12 * k
        if e + 12 > len(tiff):
            break
        if int.from_bytes(tiff[e : e + 2], bo) == 0x0112:
            typ = int.from_bytes(tiff[e + 2 : e + 4], bo)
            if typ == 3:  # SHORT: value in the first two bytes of the value field
                v = int.from_bytes(tiff[e + 8 : e + 10], bo)
            elif typ == 4:  # LONG (non-standard but seen)
                v = int.from_bytes(tiff[e + 8 : e + 12], bo)
            else:
                return 1
            return v if 1 <= v <= 8 else 1
    return 1


def _jpeg_header(data: bytes) -> Optional[ImageHeader]:
    """Parse JPEG markers up to the first SOS. None if not a JPEG or the frame header is missing."""
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    orientation, adobe_transform, sof = 1, None, None
    exif_seen = False
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None  # garbage between segments: let PIL judge
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan: header is over
            break
        seglen = (data[i + 2] << 8) | data[i + 3]
        if seglen < 2:
            return None
        end = min(i + 2 + seglen, n)  # slice only the segments read (an EXIF block can be 64 kB)
        if marker == 0xE1 and not exif_seen and data.startswith(b"Exif\x00\x00", i + 4):
            exif_seen = True
            orientation = _exif_orientation(data[i + 10 : end])
        elif marker == 0xEE and data.startswith(b"Adobe", i + 4) and end - i - 4 >= 12:
            adobe_transform = data[i + 15]
        elif marker in _SOF_MARKERS and end - i - 4 >= 6:
            seg = data[i + 4 : i + 10]
            sof = (marker, seg[0], (seg[1] << 8) | seg[2], (seg[3] << 8) | seg[4], seg[5])
        i += 2 + seglen
    if sof is None:
        return None
    marker, precision, h, w, ncomp = sof
    if h == 0 or w == 0:  # DNL-defined height: rare, leave it to PIL
        return None
    # Lossless (C3, C7, CB, CF) and arithmetic-coded frames may be refused by simplejpeg; we try
    # and fall back. CMYK/YCCK (4 components) cannot be converted to RGB by libjpeg-turbo.
    fast = _sj is not None and precision == 8 and ncomp in (1, 3) and marker not in (0xC3, 0xC7, 0xCB, 0xCF)
    del adobe_transform  # parsed for completeness; only 4-component files use it
    return ImageHeader(width=w, height=h, orientation=orientation, fast=fast, jpeg=True)


def read_header(src: Source, data: Optional[bytes] = None) -> ImageHeader:
    """Header of ``src`` without decoding pixels (JPEG: own parser; others: PIL lazy open)."""
    name = source_name(src)
    if data is None:
        data = read_bytes(src)
    if not data:
        raise ImageDecodeError(name, "empty file")
    hdr = _jpeg_header(data)
    if hdr is not None:
        return hdr
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageDecodeError(name, "not an image (unrecognised format)") from None
    except Image.DecompressionBombError as e:  # above twice PIL's limit: a decode error, not a crash
        raise ImageDecodeError(name, f"too large ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(name, f"corrupt header ({e})") from None
    w, h = im.size
    try:
        orientation = int(im.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not make a readable image unreadable
        orientation = 1
    return ImageHeader(width=w, height=h, orientation=orientation if 1 <= orientation <= 8 else 1, fast=False,
                       jpeg=im.format == "JPEG")


def image_size(src: Source) -> tuple[int, int]:
    """(width, height) in pixels after EXIF orientation, read from the header only."""
    return read_header(src).size


# ---------------------------------------------------------------------------------------------
# Pixel paths.


#: EXIF orientations that swap the axes, and those whose displayed x (y) axis runs backwards in
#: storage (after the swap).
TRANSPOSED: tuple[int, ...] = (5, 6, 7, 8)
FLIPPED_X: tuple[int, ...] = (2, 3, 6, 7)
FLIPPED_Y: tuple[int, ...] = (3, 4, 7, 8)


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF ``orientation`` (1..8) to an (H, W, ...) array like PIL's ``exif_transpose``.

    Returns a view (no copy) with possibly negative strides; call ``np.ascontiguousarray`` if
    a kernel needs contiguous memory.
    """
    if orientation == 2:
        return img[:, ::-1]
    if orientation == 3:
        return img[::-1, ::-1]
    if orientation == 4:
        return img[::-1]
    if orientation == 5:  # transpose
        return img.swapaxes(0, 1)
    if orientation == 6:  # rotate 90 degrees clockwise
        return img.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:  # transverse
        return img.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:  # rotate 90 degrees counter-clockwise
        return img.swapaxes(0, 1)[::-1]
    return img


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode.startswith("I;16"):
        # 16-bit: full range 0..65535 -> 0..255 (divide by 257, round).
        a = np.asarray(im).astype(np.float32)
        a = np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(a, mode="L").convert("RGB")
    if im.mode in ("I", "F"):
        # 32-bit int / float: treat values above 255 as 16-bit data, else as 8-bit.
        a = np.asarray(im, dtype=np.float64)
        if a.size and a.max() > 255:
            a = a / 257.0
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        # Composite on white: what a viewer shows, and what ImageNet-style models saw.
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


def pil_to_rgb_array(im: Image.Image) -> np.ndarray:
    """A PIL image of any mode -> (H, W, 3) uint8 RGB (alpha composited on white). No EXIF step."""
    return np.asarray(_to_rgb(im))


def _open_pil(data: bytes, name: str) -> Image.Image:
    """PIL's lazy open (header only), its size checked against :data:`MAX_DECODED_PIXELS` before
    any pixel is decoded, whatever PIL's own ``Image.MAX_IMAGE_PIXELS`` is set to (None disables
    PIL's check, and a 110 kB PNG can declare a 30000x30000 canvas: 2.7 GB of RGB)."""
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageDecodeError(name, "not an image (unrecognised format)") from None
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(name, f"too large ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageDecodeError(name, f"corrupt or truncated ({e})") from None
    check_image_size(*im.size, name)
    return im


def _decode_pil(data: bytes, name: str, reduce: int, orient: bool) -> np.ndarray:
    im = _open_pil(data, name)
    try:
        if reduce > 1 and im.format == "JPEG":
            w, h = im.size
            # draft picks the largest 1/2^k scale whose size is >= the request; asking for
            # floor(size / reduce) yields exactly 1/reduce (ceil-rounded), as libjpeg does.
            im.draft(im.mode if im.mode in ("RGB", "L") else None, (max(1, w // reduce), max(1, h // reduce)))
        im.load()
    except UnidentifiedImageError:
        raise ImageDecodeError(name, "not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageDecodeError(name, f"corrupt or truncated ({e})") from None
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(name, f"too large ({e})") from None
    if orient:
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:  # a broken EXIF block: keep the stored orientation
            pass
    try:
        return np.asarray(_to_rgb(im))
    except (OSError, ValueError) as e:
        raise ImageDecodeError(name, f"unsupported pixel format {im.mode!r} ({e})") from None


def _decode_fast(data: bytes, hdr: ImageHeader, reduce: int, fast_dct: bool = False) -> Optional[np.ndarray]:
    """simplejpeg decode at 1/reduce (stored orientation); None when simplejpeg refuses."""
    assert _sj is not None
    try:
        if reduce > 1:
            # simplejpeg picks the smallest n/8 scale meeting both minimums -> exactly 1/reduce.
            # (Only 1/2, 1/4, 1/8 are offered: libjpeg-turbo's 3/8..7/8 IDCTs are plain C and
            # measured slower than the full 8/8 decode here.)
            return _sj.decode_jpeg(
                data, colorspace="RGB", fastdct=fast_dct, fastupsample=fast_dct,
                min_height=-(-hdr.height // reduce), min_width=-(-hdr.width // reduce),
            )
        return _sj.decode_jpeg(data, colorspace="RGB", fastdct=fast_dct, fastupsample=fast_dct)
    except (ValueError, RuntimeError):
        return None  # truncated, corrupt or unsupported: PIL gives the verdict (and the message)


def decode_image(
    src: Source,
    *,
    reduce: int = 1,
    orient: bool = True,
    data: Optional[bytes] = None,
    header: Optional[ImageHeader] = None,
    fast_dct: bool = False,
) -> np.ndarray:
    """Decode ``src`` (path or encoded bytes) to an RGB uint8 array of shape (H, W, 3).

    EXIF orientation is applied (unless ``orient=False``: then the stored orientation is kept, for
    callers that map boxes themselves). Gray, palette, RGBA/LA (composited on white), CMYK and
    16-bit images become 8-bit RGB. ``reduce`` in {1, 2, 4, 8} asks for libjpeg DCT-scaled
    decoding of JPEGs (output ceil(W / reduce) x ceil(H / reduce)); other formats ignore it. The
    returned shape is the truth. ``data``/``header`` let callers that already read the bytes or
    parsed the header skip that work. ``fast_dct=True`` asks libjpeg-turbo (fast path only) for its
    fast integer IDCT and plain chroma upsampling: ~5% less decode time here, pixels a few levels
    off the accurate decode (PIL-fallback images are unaffected). Raises :class:`ImageDecodeError`
    naming the file and reason.
    """
    if reduce not in REDUCE_FACTORS:
        raise ValueError(f"reduce must be one of {REDUCE_FACTORS}, got {reduce!r}")
    name = source_name(src)
    if data is None:
        data = read_bytes(src)
    if not data:
        raise ImageDecodeError(name, "empty file")
    hdr = header if header is not None else _jpeg_header(data)
    if hdr is not None:
        check_image_size(*hdr.size, name)
    if hdr is not None and hdr.fast:
        img = _decode_fast(data, hdr, reduce, fast_dct)
        if img is not None:
            if orient and hdr.orientation != 1:
                img = np.ascontiguousarray(apply_orientation(img, hdr.orientation))
            return img
    return _decode_pil(data, name, reduce, orient)


# ---------------------------------------------------------------------------------------------
# Region path.

_region_problem: list[Optional[str]] = []  # the self-check's verdict, once per process


def stored_box(box: tuple[int, int, int, int], size: tuple[int, int], orientation: int) -> tuple[int, int, int, int]:
    """The oriented rectangle ``box`` = (x, y, w, h) of an image whose oriented size is ``size``
    = (W, H), as the (x, y, w, h) rectangle of the stored pixels that EXIF ``orientation`` maps
    onto it (``apply_orientation`` of that stored rectangle is the oriented crop)."""
    x, y, w, h = box
    W, H = size
    if orientation in FLIPPED_X:
        x = W - x - w
    if orientation in FLIPPED_Y:
        y = H - y - h
    return (y, x, h, w) if orientation in TRANSPOSED else (x, y, w, h)


def _region_self_check() -> Optional[str]:
    """None when the extension reproduces simplejpeg's full, half-size and fast-IDCT decodes of a
    4:2:0 test image, else why not."""
    if _jr is None:
        return (f"the C extension inception_aug._jpeg_region is not available ({_JR_MISSING or 'not built'}; it "
                "is built at install time where a C compiler and the libjpeg-turbo >= 2.1 headers exist)")
    if _sj is None:
        return "simplejpeg is not installed"
    yy, xx = np.mgrid[0:75, 0:90]
    pattern = np.stack([(xx * 7 + yy * 3) % 256, (xx * yy) % 251, (xx * 13 ^ yy * 5) % 256], axis=2)
    data = _sj.encode_jpeg(np.ascontiguousarray(pattern.astype(np.uint8)), quality=90, colorsubsampling="420")
    full = _sj.decode_jpeg(data, colorspace="RGB")
    half = _sj.decode_jpeg(data, colorspace="RGB", min_width=45, min_height=38)
    fast = _sj.decode_jpeg(data, colorspace="RGB", fastdct=True, fastupsample=True)
    cases = ((full, 1, False, (0, 0, 90, 75)), (full, 1, False, (17, 9, 41, 33)), (full, 1, False, (33, 40, 57, 35)),
             (full, 1, False, (1, 1, 5, 7)), (half, 2, False, (0, 0, 45, 38)), (half, 2, False, (7, 5, 21, 30)),
             (fast, 1, True, (0, 0, 90, 75)), (fast, 1, True, (17, 9, 41, 33)))
    for ref, r, fast_dct, (x, y, w, h) in cases:
        out = np.empty((h, w, 3), np.uint8)
        try:
            _jr.decode_region(data, out, x, y, w, h, r, fast_dct)
        except ValueError as e:
            return f"the C extension failed its self-check ({e})"
        if not np.array_equal(out, ref[y : y + h, x : x + w]):
            return "the C extension's pixels differ from simplejpeg's (another libjpeg build?)"
    return None


def region_decode_status() -> str:
    """``"active"``, or the reason the region path is off (then whole JPEGs are decoded: same
    pixels, slower). The self-check runs once per process."""
    if not _region_problem:
        _region_problem.append(_region_self_check())
    return _region_problem[0] or "active"


def decode_region(data: bytes, header: ImageHeader, box: tuple[int, int, int, int],
                  name: str = "<bytes>", reduce: int = 1, fast_dct: bool = False) -> Optional[np.ndarray]:
    """The rectangle ``box`` = (x, y, w, h) (pixels of the oriented image decoded at 1/``reduce``,
    whose size is ceil(W / reduce) x ceil(H / reduce); inside it) of the JPEG ``data`` with parsed
    ``header``, as (h, w, 3) uint8 RGB, decoding only what the rectangle needs: the same pixels as
    that rectangle of ``decode_image(data, reduce=reduce, fast_dct=fast_dct)``.

    Returns None when the region path does not apply: not a fast-path JPEG, no end-of-image
    marker in the last 64 bytes (a truncated file must get the whole-file verdict), the extension
    absent or failing its self-check, or libjpeg reporting any error or warning inside the
    decoded rows. The caller then decodes the whole file (:func:`decode_image`), whose verdict is
    final. A file damaged only below the rectangle decodes here: the rectangle's pixels are those
    of a full decode. Raises :class:`ImageDecodeError` above :data:`MAX_DECODED_PIXELS`."""
    if not header.fast or data.find(b"\xff\xd9", max(0, len(data) - 64)) < 0:
        return None
    if region_decode_status() != "active":
        return None
    check_image_size(header.width, header.height, name)
    if reduce not in REDUCE_FACTORS:
        raise ValueError(f"reduce must be one of {REDUCE_FACTORS}, got {reduce!r}")
    o = header.orientation
    W, H = header.size
    x, y, w, h = stored_box(box, (-(-W // reduce), -(-H // reduce)), o)
    out = np.empty((h, w, 3), np.uint8)
    try:
        _jr.decode_region(data, out, x, y, w, h, reduce, fast_dct)
    except ValueError:
        return None
    return np.ascontiguousarray(apply_orientation(out, o)) if o != 1 else out
