"""Plots: the ensemble comparison (cost vs error with 95% intervals) and reliability diagrams.

matplotlib is optional: ``pip install -e ".[plot]"``; without it every plot raises
:class:`PlotUnavailable` with that advice.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from inception_aug.errors import UsageError
from inception_eval import calibration
from inception_eval.ensemble import Comparison, pareto_front

# The paper's Table 3 (Szegedy et al. 2014, "Going deeper with convolutions"): GoogLeNet on the
# ILSVRC 2012 validation set, (models, crops, cost = models x crops, top-5 error in %).
PAPER_TABLE3: tuple[tuple[int, int, int, float], ...] = (
    (1, 1, 1, 10.07),
    (1, 10, 10, 9.15),
    (1, 144, 144, 7.89),
    (7, 1, 7, 8.09),
    (7, 10, 70, 7.62),
    (7, 144, 1008, 6.67),
)


class PlotUnavailable(UsageError, RuntimeError):
    """matplotlib is not installed (exit code 2 when a command was asked for a plot; ``compare``
    notes it and writes everything else)."""


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend; :class:`PlotUnavailable` with install
    advice when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlotUnavailable(
            "plotting needs matplotlib, which is not installed; install the 'plot' extra: "
            "pip install -e \".[plot]\" (or pip install matplotlib)") from e
    return plt


def _draw_front(ax, comp: Comparison) -> None:
    """The Pareto front over all configurations as a step line (error holds until the next point)."""
    front = [comp.configs[i] for i in pareto_front([(c.cost, c.top5) for c in comp.configs])]
    xs: list[float] = []
    ys: list[float] = []
    for c in front:
        if xs:
            xs.append(c.cost)
            ys.append(ys[-1])
        xs.append(c.cost)
        ys.append(100 * c.top5)
    if xs:
        ax.plot(xs, ys, color="black", lw=1.2, zorder=4, label="Pareto front (ours)")


def plot_cost_vs_error(comp: Comparison, path: str | os.PathLike, *, title: str | None = None,
                       paper_reference: bool = True, dpi: int = 110) -> Path:
    """Write a PNG: top-5 error (%) against cost (models x crops, log axis), one marker per configuration.

    Markers are coloured by protocol and shaped by classifier set, with 95% Wilson intervals as
    error bars; the Pareto front (lowest error
    for at most that cost) over all configurations is drawn as a step line; the paper's six Table 3
    points are a separate reference series (ImageNet figures, not comparable data). Raises
    :class:`PlotUnavailable` with install advice when matplotlib is missing.
    """
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8.6, 4.6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    shapes = ["o", "s", "^", "D", "v"]
    for pi, proto in enumerate(comp.protocols):
        for ci, cls in enumerate(comp.classifier_sets):
            pts = [c for c in comp.configs if c.protocol == proto and c.classifiers == cls]
            if not pts:
                continue
            label = proto if len(comp.classifier_sets) == 1 else f"{proto}, {cls}"
            ys = np.array([100 * c.top5 for c in pts])
            err = np.array([[100 * c.top5 - 100 * c.top5_ci[0], 100 * c.top5_ci[1] - 100 * c.top5] for c in pts]).T
            ax.errorbar([c.cost for c in pts], ys, yerr=np.nan_to_num(err), fmt=shapes[ci % len(shapes)],
                        ms=4.5, alpha=0.7, color=colours[pi % len(colours)], elinewidth=0.7, capsize=1.5,
                        label=label, zorder=3)
    _draw_front(ax, comp)
    b = comp.baseline
    ax.axhline(100 * b.top5, color="grey", lw=0.8, ls=":", zorder=1,
               label=f"baseline: {b.members[0]} @ {b.protocol}")
    if paper_reference:
        ax.scatter([r[2] for r in PAPER_TABLE3], [r[3] for r in PAPER_TABLE3], marker="*", s=90,
                   color="crimson", zorder=5, label="paper Table 3 (ImageNet figures)")
        for m, cr, cost, err in PAPER_TABLE3:
            ax.annotate(f"{m}m x {cr}c", (cost, err), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color="crimson")
    ax.set_xscale("log")
    ax.set_xlabel("cost = models x crops (log scale)")
    ax.set_ylabel("top-5 error (%)")
    ax.set_title(title or f"Ensemble configurations on {comp.n_images} images")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_reliability(probs: np.ndarray, labels: np.ndarray, path: str | os.PathLike, *,
                     valid: np.ndarray | None = None, title: str = "", bins: int = calibration.ECE_BINS,
                     dpi: int = 100) -> Path:
    """Write a reliability diagram (PNG): top-1 accuracy per equal-width confidence bin against
    the diagonal, ECE / NLL / Brier in the corner, the bins' image counts below.

    Raises :class:`PlotUnavailable` with install advice when matplotlib is missing.
    """
    plt = pyplot()
    rb = calibration.reliability_bins(probs, labels, valid, bins=bins)
    cal = calibration.calibration(probs, labels, valid)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(4.6, 5.4), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centres = (rb["edges"][:-1] + rb["edges"][1:]) / 2
    width = 0.95 / bins
    ax.bar(centres, np.nan_to_num(rb["accuracy"]), width=width, color="tab:blue", alpha=0.75, label="top-1 accuracy")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title or "reliability diagram", fontsize=9)
    ax.text(0.02, 0.97, f"ECE {cal.ece:.4f} ({bins} bins)\nNLL {cal.nll:.4f}\nBrier {cal.brier:.4f}\n"
            f"{cal.count} images", transform=ax.transAxes, va="top", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    ax2.bar(centres, rb["count"], width=width, color="grey")
    ax2.set_xlabel("top-1 confidence")
    ax2.set_ylabel("images")
    ax2.set_xlim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


__all__: Sequence[str] = ("PAPER_TABLE3", "PlotUnavailable", "pyplot", "plot_cost_vs_error", "plot_reliability")
