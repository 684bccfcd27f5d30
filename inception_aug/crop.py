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
from inception_aug.resize import resized_crop, resized_crop_subpixel

__all__ = ["REGION_TAPS", "choose_reduce", "reduced_box", "crop_resize", "crop_region", "resize_decoded"]

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
    1/r when the crop allows (see module doc) and ``reduced_decode`` is on; with ``region_decode``
    on, only the rectangle the resize reads is decoded (:func:`crop_region`,
    ``decode.decode_region``: same pixels as a whole-file decode)."""
    if isinstance(img, np.ndarray):
        return resized_crop(img, box, out_wh, interpolation)
    W, H = img.size
    if not box.inside(W, H):
        raise ValueError(f"crop box {box} is not inside the {W}x{H} image {img.name}")
    r = choose_reduce(box, out_wh) if (reduced_decode and img.header.jpeg) else 1
    rect = crop_region(img, box, r, interpolation) if region_decode else None
    if rect is not None:
        pixels = decode_region(img.data, img.header, rect, img.name, reduce=r, fast_dct=fast_dct)
        if pixels is not None:
            return resize_decoded(img, pixels, r, box, out_wh, interpolation, origin=rect[:2])
    pixels = decode_image(img.name, reduce=r, data=img.data, header=img.header, fast_dct=fast_dct)
    return resize_decoded(img, pixels, r, box, out_wh, interpolation)


def crop_region(img: Encoded, box: CropBox, r: int, interpolation: str) -> Optional[tuple[int, int, int, int]]:
    """The (x, y, w, h) rectangle of the 1/``r`` pixel grid that resizing ``box`` reads: the box
    itself at r = 1; at 1/r the fractional box (:func:`reduced_box`) plus :data:`REGION_TAPS`
    pixels, clipped to the grid. None for ``bicubic`` at 1/r, which decodes the whole grid: OpenCV
    hands that warp to IPP, whose coordinate rounding moves with the origin (1 level on ~1 value in
    10^4)."""
    if r == 1:
        return (box.x, box.y, box.w, box.h)
    if interpolation == "bicubic":
        return None
    W, H = img.size
    pw, ph = -(-W // r), -(-H // r)
    fx, fy, fw, fh = reduced_box(box, (W, H), (pw, ph), r, img.header.orientation)
    x0 = max(math.floor(fx) - REGION_TAPS, 0)
    y0 = max(math.floor(fy) - REGION_TAPS, 0)
    x1 = min(math.ceil(fx + fw) + REGION_TAPS, pw)
    y1 = min(math.ceil(fy + fh) + REGION_TAPS, ph)
    return (x0, y0, x1 - x0, y1 - y0)


def resize_decoded(img: Encoded, pixels: np.ndarray, r: int, box: CropBox, out_wh: tuple[int, int],
                   interpolation: str, origin: Optional[tuple[int, int]] = None) -> np.ndarray:
    """The pixel half of :func:`crop_resize`: ``box`` of ``img`` cut from its ``pixels`` (decoded
    at 1/``r``) and resized to ``out_wh``. ``pixels`` are the whole decode, or with ``origin`` =
    (x0, y0) the :func:`crop_region` rectangle from there on; the sub-pixel resampling runs in the
    whole grid's coordinates, so both give the same output. Raises ``ImageDecodeError`` when a
    whole decode's size contradicts the header."""
    W, H = img.size
    if origin is not None:
        if r == 1:
            return resized_crop(pixels, CropBox(box.x - origin[0], box.y - origin[1], box.w, box.h), out_wh,
                                interpolation)
        grid = (-(-W // r), -(-H // r))
    else:
        ph, pw = pixels.shape[:2]
        if (pw, ph) == (W, H):
            return resized_crop(pixels, box, out_wh, interpolation)
        grid = (pw, ph)
        expected = (-(-W // r), -(-H // r))
        if r == 1 or ((pw, ph) != expected and (ph, pw) == expected):
            # The header promised another size or orientation (e.g. an EXIF block only one parser reads).
            raise ImageDecodeError(img.name, f"decoded size {pw}x{ph} does not match the header's {W}x{H} (1/{r})")
        origin = (0, 0)
    fbox = reduced_box(box, (W, H), grid, r, img.header.orientation)
    return resized_crop_subpixel(pixels, fbox, out_wh, interpolation, origin=origin)
