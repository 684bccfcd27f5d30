"""The pixel step of the crop geometry: a :class:`~inception_aug.params.CropBox` of a loaded input,
resized to the output size, with reduced-size JPEG decoding.

Reduced-size decoding: when the input is an encoded JPEG and the crop is at least ``r`` times the
output size in both directions (r = 8, 4 or 2, the largest that fits), the JPEG is decoded by
libjpeg DCT scaling at 1/r and the crop box is mapped exactly into the reduced pixel grid
(:func:`reduced_box`: a reduced pixel k covers full-size pixels [k*r, (k+1)*r); mirrored EXIF axes
shift by the partial last block). The fractional box is then resampled by
``resize.resized_crop_subpixel``. Pixels differ from a full decode + integer crop because libjpeg's
scaled IDCT low-pass filters (like an area filter) where cv2's bilinear/bicubic/nearest do not: the
result is less aliased. Measured bound on the shared ImageNet photos: see
tests/test_aug_transforms.py (mean absolute difference per pixel).
"""
from __future__ import annotations

from typing import Union

import numpy as np

from inception_aug.convert import Encoded
from inception_aug.decode import ImageDecodeError, decode_image
from inception_aug.params import CropBox
from inception_aug.resize import resized_crop, resized_crop_subpixel

__all__ = ["choose_reduce", "reduced_box", "crop_resize", "resize_decoded"]

_FLIPPED_X = (2, 3, 6, 7)  # EXIF orientations whose displayed x axis runs backwards in storage
_FLIPPED_Y = (3, 4, 7, 8)


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
    for pos, length, n, full, flipped in ((box.x, box.w, reduced_wh[0], full_wh[0], orientation in _FLIPPED_X),
                                          (box.y, box.h, reduced_wh[1], full_wh[1], orientation in _FLIPPED_Y)):
        if n == -(-full // r):
            off = (full - n * r) if flipped else 0
            out.append(((pos - off) / r, length / r))
        else:
            out.append((pos * n / full, length * n / full))
    (x, w), (y, h) = out
    return (x, y, w, h)


def crop_resize(img: Union[Encoded, np.ndarray], box: CropBox, out_wh: tuple[int, int],
                interpolation: str, *, reduced_decode: bool = True, fast_dct: bool = False) -> np.ndarray:
    """The crop ``box`` (full-size oriented pixels) of a loaded input (``convert.load_input``),
    resized to ``out_wh`` = (width, height); (out_h, out_w, 3) uint8. Encoded JPEGs are decoded at
    1/r when the crop allows (see module doc) and ``reduced_decode`` is on."""
    if isinstance(img, np.ndarray):
        return resized_crop(img, box, out_wh, interpolation)
    W, H = img.size
    if not box.inside(W, H):
        raise ValueError(f"crop box {box} is not inside the {W}x{H} image {img.name}")
    r = choose_reduce(box, out_wh) if (reduced_decode and img.header.jpeg) else 1
    pixels = decode_image(img.name, reduce=r, data=img.data, header=img.header, fast_dct=fast_dct)
    return resize_decoded(img, pixels, r, box, out_wh, interpolation)


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
