"""Crop samplers and the per-sample interpolation and flip draws.

Pure functions of (width, height, numpy Generator): no pixels, no global state. Each sampler
returns an integer :class:`CropBox` inside the image; the order of random draws is part of the
documented behaviour (tests transcribe it literally).

Samplers (``method``):

``paper`` (default): crop area fraction ``a`` uniform on ``[scale[0], a_hi]`` and
    log(aspect ratio) uniform over the ratios that fit at that area, i.e. over
    ``[max(ratio[0], a*W/H), min(ratio[1], W/(a*H))]`` (w <= W and h <= H for w*h = a*W*H).
    ``a_hi = min(scale[1], a_max)`` where ``a_max`` is the largest area fraction that any ratio in
    range can reach: 1 when W/H is in the ratio range, ``ratio[1]*H/W`` for images wider than
    ``ratio[1]`` (a 3:2 image: 0.889), ``W/(ratio[0]*H)`` for taller ones. DECISION: when the
    image shape cannot reach the requested area with an in-range ratio we keep the ratio in
    range and the area uniform on the reachable part ``[scale[0], a_hi]`` (no rejection loop, no
    point mass at a_hi). If even ``scale[0]`` is out of reach (images more elongated than
    ``ratio[1]/scale[0]``, e.g. 16.7:1), the area is ``a_max`` (the largest in-range crop).
    Rounding: ``w = round(sqrt(a*W*H*r))``, ``h = round(sqrt(a*W*H/r))`` (half to even), clamped to
    ``[1, W]`` x ``[1, H]``; so the integer box's area and ratio differ from the continuous draw
    by at most one pixel per side. Position: x uniform on {0..W-w}, then y on {0..H-h}.
    Draws: area, log-ratio, x, y (4 draws, always).
    Orientation lean: the ratio range shrinks toward the photo's own ratio as the area grows (at
    a = 1 only W/H fits), so large crops take the photo's orientation and the mean log(w/h) leans
    toward it: about +0.075 on a 500x375 photo (log(4/3) = 0.288), against +0.030 for
    ``torchvision``. That is the price of an area that is uniform as drawn (mean 0.54 there).

``torchvision``: ``RandomResizedCrop.get_params`` (current torchvision): up to 10 attempts of
    area ~ U(scale)*W*H, ratio = exp(U(log ratio)), ``w = int(round(sqrt(area*ratio)))``,
    ``h = int(round(sqrt(area/ratio)))``, accepted if ``0 < w <= W and 0 < h <= H``, then
    top ``i`` ~ U{0..H-h}, left ``j`` ~ U{0..W-w}; after 10 failures a centre crop of the whole
    image clamped to the ratio range. Draw order per attempt: area, log-ratio; on success i, j.
    (torchvision computes these in float32 tensors; we use float64, which can differ only when
    a value lands within ~1e-7 of a rounding boundary.)
    Trade-off against ``paper``: a rejected draw is redrawn whole, so the accepted (area, log
    ratio) pairs are uniform over the region that fits. Ratios stay nearly symmetric (mean log(w/h)
    about +0.030 on 500x375, a lean only through the region's shape) but large areas are rejected
    more often, so the area is biased toward small crops (mean 0.43 instead of 0.54 there).

``tf-slim``: ``tf.image.sample_distorted_bounding_box`` as TF-slim's inception_preprocessing
    calls it: area_range (0.05, 1.0), aspect_ratio_range (0.75, 1.33) sampled UNIFORMLY (not log),
    the whole image as the object box with ``min_object_covered`` 0.1, 100 attempts, whole image
    on failure. Each attempt follows TF's ``GenerateRandomCrop``: height uniform on the integers
    between round(sqrt(min_area/r)) and round(sqrt(max_area/r)) (capped so round(h*r) <= W and
    h <= H), ``w = round(h*r)``, one-step repairs of area rounding, then ``y`` ~ U{0..H-h-1} and
    ``x`` ~ U{0..W-w-1} (TF's ``Uniform(n)`` excludes n; 0 when the side is full).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from inception_aug.params import CropBox
from inception_aug.constants import INTERPOLATIONS

__all__ = [
    "SAMPLERS", "DEFAULT_SCALE", "DEFAULT_RATIO", "paper_area_range", "paper_ratio_range", "sample_crop_paper",
    "sample_crop_torchvision", "sample_crop_tfslim", "sample_crop", "sample_interpolation", "sample_flip",
    "sampler_stats",
]

SAMPLERS: tuple[str, ...] = ("paper", "torchvision", "tf-slim")

DEFAULT_SCALE: dict[str, tuple[float, float]] = {
    "paper": (0.08, 1.0), "torchvision": (0.08, 1.0), "tf-slim": (0.05, 1.0),
}
DEFAULT_RATIO: dict[str, tuple[float, float]] = {
    "paper": (3 / 4, 4 / 3), "torchvision": (3 / 4, 4 / 3), "tf-slim": (0.75, 1.33),
}


def _check(width: int, height: int, scale: Sequence[float], ratio: Sequence[float]) -> None:
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"scale must satisfy 0 < lo <= hi <= 1, got {tuple(scale)}")
    if not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"ratio must satisfy 0 < lo <= hi, got {tuple(ratio)}")


def paper_area_range(width: int, height: int, scale: Sequence[float] = (0.08, 1.0),
                     ratio: Sequence[float] = (3 / 4, 4 / 3)) -> tuple[float, float]:
    """The area-fraction interval the ``paper`` sampler draws from for a W x H image.

    ``(scale[0], min(scale[1], a_max))``, or ``(a_max, a_max)`` when ``a_max < scale[0]``.
    """
    _check(width, height, scale, ratio)
    img_ratio = width / height
    if img_ratio > ratio[1]:
        a_max = ratio[1] / img_ratio
    elif img_ratio < ratio[0]:
        a_max = img_ratio / ratio[0]
    else:
        a_max = 1.0
    hi = min(scale[1], a_max)
    if hi < scale[0]:
        return (a_max, a_max)
    return (float(scale[0]), float(hi))


def paper_ratio_range(width: int, height: int, area: float,
                      ratio: Sequence[float] = (3 / 4, 4 / 3)) -> tuple[float, float]:
    """Ratios (w/h) in ``ratio`` for which a crop of area fraction ``area`` fits in W x H."""
    img_ratio = width / height
    lo = max(ratio[0], area * img_ratio)
    hi = min(ratio[1], img_ratio / area)
    if lo > hi:  # only by float rounding at a = a_max: the interval is a single point
        lo = hi = min(max(img_ratio, ratio[0]), ratio[1])
    return lo, hi


def sample_crop_paper(width: int, height: int, rng: np.random.Generator, *,
                      scale: Sequence[float] = (0.08, 1.0),
                      ratio: Sequence[float] = (3 / 4, 4 / 3)) -> CropBox:
    """``paper`` sampler (see module docstring). Draws: area, log-ratio, x, y."""
    a_lo, a_hi = paper_area_range(width, height, scale, ratio)
    a = a_lo + (a_hi - a_lo) * rng.random()
    r_lo, r_hi = paper_ratio_range(width, height, a, ratio)
    log_lo, log_hi = math.log(r_lo), math.log(r_hi)
    r = math.exp(log_lo + (log_hi - log_lo) * rng.random())
    target = a * width * height
    w = min(max(int(round(math.sqrt(target * r))), 1), width)
    h = min(max(int(round(math.sqrt(target / r))), 1), height)
    x = int(rng.integers(0, width - w + 1))
    y = int(rng.integers(0, height - h + 1))
    return CropBox(x, y, w, h)


def sample_crop_torchvision(width: int, height: int, rng: np.random.Generator, *,
                            scale: Sequence[float] = (0.08, 1.0),
                            ratio: Sequence[float] = (3 / 4, 4 / 3),
                            max_attempts: int = 10) -> CropBox:
    """torchvision ``RandomResizedCrop.get_params`` semantics (see module docstring)."""
    _check(width, height, scale, ratio)
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(max_attempts):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = int(rng.integers(0, height - h + 1))
            j = int(rng.integers(0, width - w + 1))
            return CropBox(j, i, w, h)
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return CropBox((width - w) // 2, (height - h) // 2, w, h)


def _tf_generate_random_crop(width: int, height: int, min_rel: float, max_rel: float,
                             aspect: np.float32, rng: np.random.Generator) -> Optional[CropBox]:
    """One attempt of TF's GenerateRandomCrop, float32 arithmetic and lrintf as in the C++."""
    f32 = np.float32
    min_area = f32(min_rel) * f32(width) * f32(height)
    max_area = f32(max_rel) * f32(width) * f32(height)
    h = int(np.rint(np.sqrt(min_area / aspect)))
    max_h = int(np.rint(np.sqrt(max_area / aspect)))
    if int(np.rint(f32(max_h) * aspect)) > width:
        max_h = int((width + 0.5 - 1e-7) / float(aspect))  # C++: double arithmetic, truncation
        if int(np.rint(f32(max_h) * aspect)) > width:
            max_h -= 1
    max_h = min(max_h, height)
    h = min(h, max_h)
    if h < max_h:
        h += int(rng.integers(0, max_h - h + 1))
    w = int(np.rint(f32(h) * aspect))
    area = f32(w * h)
    if area < min_area:
        h += 1
        w = int(np.rint(f32(h) * aspect))
        area = f32(w * h)
    if area > max_area:
        h -= 1
        w = int(np.rint(f32(h) * aspect))
        area = f32(w * h)
    if area < min_area or area > max_area or w > width or h > height or w <= 0 or h <= 0:
        return None
    y = int(rng.integers(0, height - h)) if h < height else 0
    x = int(rng.integers(0, width - w)) if w < width else 0
    return CropBox(x, y, w, h)


