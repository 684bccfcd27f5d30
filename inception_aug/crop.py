"""The pixel step of the crop geometry: a :class:`~inception_aug.params.CropBox` of a loaded input,
resized to the output size, with reduced-size and region JPEG decoding.

Reduced-size decoding: when the input is an encoded JPEG and the crop is at least ``r`` times the
output size in both directions (r = 8, 4 or 2, the largest that fits), the JPEG is decoded by
libjpeg DCT scaling at 1/r and the crop box is mapped exactly into the reduced pixel grid
(:func:`reduced_box`: a reduced pixel k covers full-size pixels [k*r, (k+1)*r); mirrored EXIF axes
shift by the partial last block). The fractional box is then resampled by
``resize.resized_crop_subpixel``. Pixels differ from a full decode + integer crop because libjpeg's
scaled IDCT low-pass filters (like an area filter) where cv2's bilinear/bicubic/nearest do not: the
result is less aliased. Measured bound on the shared ImageNet photos: see
tests/test_aug_transforms.py (mean absolute difference per pixel).

Region decoding (``region_decode``, the default): only the rectangle the resize reads is decoded
(``decode.decode_region``), at full or reduced scale; the pixels are those of the whole decode.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np

from inception_aug.convert import Encoded
from inception_aug.decode import FLIPPED_X, FLIPPED_Y, ImageDecodeError, decode_image, decode_region
from inception_aug.params import CropBox
from inception_aug.resize import resize, resized_crop, resized_crop_subpixel

__all__ = ["REGION_TAPS", "choose_reduce", "reduced_box", "crop_resize", "resize_decoded"]

#: Pixels of the reduced grid decoded beyond a fractional crop box on each side: bicubic reads 2
#: past the sample point, plus slack for OpenCV's fixed-point coordinates.
REGION_TAPS = 4


def choose_reduce(box: CropBox, out_wh: tuple[int, int]) -> int:
    """Largest r in {8, 4, 2} with the crop at least r times ``out_wh`` = (width, height) in both
    directions, else 1."""
    ow, oh = out_wh
    for r in (8, 4, 2):
        if box.w >= r * ow and box.h >= r * oh:
            return r
    return 1


def reduced_box(box: CropBox, full_wh: tuple[int, int], reduced_wh: tuple[int, int], r: int,
                orientation: int = 1) -> tuple[float, float, float, float]:
    """``box`` (full-size oriented pixels of a ``full_wh`` image) as a fractional (x, y, w, h) in the
    ``reduced_wh`` pixel grid of a 1/``r`` DCT-scaled decode with EXIF ``orientation``.

    libjpeg's grid has ceil(full / r) pixels per axis: pixel k covers full-size [k*r, (k+1)*r), and
    on an axis that the orientation mirrors the partial last block comes first, shifting the box by
    ``full - n*r``. Any other reduced size (not seen with libjpeg-turbo) maps proportionally."""
    out = []
    for pos, length, n, full, flipped in ((box.x, box.w, reduced_wh[0], full_wh[0], orientation in FLIPPED_X),
                                          (box.y, box.h, reduced_wh[1], full_wh[1], orientation in FLIPPED_Y)):
        if n == -(-full // r):
            off = (full - n * r) if flipped else 0
            out.append(((pos - off) / r, length / r))
        else:
            out.append((pos * n / full, length * n / full))
    (x, w), (y, h) = out
    return (x, y, w, h)


def crop_resize(img: Union[Encoded, np.ndarray], box: CropBox, out_wh: tuple[int, int],
                interpolation: str, *, reduced_decode: bool = True, fast_dct: bool = False,
                region_decode: bool = True) -> np.ndarray:
    """The crop ``box`` (full-size oriented pixels) of a loaded input (``convert.load_input``),
    resized to ``out_wh`` = (width, height); (out_h, out_w, 3) uint8. Encoded JPEGs are decoded at
    1/r when the crop allows (see module doc) and ``reduced_decode`` is on; otherwise, with
    ``region_decode`` on, only the crop's rows and columns are decoded (``decode.decode_region``:
    same pixels as a whole-file decode)."""
    if isinstance(img, np.ndarray):
        return resized_crop(img, box, out_wh, interpolation)
    W, H = img.size
    if not box.inside(W, H):
        raise ValueError(f"crop box {box} is not inside the {W}x{H} image {img.name}")
    r = choose_reduce(box, out_wh) if (reduced_decode and img.header.jpeg) else 1
    if region_decode:
        out = _from_region(img, box, r, out_wh, interpolation, fast_dct)
        if out is not None:
            return out
    pixels = decode_image(img.name, reduce=r, data=img.data, header=img.header, fast_dct=fast_dct)
    return resize_decoded(img, pixels, r, box, out_wh, interpolation)


def _from_region(img: Encoded, box: CropBox, r: int, out_wh: tuple[int, int], interpolation: str,
                 fast_dct: bool = False) -> Optional[np.ndarray]:
    """:func:`crop_resize` from the decoded region the crop needs (``decode.decode_region``), or
    None where that path does not apply. At 1/r the region is the fractional box plus
    :data:`REGION_TAPS` pixels (clipped to the image), and ``resized_crop_subpixel`` works in the
    whole grid's coordinates: the same output as from the whole reduced decode. Not for ``bicubic`` at 1/r: OpenCV hands that warp to IPP, whose
    coordinate rounding moves with the origin (1 level on ~1 value in 10^4)."""
    if r > 1 and interpolation == "bicubic":
        return None
    if r == 1:
        region = decode_region(img.data, img.header, (box.x, box.y, box.w, box.h), img.name, fast_dct=fast_dct)
        return None if region is None else resize(region, out_wh, interpolation)
    W, H = img.size
    pw, ph = -(-W // r), -(-H // r)
    fbox = reduced_box(box, (W, H), (pw, ph), r, img.header.orientation)
    fx, fy, fw, fh = fbox
    x0 = max(math.floor(fx) - REGION_TAPS, 0)
    y0 = max(math.floor(fy) - REGION_TAPS, 0)
    x1 = min(math.ceil(fx + fw) + REGION_TAPS, pw)
    y1 = min(math.ceil(fy + fh) + REGION_TAPS, ph)
    region = decode_region(img.data, img.header, (x0, y0, x1 - x0, y1 - y0), img.name, reduce=r, fast_dct=fast_dct)
    if region is None:
        return None
    return resized_crop_subpixel(region, fbox, out_wh, interpolation, origin=(x0, y0))


def resize_decoded(img: Encoded, pixels: np.ndarray, r: int, box: CropBox, out_wh: tuple[int, int],
                   interpolation: str) -> np.ndarray:
    """The pixel half of :func:`crop_resize`: ``box`` of ``img`` cut from its ``pixels`` (decoded
    at 1/``r``) and resized to ``out_wh``. Raises ``ImageDecodeError`` when the decoded size
    contradicts the header."""
    W, H = img.size
    ph, pw = pixels.shape[:2]
    if (pw, ph) == (W, H):
        return resized_crop(pixels, box, out_wh, interpolation)
    expected = (-(-W // r), -(-H // r))
    if r == 1 or ((pw, ph) != expected and (ph, pw) == expected):
        # The header promised another size or orientation (e.g. an EXIF block only one parser reads).
        raise ImageDecodeError(img.name, f"decoded size {pw}x{ph} does not match the header's {W}x{H} (1/{r})")
    fbox = reduced_box(box, (W, H), (pw, ph), r, img.header.orientation)
    return resized_crop_subpixel(pixels, fbox, out_wh, interpolation)
