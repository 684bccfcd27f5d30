"""Interpolation names and the resize kernels (OpenCV).

Sizes here are ``size_wh`` = (width, height) in pixels, OpenCV's order (public transforms take
(height, width) and convert once, see :func:`inception_aug.plain.size_hw`).
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from inception_aug.constants import INTERPOLATIONS
from inception_aug.params import CropBox

__all__ = ["INTERPOLATIONS", "CV2_FLAGS", "resize", "resized_crop", "resized_crop_subpixel"]


#: OpenCV flag of each interpolation name (the one map; the albumentations adapters use it too).
CV2_FLAGS: dict[str, int] = {
    "bilinear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
    "bicubic": cv2.INTER_CUBIC,
}


def resize(img: np.ndarray, size_wh: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """Resize an (H, W, C) uint8 array to ``size_wh`` = (width, height) in pixels (no copy when it
    already has that size)."""
    try:
        flag = CV2_FLAGS[interpolation]
    except KeyError:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {INTERPOLATIONS}") from None
    w, h = size_wh
    if (img.shape[1], img.shape[0]) == (w, h):
        return img
    return cv2.resize(img, (w, h), interpolation=flag)


def resized_crop(img: np.ndarray, box: CropBox, size_wh: tuple[int, int],
                 interpolation: str = "bilinear") -> np.ndarray:
    """Crop the integer ``box`` (pixels, inside ``img``) and resize it to ``size_wh`` = (width,
    height). No copy of the crop is made (cv2 reads the sub-array view)."""
    x, y, w, h = box.x, box.y, box.w, box.h
    if not box.inside(img.shape[1], img.shape[0]):
        raise ValueError(f"crop box {box} is not inside a {img.shape[1]}x{img.shape[0]} image")
    view = img[y : y + h, x : x + w]
    if not view.flags["C_CONTIGUOUS"] and (view.strides[1] < 0 or view.strides[0] < 0):
        view = np.ascontiguousarray(view)
    return resize(view, size_wh, interpolation)


def resized_crop_subpixel(img: np.ndarray, fbox: tuple[float, float, float, float], size_wh: tuple[int, int],
                          interpolation: str = "bilinear", origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Resample the float ``fbox`` = (x, y, w, h) (pixel-edge coordinates of a pixel grid) to
    ``size_wh`` = (width, height). ``img`` holds that grid's pixels from integer ``origin`` = (x0,
    y0) on: all arithmetic runs in grid coordinates and the origin is subtracted exactly at the
    end, so a part of the grid with the pixels every kernel tap reads (plus the grid's own border,
    where it touches it) gives the same output as the whole grid.

    Used after a DCT-reduced decode, where the crop maps to fractional pixels. ``bilinear`` and
    ``bicubic``: one ``cv2.warpAffine`` with the same pixel-centre convention as ``cv2.resize``
    (source x = box_x + (u + 0.5) * box_w / out_w - 0.5), reading real pixels beyond the box edge
    where a kernel needs them and replicating the image border. ``nearest``: source index
    floor(box_x + u * box_w / out_w), cv2.resize's rule shifted by the box (cv2.remap).
    ``area``: when the box shrinks by less than 2x in both directions, bilinear as above (with an
    area-filtered input, e.g. a DCT-reduced decode, this approximates a full-size INTER_AREA best);
    otherwise the box rounded to whole pixels (each edge moves by <= 0.5 px of ``img``) and
    ``cv2.resize(INTER_AREA)``.
    """
    if interpolation not in CV2_FLAGS:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {INTERPOLATIONS}")
    bx, by, bw, bh = fbox
    ow, oh = size_wh
    H, W = img.shape[:2]
    ox, oy = origin
    if interpolation == "area" and bw < 2 * ow and bh < 2 * oh:
        # Remaining shrink below 2x (the usual case after a DCT-reduced decode, which already
        # box-filtered by r): bilinear with the exact fractional box is closer to a full-size
        # INTER_AREA than rounding the box to whole pixels (measured on the shared photos:
        # mean |diff| 2.1 vs 4.1 levels at r = 2).
        interpolation = "bilinear"
    if interpolation == "area":
        x0 = min(max(int(round(bx)), ox), ox + W - 1)
        y0 = min(max(int(round(by)), oy), oy + H - 1)
        x1 = min(max(int(round(bx + bw)), x0 + 1), ox + W)
        y1 = min(max(int(round(by + bh)), y0 + 1), oy + H)
        return resized_crop(img, CropBox(x0 - ox, y0 - oy, x1 - x0, y1 - y0), size_wh, "area")
    sx, sy = bw / ow, bh / oh
    if interpolation == "nearest":
        # Whole-pixel source indices, then one cv2.remap (4x faster than numpy fancy indexing).
        mx = np.empty((oh, ow), np.float32)
        my = np.empty((oh, ow), np.float32)
        mx[:] = (np.clip(np.floor(bx + np.arange(ow) * sx), ox, ox + W - 1) - ox)[None, :]
        my[:] = (np.clip(np.floor(by + np.arange(oh) * sy), oy, oy + H - 1) - oy)[:, None]
        return cv2.remap(img, mx, my, cv2.INTER_NEAREST)
    tx, ty = bx + 0.5 * sx - 0.5, by + 0.5 * sy - 0.5  # minus an integer below: exact
    m = np.array([[sx, 0.0, tx - ox], [0.0, sy, ty - oy]], dtype=np.float64)
    return cv2.warpAffine(img, m, (ow, oh), flags=CV2_FLAGS[interpolation] | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


# ---------------------------------------------------------------------------------------------
# PIL's resampling, and windowed resizes: a rectangle of a resize's output computed from only the
# source pixels it reads (views of long thin photos, whose full resize would be huge).

#: PIL's antialiased resampling (``Image.resize``), what torchvision/timm ImageNet numbers use.
PIL_INTERPOLATIONS: tuple[str, ...] = ("pil-bilinear", "pil-bicubic")

_PIL_FILTERS = {"pil-bilinear": (Image.Resampling.BILINEAR, 1.0), "pil-bicubic": (Image.Resampling.BICUBIC, 2.0)}


def resize_pil(img: np.ndarray, size_wh: tuple[int, int], interpolation: str = "pil-bilinear") -> np.ndarray:
    """Resize an (H, W, 3) uint8 RGB array to ``size_wh`` = (width, height) px with PIL's
    ``Image.resize`` (``pil-bilinear`` / ``pil-bicubic``: antialiased when shrinking, the filter
    support grows with the shrink factor). No copy when it already has that size."""
    if interpolation not in _PIL_FILTERS:
        raise ValueError(f"unknown PIL interpolation {interpolation!r}; expected one of {PIL_INTERPOLATIONS}")
    if (img.shape[1], img.shape[0]) == tuple(size_wh):
        return img
    out = Image.fromarray(np.ascontiguousarray(img)).resize(tuple(size_wh), _PIL_FILTERS[interpolation][0])
    return np.asarray(out)


def window_is_exact(src_wh: tuple[int, int], size_wh: tuple[int, int], interpolation: str) -> bool:
    """Whether :func:`resize_window` replays the resize of an image of ``src_wh`` = (width,
    height) px to ``size_wh`` bit for bit: ``nearest`` always; ``bilinear`` unless OpenCV switches
    to its 2x box filter (exact halving of both sides); ``area`` when at least one side grows
    (OpenCV then uses bilinear weights); ``pil-*`` when no side shrinks; ``bicubic`` when a side of
    the source is under 4 px (thin photos: OpenCV's own kernel). Otherwise OpenCV hands bicubic
    to IPP, whose float rounding is not public; the replay differs by 1 level on about 1 pixel
    in 10^5. Where this is False, :func:`resize_window` slices the full resize, except for
    ``bicubic``, which it always replays."""
    (w, h), (dw, dh) = src_wh, size_wh
    if interpolation == "nearest":
        return True
    if interpolation == "bilinear":
        return not (w == 2 * dw and h == 2 * dh)
    if interpolation == "area":
        return dw > w or dh > h
    if interpolation in _PIL_FILTERS:
        return dw >= w and dh >= h
    return min(w, h) < 4  # bicubic: OpenCV's own kernel, which it uses below 4 px (else IPP)


def _linear_taps(n_src: int, n_dst: int, lo: int, hi: int, area_mode: bool, clamp: bool):
    """OpenCV's bilinear source indices and 11-bit weights for output indices ``lo..hi-1`` of an
    ``n_src`` -> ``n_dst`` resize (coordinates as cv::resize computes them: float32 of the double
    ``(d + 0.5) * scale - 0.5``; ``area_mode``: INTER_AREA's enlarging variant). ``clamp``: the
    horizontal rule (an index outside the image takes weight 1 on the edge pixel); vertically
    OpenCV keeps the fractional weight and only clamps the row indices."""
    inv = n_dst / n_src
    scale = 1.0 / inv
    d = np.arange(lo, hi, dtype=np.float64)
    if area_mode:
        s = np.floor(d * scale).astype(np.int64)
        f = ((d + 1) - (s + 1) * inv).astype(np.float32)
        f = np.where(f <= 0, np.float32(0), f - np.floor(f)).astype(np.float32)
    else:
        f = ((d + 0.5) * scale - 0.5).astype(np.float32)
        s = np.floor(f).astype(np.int64)
        f = (f - s.astype(np.float32)).astype(np.float32)
    if clamp:
        out = (s < 0) | (s >= n_src - 1)
        f = np.where(out, np.float32(0), f)
        s = np.clip(s, 0, n_src - 1)
    w0 = np.rint((np.float32(1) - f) * np.float32(2048)).astype(np.int32)
    w1 = np.rint(f * np.float32(2048)).astype(np.int32)
    return np.clip(s, 0, n_src - 1), np.clip(s + 1, 0, n_src - 1), w0, w1


def _window_linear(img: np.ndarray, size_wh, window, area_mode: bool) -> np.ndarray:
    """OpenCV's uint8 bilinear resize (11-bit weights, horizontal pass in integers, vertical pass
    with its (b * (h >> 4)) >> 16 rounding), evaluated on ``window`` only."""
    (W, H), (dw, dh), (x, y, w, h) = (img.shape[1], img.shape[0]), size_wh, window
    x0, x1, a0, a1 = _linear_taps(W, dw, x, x + w, area_mode, clamp=True)
    y0, y1, b0, b1 = _linear_taps(H, dh, y, y + h, area_mode, clamp=False)
    cx, cy = int(x0.min()), int(y0.min())
    band = img[cy : int(y1.max()) + 1, cx : int(x1.max()) + 1].astype(np.int32)
    rows = band[:, x0 - cx] * a0[None, :, None] + band[:, x1 - cx] * a1[None, :, None]
    top = (b0[:, None, None] * (rows[y0 - cy] >> 4)) >> 16
    bottom = (b1[:, None, None] * (rows[y1 - cy] >> 4)) >> 16
    return np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)


