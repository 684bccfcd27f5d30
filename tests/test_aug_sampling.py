"""Crop samplers, interpolation and flip draws: distributions, exact algorithms, edge cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from inception_aug.params import CropBox
from inception_aug.resize import INTERPOLATIONS
from inception_aug.sampling import (
    SAMPLERS,
    paper_area_range,
    sample_crop,
    sample_flip,
    sample_interpolation,
)


def _areas(method, w, h, n, seed=0, **kw):
    rng = np.random.default_rng(seed)
    boxes = [sample_crop(w, h, rng, method=method, **kw) for _ in range(n)]
    assert all(b.inside(w, h) for b in boxes)
    return boxes, np.array([b.area_fraction(w, h) for b in boxes]), np.array([b.ratio for b in boxes])


def test_paper_area_is_uniform_and_ratio_in_range():
    boxes, a, r = _areas("paper", 500, 375, 5000)
    ks = stats.kstest(a, stats.uniform(loc=0.08, scale=0.92).cdf)
    assert ks.pvalue > 1e-3, ks
    assert abs(a.mean() - 0.54) < 0.01
    assert (a > 0.9).mean() > 0.09  # areas above 0.9 really occur (~10.9 %)
    # integer rounding moves the ratio by at most one pixel per side
    tol = np.array([1.0 / b.h + 1.0 / b.w for b in boxes]) * 1.5
    assert (r >= 0.75 * (1 - tol)).all() and (r <= 4 / 3 * (1 + tol)).all()


def test_paper_log_ratio_is_uniform_over_the_ratios_that_fit():
    # A large image keeps rounding noise far below the test's resolution.
    W, H = 8000, 6000
    rng = np.random.default_rng(1)
    u = []
    for _ in range(4000):
        b = sample_crop(W, H, rng, method="paper")
        a = b.area_fraction(W, H)
        lo, hi = max(0.75, a * W / H), min(4 / 3, W / H / a)
        if math.log(hi / lo) > 0.1:
            u.append((math.log(b.ratio) - math.log(lo)) / math.log(hi / lo))
    u = np.clip(u, 0, 1)
    assert len(u) > 2500
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_torchvision_sampler_is_not_uniform():
    _, a, _ = _areas("torchvision", 500, 375, 5000)
    assert stats.kstest(a, stats.uniform(loc=0.08, scale=0.92).cdf).pvalue < 1e-6
    assert abs(a.mean() - 0.43) < 0.015
    assert (a > 0.9).mean() < 0.03


def test_paper_when_no_ratio_fits_keeps_ratio_and_truncates_area():
    # 3:2 image: areas above (4/3)/(3/2) = 0.889 cannot have a ratio <= 4/3.
    assert paper_area_range(600, 400) == pytest.approx((0.08, 8 / 9))
    boxes, a, r = _areas("paper", 600, 400, 4000, seed=2)
    assert a.max() <= 8 / 9 + 0.01
    assert (r <= 4 / 3 + 0.01).all()
    assert stats.kstest(a, stats.uniform(loc=0.08, scale=8 / 9 - 0.08).cdf).pvalue > 1e-3
    # Tall image: mirrored rule.
    assert paper_area_range(400, 600) == pytest.approx((0.08, 8 / 9))
    # Extremely wide (20:1): even 8 % is out of reach: the largest in-range crop, 4:3 full height.
    lo, hi = paper_area_range(2000, 100)
    assert lo == hi == pytest.approx((4 / 3) / 20)
    rng = np.random.default_rng(3)
    for _ in range(50):
        b = sample_crop(2000, 100, rng)
        assert (b.w, b.h) == (133, 100) and b.inside(2000, 100)


def test_paper_draw_order_is_area_ratio_x_y():
    W, H = 500, 375
    rng = np.random.default_rng(7)
    b = sample_crop(W, H, rng)
    u = np.random.default_rng(7)
    a = 0.08 + 0.92 * u.random()
    lo, hi = max(0.75, a * W / H), min(4 / 3, W / H / a)
    r = math.exp(math.log(lo) + math.log(hi / lo) * u.random())
    w, h = round(math.sqrt(a * W * H * r)), round(math.sqrt(a * W * H / r))
    x, y = int(u.integers(0, W - w + 1)), int(u.integers(0, H - h + 1))
    assert b == CropBox(x, y, w, h)


@pytest.mark.parametrize("method", SAMPLERS)
@pytest.mark.parametrize("size", [(1, 1), (1, 500), (500, 1), (2, 3), (75, 56), (224, 224), (411, 120), (4000, 30)])
def test_boxes_stay_inside_for_any_shape(method, size):
    rng = np.random.default_rng(11)
    for _ in range(200):
        b = sample_crop(*size, rng, method=method)
        assert isinstance(b.x, int) and isinstance(b.w, int)
        assert b.inside(*size), (b, size)


def _torchvision_get_params_literal(width, height, scale, ratio, rng):
    """torchvision.transforms.RandomResizedCrop.get_params, transcribed line by line with
    torch.empty(1).uniform_(a, b).item() -> rng.uniform(a, b) and
    torch.randint(0, n, size=(1,)).item() -> rng.integers(0, n)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = rng.integers(0, height - h + 1)
            j = rng.integers(0, width - w + 1)
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w = width
        h = height
    i = (height - h) // 2
    j = (width - w) // 2
    return i, j, h, w


