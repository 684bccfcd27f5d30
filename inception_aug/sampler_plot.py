"""Histograms of the crop samplers (library side of ``inception-aug hist``): the sampled crop area
and log aspect ratio of each sampler on one image size, with summary statistics.

Plotting needs matplotlib (the ``[plot]`` extra); without it :func:`plot_sampler_histograms`
raises ``UsageError`` saying what to install.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from inception_aug.errors import UsageError
from inception_aug.sampling import sample_crop

__all__ = ["sample_stats", "summarize", "plot_sampler_histograms"]


def sample_stats(sampler: str, width: int, height: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` crops from ``sampler``: (area fractions, aspect ratios w/h) as float arrays."""
    rng = np.random.default_rng(seed)
    area = np.empty(n)
    ratio = np.empty(n)
    for i in range(n):
        b = sample_crop(width, height, rng, method=sampler)
        area[i] = b.w * b.h / (width * height)
        ratio[i] = b.w / b.h
    return area, ratio


def summarize(area: np.ndarray, ratio: np.ndarray) -> dict:
    """Count, mean/min/max area fraction, share of areas > 0.9, ratio range and the share of ratios
    outside [3/4, 4/3] (rounded to 4 digits)."""
    return {"n": int(area.size), "area_mean": round(float(area.mean()), 4),
            "area_min": round(float(area.min()), 4), "area_max": round(float(area.max()), 4),
            "area_gt_0.9": round(float((area > 0.9).mean()), 4),
            "ratio_min": round(float(ratio.min()), 4), "ratio_max": round(float(ratio.max()), 4),
            "ratio_out_of_[3/4,4/3]": round(float(((ratio < 0.75 - 1e-9) | (ratio > 4 / 3 + 1e-9)).mean()), 4)}


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("matplotlib is needed for plots; install it with "
                         "pip install 'inception-toolkit[plot]' (or pip install matplotlib)") from None
    return plt


def plot_sampler_histograms(samplers: Sequence[str], width: int, height: int, n: int, out: Union[str, Path], *,
                            seed: int = 0, dpi: int = 100) -> list[dict]:
    """Draw ``n`` crops per sampler on a ``width`` x ``height`` image (pixels), plot the area and
    log-ratio histograms into the image file ``out`` (parent folders created) and return one
    summary dict per sampler (``{"sampler", "size", **summarize(...)}``)."""
    plt = _pyplot()
    rows, results = [], {}
    for s in samplers:
        area, ratio = sample_stats(s, width, height, n, seed)
        results[s] = (area, ratio)
        rows.append({"sampler": s, "size": f"{width}x{height}", **summarize(area, ratio)})
    fig, (ax_a, ax_r) = plt.subplots(1, 2, figsize=(10, 3.6))
    bins_a = np.linspace(0, 1, 51)
    bins_r = np.linspace(math.log(0.5), math.log(2.0), 61)
    for s, (area, ratio) in results.items():
        ax_a.hist(area, bins=bins_a, density=True, histtype="step", linewidth=1.5, label=s)
        ax_r.hist(np.log(ratio), bins=bins_r, density=True, histtype="step", linewidth=1.5, label=s)
    ax_a.set_xlabel("crop area / image area")
    ax_a.set_ylabel("density")
    ax_r.set_xlabel("aspect ratio w/h (log scale)")
    ticks = [0.5, 0.75, 1.0, 4 / 3, 2.0]
    ax_r.set_xticks([math.log(t) for t in ticks], ["1/2", "3/4", "1", "4/3", "2"])
    for ax in (ax_a, ax_r):
        ax.legend(fontsize=8)
    fig.suptitle(f"crop samplers on a {width}x{height} image, {n} draws each")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return rows