def _window_nearest(img: np.ndarray, size_wh, window) -> np.ndarray:
    """cv::resize INTER_NEAREST: source index min(floor(d * (1 / (n_dst / n_src))), n_src - 1)."""
    (W, H), (dw, dh), (x, y, w, h) = (img.shape[1], img.shape[0]), size_wh, window
    xs = np.minimum(np.floor(np.arange(x, x + w) * (1.0 / (dw / W))).astype(np.int64), W - 1)
    ys = np.minimum(np.floor(np.arange(y, y + h) * (1.0 / (dh / H))).astype(np.int64), H - 1)
    return img[ys[:, None], xs[None, :]]


def _cubic_taps(n_src: int, n_dst: int, lo: int, hi: int, opencv: bool):
    """Bicubic (a = -0.75, replicated border) source indices (4, n) and weights (4, n) for output
    indices ``lo..hi-1``. ``opencv``: OpenCV's own kernel (float32 coordinates and coefficients,
    integer weights in 1/2048); otherwise float64 weights (IPP's kernel, approximately)."""
    d = np.arange(lo, hi, dtype=np.float64) + 0.5
    if opencv:
        f = (d * (1.0 / (n_dst / n_src)) - 0.5).astype(np.float32)
    else:
        f = d * (n_src / n_dst) - 0.5
    s = np.floor(f).astype(np.int64)
    t = f - s.astype(f.dtype)
    a, one, u = f.dtype.type(-0.75), f.dtype.type(1), f.dtype.type(1) - t
    w = [((a * (t + one) - 5 * a) * (t + one) + 8 * a) * (t + one) - 4 * a,
         ((a + 2) * t - (a + 3)) * t * t + one,
         ((a + 2) * u - (a + 3)) * u * u + one]
    w = np.stack(w + [one - w[0] - w[1] - w[2]]).astype(f.dtype)
    if opencv:
        w = np.rint(w * np.float32(2048)).astype(np.int64)
    return np.clip(s[None, :] + np.arange(-1, 3)[:, None], 0, n_src - 1), w