def sample_crop_tfslim(width: int, height: int, rng: np.random.Generator, *,
                       scale: Sequence[float] = (0.05, 1.0),
                       ratio: Sequence[float] = (0.75, 1.33),
                       max_attempts: int = 100,
                       min_object_covered: float = 0.1) -> CropBox:
    """TF-slim ``distorted_bounding_box_crop`` semantics (see module docstring).

    Draws per attempt: ratio (uniform), height (if its range is not a point), y, x.
    """
    _check(width, height, scale, ratio)
    f32 = np.float32
    image_area = f32(width * height)
    for _ in range(max_attempts):
        aspect = f32(rng.random()) * (f32(ratio[1]) - f32(ratio[0])) + f32(ratio[0])
        box = _tf_generate_random_crop(width, height, scale[0], scale[1], aspect, rng)
        if box is None:
            continue
        crop_area = f32(box.w * box.h)
        # Whole image is the object: covered fraction = crop area / image area (box inside).
        if crop_area >= 1.0 and crop_area / image_area >= f32(min_object_covered):
            return box
    return CropBox(0, 0, width, height)


def sample_crop(width: int, height: int, rng: np.random.Generator, *, method: str = "paper",
                scale: Optional[Sequence[float]] = None, ratio: Optional[Sequence[float]] = None,
                **options) -> CropBox:
    """Sample a crop box for a ``width`` x ``height`` image (pixels) with sampler ``method``.

    ``scale`` (area fraction range, within (0, 1]) and ``ratio`` (w/h range) default to the
    method's own values (``DEFAULT_SCALE`` / ``DEFAULT_RATIO``). ``options`` go to the sampler
    (``max_attempts`` for torchvision and tf-slim, ``min_object_covered`` for tf-slim).
    """
    if method not in SAMPLERS:
        raise ValueError(f"unknown crop sampler {method!r}; expected one of {SAMPLERS}")
    scale = DEFAULT_SCALE[method] if scale is None else tuple(scale)
    ratio = DEFAULT_RATIO[method] if ratio is None else tuple(ratio)
    if method == "paper":
        return sample_crop_paper(width, height, rng, scale=scale, ratio=ratio, **options)
    if method == "torchvision":
        return sample_crop_torchvision(width, height, rng, scale=scale, ratio=ratio, **options)
    return sample_crop_tfslim(width, height, rng, scale=scale, ratio=ratio, **options)