def test_torchvision_parity_with_literal_transcription():
    sizes = [(500, 375), (375, 500), (411, 120), (120, 411), (75, 56), (1200, 477), (3000, 100), (100, 3000)]
    fallbacks = 0
    for k, (W, H) in enumerate(sizes):
        for scale, ratio in [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.5, 1.0), (0.5, 2.0))]:
            ours, ref = np.random.default_rng(k), np.random.default_rng(k)
            for _ in range(300):
                b = sample_crop(W, H, ours, method="torchvision", scale=scale, ratio=ratio)
                i, j, h, w = _torchvision_get_params_literal(W, H, scale, ratio, ref)
                assert (b.y, b.x, b.h, b.w) == (i, j, h, w)
                fallbacks += (b.x, b.y) == ((W - b.w) // 2, (H - b.h) // 2) and b.w * b.h > 0.9 * W * H / 2
    assert fallbacks > 50  # the centre fallback path was exercised (very elongated images)


def _tf_literal(width, height, rng, area_range=(0.05, 1.0), ar_range=(0.75, 1.33), attempts=100, covered=0.1):
    """TF GenerateRandomCrop + SatisfiesOverlapConstraints with the whole image as the box,
    transcribed from sample_distorted_bounding_box_op.cc (float32 via numpy, lrintf = rint)."""
    f = np.float32
    for _ in range(attempts):
        ar = f(rng.random()) * (f(ar_range[1]) - f(ar_range[0])) + f(ar_range[0])
        min_area = f(area_range[0]) * f(width) * f(height)
        max_area = f(area_range[1]) * f(width) * f(height)
        height_ = int(np.rint(np.sqrt(min_area / ar)))
        max_height = int(np.rint(np.sqrt(max_area / ar)))
        if np.rint(f(max_height) * ar) > width:
            max_height = int((width + 0.5 - 0.0000001) / float(ar))
            if np.rint(f(max_height) * ar) > width:
                max_height -= 1
        if max_height > height:
            max_height = height
        if height_ >= max_height:
            height_ = max_height
        if height_ < max_height:
            height_ += int(rng.integers(0, max_height - height_ + 1))
        width_ = int(np.rint(f(height_) * ar))
        area = f(width_ * height_)
        if area < min_area:
            height_ += 1
            width_ = int(np.rint(f(height_) * ar))
            area = f(width_ * height_)
        if area > max_area:
            height_ -= 1
            width_ = int(np.rint(f(height_) * ar))
            area = f(width_ * height_)
        if area < min_area or area > max_area or width_ > width or height_ > height or width_ <= 0 or height_ <= 0:
            continue
        y = int(rng.integers(0, height - height_)) if height_ < height else 0
        x = int(rng.integers(0, width - width_)) if width_ < width else 0
        if area >= 1.0 and area / f(width * height) >= f(covered):
            return (x, y, width_, height_)
    return (0, 0, width, height)


def test_tfslim_matches_transcription_and_its_quirks():
    for k, (W, H) in enumerate([(500, 375), (375, 500), (75, 56), (1, 1000), (411, 120)]):
        ours, ref = np.random.default_rng(k), np.random.default_rng(k)
        for _ in range(300):
            b = sample_crop(W, H, ours, method="tf-slim")
            assert (b.x, b.y, b.w, b.h) == _tf_literal(W, H, ref)
    _, a, r = _areas("tf-slim", 500, 375, 3000, seed=5)
    assert a.min() >= 0.1  # min_object_covered 0.1 with the whole image as the object
    assert (r >= 0.74).all() and (r <= 1.34).all()
    # 1 x 1000: no crop with ratio near 1 exists: whole image
    assert sample_crop(1, 1000, np.random.default_rng(0), method="tf-slim") == CropBox(0, 0, 1, 1000)


def test_unknown_sampler_and_bad_ranges():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown crop sampler"):
        sample_crop(10, 10, rng, method="timm")
    with pytest.raises(ValueError, match="scale"):
        sample_crop(10, 10, rng, scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="ratio"):
        sample_crop(10, 10, rng, ratio=(0, 1))


def test_interpolation_frequencies_chi_square():
    rng = np.random.default_rng(0)
    n = 8000
    draws = [sample_interpolation(rng) for _ in range(n)]
    counts = np.array([draws.count(m) for m in INTERPOLATIONS])
    assert counts.sum() == n
    assert stats.chisquare(counts).pvalue > 1e-3
    # A skewed picker would fail: e.g. two methods only.
    two = [sample_interpolation(rng, ("bilinear", "bicubic")) for _ in range(2000)]
    assert set(two) == {"bilinear", "bicubic"}
    assert stats.chisquare([two.count("bilinear"), two.count("bicubic")]).pvalue > 1e-3
    assert sample_interpolation(rng, ("area",)) == "area"


def test_flip_probability():
    rng = np.random.default_rng(0)
    k = sum(sample_flip(rng) for _ in range(4000))
    assert stats.binomtest(k, 4000, 0.5).pvalue > 1e-3
    assert not any(sample_flip(rng, 0.0) for _ in range(100))
    assert all(sample_flip(rng, 1.0) for _ in range(100))


def _mean_log_ratio(method: str, width: int, height: int, n: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    lr = np.array([math.log(b.ratio) for b in (sample_crop(width, height, rng, method=method) for _ in range(n))])
    return float(lr.mean()), float(lr.std(ddof=1) / math.sqrt(n))


def test_paper_sampler_leans_toward_the_photos_orientation_torchvision_less():
    """The documented lean: on a landscape 500x375 photo the ``paper`` sampler's mean log(w/h) is the
    area-average of the midpoints of the ratio ranges that fit (about +0.075), torchvision's the mean
    of log r over the accepted (area, log r) region (about +0.030). Both are computed here from the
    continuous formulas and compared with seeded draws within 4 standard errors."""
    W, H, n = 500, 375, 20000
    q = W / H
    a = (np.arange(200000) + 0.5) / 200000 * (1 - 0.08) + 0.08
    want_paper = float(((np.log(np.maximum(3 / 4, a * q)) + np.log(np.minimum(4 / 3, q / a))) / 2).mean())
    aa, tt = np.meshgrid((np.arange(2000) + 0.5) / 2000 * (1 - 0.08) + 0.08,
                         math.log(3 / 4) + (np.arange(2000) + 0.5) / 2000 * math.log(16 / 9))
    accepted = (aa * np.exp(tt) <= q) & (aa / np.exp(tt) <= 1 / q)  # w <= W and h <= H
    want_tv = float(tt[accepted].mean())
    paper, se_p = _mean_log_ratio("paper", W, H, n, seed=21)
    tv, se_t = _mean_log_ratio("torchvision", W, H, n, seed=22)
    assert abs(paper - want_paper) < 4 * se_p, (paper, want_paper, se_p)
    assert abs(tv - want_tv) < 4 * se_t, (tv, want_tv, se_t)
    # the lean is toward the photo's own orientation (log(4/3) > 0) and stronger for ``paper``
    assert paper - tv > 4 * math.hypot(se_p, se_t) and tv > 4 * se_t