def _window_cubic(img: np.ndarray, size_wh, window) -> np.ndarray:
    """Bicubic on ``window``. Sources with a side under 4 px: OpenCV's own uint8 kernel replayed
    exactly (integer horizontal pass; vertical pass in float32 as its 8-lane SIMD loop computes
    it, ((S3 b3 + S2 b2) + S1 b1) + S0 b0 rounded half to even, and in integers with rounding for
    the row tail the SIMD loop leaves). Larger sources (IPP): float64, see :func:`window_is_exact`."""
    (W, H), (dw, dh), (x, y, w, h) = (img.shape[1], img.shape[0]), size_wh, window
    opencv = min(W, H) < 4
    xi, xw = _cubic_taps(W, dw, x, x + w, opencv)
    yi, yw = _cubic_taps(H, dh, y, y + h, opencv)
    cx, cy = int(xi.min()), int(yi.min())
    band = img[cy : int(yi.max()) + 1, cx : int(xi.max()) + 1].astype(np.int64 if opencv else np.float64)
    rows = sum(band[:, xi[k] - cx] * xw[k][None, :, None] for k in range(4))
    taps = [rows[yi[k] - cy] for k in range(4)]
    if not opencv:
        return np.clip(np.rint(sum(taps[k] * yw[k][:, None, None] for k in range(4))), 0, 255).astype(np.uint8)
    exact = (sum(taps[k] * yw[k][:, None, None] for k in range(4)) + (1 << 21)) >> 22
    beta = [(yw[k].astype(np.float32) * np.float32(2.0 ** -22))[:, None, None] for k in range(4)]
    v = taps[3].astype(np.float32) * beta[3]
    for k in (2, 1, 0):
        v = taps[k].astype(np.float32) * beta[k] + v
    pos = np.arange(x, x + w)[:, None] * 3 + np.arange(3)[None, :]  # element index in the dst row
    simd = (pos < (dw * 3) // 8 * 8)[None]
    return np.clip(np.where(simd, np.rint(v), exact), 0, 255).astype(np.uint8)


def _pil_taps(n_src: int, n_dst: int, lo: int, hi: int, interpolation: str):
    """PIL's resampling taps for output indices ``lo..hi-1`` of an ``n_src`` -> ``n_dst`` resize
    (Pillow's precompute_coeffs + normalize_coeffs_8bpc, same double arithmetic): source indices
    (n, k) and 22-bit integer weights (n, k)."""
    a = -0.5  # PIL's bicubic
    scale = n_src / n_dst
    fscale = max(scale, 1.0)
    support = _PIL_FILTERS[interpolation][1] * fscale
    ksize = int(np.ceil(support)) * 2 + 1
    center = (np.arange(lo, hi) + 0.5) * scale
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)
    count = np.minimum((center + support + 0.5).astype(np.int64), n_src) - xmin
    j = np.arange(ksize)
    t = np.abs(((j[None, :] + xmin[:, None]) - center[:, None] + 0.5) * (1.0 / fscale))
    if interpolation == "pil-bilinear":
        w = np.where(t < 1.0, 1.0 - t, 0.0)
    else:
        w = np.where(t < 1.0, ((a + 2.0) * t - (a + 3.0)) * t * t + 1,
                     np.where(t < 2.0, (((t - 5) * t + 8) * t - 4) * a, 0.0))
    w = np.where(j[None, :] < count[:, None], w, 0.0)
    total = np.zeros(len(center))
    for k in range(ksize):  # in order, as PIL sums
        total = total + w[:, k]
    w = w / np.where(total == 0, 1.0, total)[:, None]
    iw = np.where(w < 0, np.trunc(-0.5 + w * (1 << 22)), np.trunc(0.5 + w * (1 << 22))).astype(np.int64)
    return np.minimum(xmin[:, None] + j[None, :], n_src - 1), iw


