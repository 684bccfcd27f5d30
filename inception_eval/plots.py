"""Plots for the ensemble comparison (matplotlib is optional: ``pip install -e ".[plot]"``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

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


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlotUnavailable(
            "plotting needs matplotlib, which is not installed; install the 'plot' extra: "
            "pip install -e \".[plot]\" (or pip install matplotlib)") from e
    return plt


def plot_cost_vs_error(comp: Comparison, path: str | os.PathLike, *, title: str | None = None,
                       paper_reference: bool = True, dpi: int = 110) -> Path:
    """Write a PNG: top-5 error (%) against cost (models x crops, log axis), one marker per configuration.

    Markers are coloured by protocol and shaped by classifier set; the Pareto front (lowest error
    for at most that cost) over all configurations is drawn as a step line; the paper's six Table 3
    points are a separate reference series (ImageNet figures, not comparable data). Raises
    :class:`PlotUnavailable` with install advice when matplotlib is missing.
    """
    plt = _pyplot()
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
            ax.scatter([c.cost for c in pts], [100 * c.top5 for c in pts], s=22, alpha=0.7,
                       color=colours[pi % len(colours)], marker=shapes[ci % len(shapes)], label=label,
                       zorder=3)
    pts = [(c.cost, c.top5) for c in comp.configs]
    front = [comp.configs[i] for i in pareto_front(pts)]
    if front:
        xs, ys = [], []
        for c in front:  # step line: error holds until the next cheaper-is-better point
            if xs:
                xs.append(c.cost)
                ys.append(ys[-1])
            xs.append(c.cost)
            ys.append(100 * c.top5)
        ax.plot(xs, ys, color="black", lw=1.2, zorder=4, label="Pareto front (ours)")
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


def matplotlib_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        _pyplot()
    except PlotUnavailable:
        return False
    return True


__all__: Sequence[str] = ("PAPER_TABLE3", "PlotUnavailable", "plot_cost_vs_error", "matplotlib_available")