def sample_interpolation(rng: np.random.Generator, interpolations: Sequence[str] = INTERPOLATIONS) -> str:
    """One interpolation name, each of ``interpolations`` with equal probability (one draw)."""
    if len(interpolations) == 0:
        raise ValueError("interpolations must not be empty")
    if len(interpolations) == 1:
        return interpolations[0]
    return interpolations[int(rng.integers(0, len(interpolations)))]


def sample_flip(rng: np.random.Generator, p: float = 0.5) -> bool:
    """Horizontal mirror with probability ``p`` in [0, 1] (one draw, always taken)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"flip probability must be in [0, 1], got {p}")
    return bool(rng.random() < p)


def sampler_stats(width: int, height: int, n: int = 20000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean area fraction, share of areas > 0.9 and ratio range of each sampler on a W x H image."""
    out = {}
    for method in SAMPLERS:
        rng = np.random.default_rng(seed)
        boxes = [sample_crop(width, height, rng, method=method) for _ in range(n)]
        a = np.array([b.area_fraction(width, height) for b in boxes])
        r = np.array([b.ratio for b in boxes])
        out[method] = {"mean_area": float(a.mean()), "share_area_gt_0.9": float((a > 0.9).mean()),
                       "min_area": float(a.min()), "ratio_min": float(r.min()), "ratio_max": float(r.max())}
    return out


if __name__ == "__main__":  # python -m inception_aug.sampling [WIDTH HEIGHT]
    import json
    import sys

    w, h = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) == 3 else (500, 375)
    print(json.dumps({"image": [w, h], "draws": 20000, "seed": 0, **sampler_stats(w, h)}, indent=1))