def _pil_pass(src: np.ndarray, idx: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """One PIL 8-bit pass along ``axis`` (1: columns, 0: rows): sum of taps + 2^21, >> 22, clip."""
    shape = list(src.shape)
    shape[axis] = idx.shape[0]
    acc = np.full(shape, 1 << 21, np.int64)
    for k in range(idx.shape[1]):
        taps = np.take(src, idx[:, k], axis=axis).astype(np.int64)
        acc += taps * (weights[None, :, k, None] if axis == 1 else weights[:, k, None, None])
    return np.clip(acc >> 22, 0, 255).astype(np.uint8)


def _window_pil(img: np.ndarray, size_wh, window, interpolation: str) -> np.ndarray:
    """PIL's enlarging resize replayed on ``window``: horizontal pass first on the source rows the
    window reads (as Pillow does when no side shrinks), then the vertical pass; a side that keeps
    its size is not resampled (as in Pillow)."""
    (W, H), (dw, dh), (x, y, w, h) = (img.shape[1], img.shape[0]), size_wh, window
    yi, yw = _pil_taps(H, dh, y, y + h, interpolation)
    r0, r1 = (int(yi.min()), int(yi.max()) + 1) if dh != H else (y, y + h)
    band = img[r0:r1]
    if dw != W:
        band = _pil_pass(band, *_pil_taps(W, dw, x, x + w, interpolation), axis=1)
    else:
        band = band[:, x : x + w]
    return band if dh == H else _pil_pass(band, yi - r0, yw, axis=0)


def resize_window(img: np.ndarray, size_wh: tuple[int, int], window: tuple[int, int, int, int],
                  interpolation: str = "bilinear") -> np.ndarray:
    """``resize(img, size_wh, interpolation)[y : y + h, x : x + w]`` for ``window`` = (x, y, w, h)
    (pixels of the resized image; ``pil-*`` names: :func:`resize_pil`), reading only the source
    pixels the window needs, so memory is O(window), not O(size_wh). Exact where
    :func:`window_is_exact` says so; otherwise ``bicubic`` is within 1 level (rarely off) and the
    other kernels (a resize that shrinks, never larger than ``img``) slice the full resize."""
    known = tuple(CV2_FLAGS) + PIL_INTERPOLATIONS
    if interpolation not in known:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {known}")
    (W, H), (dw, dh), (x, y, w, h) = (img.shape[1], img.shape[0]), size_wh, window
    if x < 0 or y < 0 or w < 1 or h < 1 or x + w > dw or y + h > dh:
        raise ValueError(f"window {window} is not inside a {dw}x{dh} resize")
    if (W, H) == (dw, dh):
        return img[y : y + h, x : x + w]
    if interpolation == "bicubic":
        return _window_cubic(img, size_wh, window)
    if not window_is_exact((W, H), size_wh, interpolation):
        full = resize_pil if interpolation in _PIL_FILTERS else resize
        return full(img, size_wh, interpolation)[y : y + h, x : x + w]
    if interpolation in _PIL_FILTERS:
        return _window_pil(img, size_wh, window, interpolation)
    if interpolation == "nearest":
        return _window_nearest(img, size_wh, window)
    return _window_linear(img, size_wh, window, area_mode=interpolation == "area")


__all__ += ["PIL_INTERPOLATIONS", "resize_pil", "resize_window", "window_is_exact"]
