"""Reports of a :class:`~inception_eval.results.ScoreResult`: terminal table, JSON, per-image and
per-class CSV, reliability diagrams.

All accuracies and errors are fractions in [0, 1] in JSON and percentages in the terminal table.
Every error has a 95% Wilson interval; ties follow :func:`inception_eval.metrics.beats_true` (a
class scoring equal to the true class ranks above it) and the images a tie decided are counted;
calibration (NLL, ECE, Brier) is defined in :mod:`inception_eval.calibration`.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from inception_aug.plain import to_plain
from inception_eval import calibration, metrics

__all__ = ["TIES_DEFINITION", "CALIBRATION_DEFINITION", "DEFINITIONS", "PER_CLASS_FIELDS", "summary", "format_table", "write_json", "write_predictions",
           "write_probs", "per_class", "confusions", "write_per_class", "write_reliability"]

TIES_DEFINITION = ("ties: a class whose probability equals the true class's ranks above it (a tie is never "
                   "a success); ties_top1/ties_top5 count the images whose top-1/top-5 outcome a tie decided")
CALIBRATION_DEFINITION = (f"calibration: NLL in nats (true-class probability clipped at {calibration.NLL_EPS:g}), "
                          f"ECE over {calibration.ECE_BINS} equal-width bins of top-1 confidence, Brier score "
                          "summed over classes")
DEFINITIONS: tuple[str, ...] = (TIES_DEFINITION, "intervals: 95% Wilson score intervals of the errors",
                                CALIBRATION_DEFINITION)
"""How the reported numbers are defined (in the JSON summary and under the terminal table)."""


def _pct(v: float) -> str:
    return "   n/a" if v != v else f"{100 * v:6.2f}"


def summary(result: Any) -> dict:
    """A JSON-ready dict: settings, counts, timings, cost and per (protocol, head) accuracy."""
    per = [_entry(result, p, h) for (p, h) in result.probs]
    n = int(len(result.labels))
    return {
        "definitions": list(DEFINITIONS),
        "checkpoint_sha256": result.checkpoint_sha256,
        "protocols": list(result.protocols),
        "heads": list(result.heads),
        "precision": result.precision,
        "device": result.device,
        "world_size": result.world_size,
        "settings": result.settings,
        "images": n,
        "images_valid": int(np.sum(result.valid)),
        "images_skipped": len(result.skipped),
        "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
        "images_computed": int(result.images_computed),
        "images_cached": int(result.images_cached),
        "seconds": float(result.seconds),
        "model_seconds": float(result.model_seconds),
        "stored_seconds": float(result.stored_seconds),
        "images_per_second": _finite(result.images_per_second),
        "views_per_second": _finite(result.views_per_second),
        "forward_views": int(result.forward_views),
        "nominal_views_per_image": dict(result.nominal_views),
        "total_nominal_views": dict(result.total_nominal_views),
        "total_unique_views": int(result.total_unique_views),
        "cache_path": result.cache_path,
        "results": per,
    }


def _entry(result: Any, protocol: str, head: str) -> dict:
    """One (protocol, head): accuracy, errors with intervals, ties, calibration, top confusions."""
    probs, labels, valid = result.probs[(protocol, head)], result.labels, result.valid
    cal = calibration.calibration(probs, labels, valid)
    row = {"protocol": protocol, "head": head, **result.accuracy(protocol, head).to_dict(),
           "nll": cal.nll, "ece": cal.ece, "brier": cal.brier}
    row["confusions"] = [{"true": t, "predicted": q, "count": c}
                         for t, q, c in confusions(probs, labels, valid, top=20)]
    return to_plain(row, nan_as_none=True)


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _ci(err: float, ci: tuple[float, float]) -> str:
    return "n/a" if err != err else f"{100 * err:.2f} [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"


def _class_name(names: list[str] | None, k: int) -> str:
    return names[k] if names and 0 <= k < len(names) else str(k)


def _accuracy_rows(result: Any) -> list[str]:
    lines = [f"{'protocol':<24} {'head':<5} {'views':>6} {'top-1 %':>8} {'top-5 %':>8} "
             f"{'top-1 err [95% CI]':>22} {'top-5 err [95% CI]':>22} {'ties 1/5':>9} {'NLL':>7} {'ECE':>6} {'Brier':>6}"]
    for (p, h) in result.probs:
        a = result.accuracy(p, h)
        cal = calibration.calibration(result.probs[(p, h)], result.labels, result.valid)
        lines.append(f"{p[:24]:<24} {h:<5} {result.nominal_views.get(p, 0):>6} {_pct(a.top1):>8} "
                     f"{_pct(a.top5):>8} {_ci(a.top1_error, a.error_interval(1)):>22} "
                     f"{_ci(a.top5_error, a.error_interval(5)):>22} {f'{a.ties_top1}/{a.ties_top5}':>9} "
                     f"{cal.nll:>7.4f} {cal.ece:>6.4f} {cal.brier:>6.4f}")
    return lines


def _confusion_lines(result: Any, top: int) -> list[str]:
    lines = []
    for (p, h) in result.probs:
        pairs = confusions(result.probs[(p, h)], result.labels, result.valid, top=top)
        if pairs:
            names = result.class_names
            text = ", ".join(f"{_class_name(names, t)} -> {_class_name(names, q)} ({c})" for t, q, c in pairs)
            lines.append(f"most frequent confusions, {p}/{h} (true -> predicted (images), top {top}): {text}")
    return lines


def _run_lines(result: Any) -> list[str]:
    n, nv = len(result.labels), int(np.sum(result.valid))
    lines = [f"images: {nv} scored of {n}" + (f", {len(result.skipped)} unreadable (excluded)" if result.skipped else "")
             + f"; computed now {result.images_computed}, from cache {result.images_cached}"]
    for path, reason in result.skipped[:20]:
        lines.append(f"  skipped {path}: {reason}")
    if len(result.skipped) > 20:
        lines.append(f"  ... and {len(result.skipped) - 20} more (see the JSON output)")
    if result.images_computed:
        outside = 1.0 - result.model_seconds / result.seconds if result.seconds > 0 else float("nan")
        lines.append(f"speed: {result.images_per_second:.2f} images/s, {result.views_per_second:.1f} views/s "
                     f"({result.seconds:.1f} s, {100 * outside:.0f}% outside the model; "
                     f"{result.precision} on {result.device}" + (f", {result.world_size} processes" if result.world_size > 1 else "") + ")")
    nominal = sum(result.total_nominal_views.values())
    if nominal:
        parts = ", ".join(f"{k} {v}" for k, v in result.total_nominal_views.items())
        lines.append(f"cost: nominal {nominal} views ({parts}); forward passes needed {result.total_unique_views} "
                     f"({result.total_unique_views / nominal:.1%} of nominal, shared pass + dedupe)")
    return lines


def format_table(result: Any, *, confusions_top: int = 20) -> str:
    """Human-readable summary: one row per (protocol, head) with errors, 95% Wilson intervals, ties
    and calibration; the ``confusions_top`` most frequent confusions per row (0: none); then
    counts, speed, cost and the definitions."""
    lines = _accuracy_rows(result)
    if confusions_top:
        lines += _confusion_lines(result, confusions_top)
    lines += _run_lines(result)
    lines += [f"  {d}" for d in DEFINITIONS]
    return "\n".join(lines)


def write_json(result: Any, path: str | os.PathLike) -> dict:
    """Write :func:`summary` to ``path`` (indented JSON); returns the dict."""
    data = summary(result)
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    return data


def write_predictions(result: Any, path: str | os.PathLike, *, k: int = 5) -> None:
    """Per-image CSV: index, path, label, status (ok / skipped: reason), then for each
    (protocol, head): the top-``k`` class indices (``;``-separated, equal probabilities listed
    lower index first), the top-1 probability and whether top-1 / top-5 is correct (under the
    tie rule of :func:`inception_eval.metrics.beats_true`, so a tied true class is not correct even
    where it is listed first)."""
    reasons = {p: r for p, r in result.skipped}
    cols = ["index", "path", "label", "status"]
    keys = list(result.probs)
    for p, h in keys:
        tag = p if h == "main" else f"{p}/{h}"
        cols += [f"{tag}:top{k}", f"{tag}:p1", f"{tag}:top1_ok", f"{tag}:top5_ok"]
    tops, p1s, ranks = {}, {}, {}
    for e in keys:
        pr = result.probs[e]
        order = np.argsort(-pr, axis=1, kind="stable")[:, :k]
        tops[e] = order
        p1s[e] = pr[np.arange(len(pr)), order[:, 0]] if len(pr) else np.zeros(0)
        ranks[e] = metrics.true_class_rank(pr, result.labels)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for i, (path_i, y) in enumerate(zip(result.paths, result.labels.tolist())):
            ok = bool(result.valid[i])
            row: list = [i, path_i, y, "ok" if ok else f"skipped: {reasons.get(path_i, 'unreadable')}"]
            for e in keys:
                if ok:
                    row += [";".join(map(str, tops[e][i].tolist())), f"{p1s[e][i]:.6f}",
                            int(ranks[e][i] < 1), int(ranks[e][i] < 5)]
                else:
                    row += ["", "", "", ""]
            w.writerow(row)


def write_probs(result: Any, path: str | os.PathLike) -> None:
    """``.npz`` with ``labels``, ``valid`` and one (N, C) float32 array per ``<protocol>|<head>``."""
    arrays = {f"{p}|{h}": v for (p, h), v in result.probs.items()}
    np.savez(path, labels=result.labels, valid=result.valid, **arrays)


def per_class(probs: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None,
              class_names: list[str] | None = None) -> list[dict]:
    """One dict per class: ``class``, ``name`` ("" when unknown), ``images`` (valid images of that
    true class), ``top1_accuracy`` and ``top5_accuracy`` (fractions; NaN without images)."""
    probs, labels = np.asarray(probs), np.asarray(labels, dtype=np.int64)
    if valid is not None:
        probs, labels = probs[np.asarray(valid, bool)], labels[np.asarray(valid, bool)]
    n_classes = probs.shape[1]
    rank = metrics.true_class_rank(probs, labels)
    images = np.bincount(labels, minlength=n_classes)
    hit1 = np.bincount(labels, weights=(rank < 1).astype(float), minlength=n_classes)
    hit5 = np.bincount(labels, weights=(rank < 5).astype(float), minlength=n_classes)
    out = []
    for k in range(n_classes):
        m = int(images[k])
        out.append({"class": k, "name": class_names[k] if class_names and k < len(class_names) else "",
                    "images": m, "top1_accuracy": hit1[k] / m if m else float("nan"),
                    "top5_accuracy": hit5[k] / m if m else float("nan")})
    return out


def confusions(probs: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None, *,
               top: int = 20) -> list[tuple[int, int, int]]:
    """The ``top`` most frequent (true class, predicted class, images) among top-1 errors, most
    frequent first (then by true, predicted). The predicted class of a wrong image is the
    highest-scoring class other than the true one (lowest index among equals): the class that
    beat or tied the true class."""
    probs, labels = np.asarray(probs), np.asarray(labels, dtype=np.int64)
    if valid is not None:
        probs, labels = probs[np.asarray(valid, bool)], labels[np.asarray(valid, bool)]
    wrong = np.flatnonzero(metrics.true_class_rank(probs, labels) >= 1)
    if wrong.size == 0:
        return []
    others = probs[wrong].astype(np.float64)
    others[np.arange(wrong.size), labels[wrong]] = -np.inf
    pairs = labels[wrong] * probs.shape[1] + others.argmax(axis=1)
    uniq, counts = np.unique(pairs, return_counts=True)
    order = np.lexsort((uniq, -counts))[:top]
    return [(int(uniq[i] // probs.shape[1]), int(uniq[i] % probs.shape[1]), int(counts[i])) for i in order]


PER_CLASS_FIELDS = ("protocol", "head", "class", "name", "images", "top1_accuracy", "top5_accuracy")


def write_per_class(result: Any, path: str | os.PathLike) -> Path:
    """CSV with one row per (protocol, head, class): images and top-1 / top-5 accuracy (fractions)."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(PER_CLASS_FIELDS)
        for (p, h), probs in result.probs.items():
            for row in per_class(probs, result.labels, result.valid, result.class_names):
                acc = [("" if v != v else f"{v:.6f}") for v in (row["top1_accuracy"], row["top5_accuracy"])]
                w.writerow([p, h, row["class"], row["name"], row["images"], *acc])
    return path


def write_reliability(result: Any, out_dir: str | os.PathLike) -> list[Path]:
    """One reliability diagram per (protocol, head): ``reliability_<protocol>[_<head>].png`` under
    ``out_dir``. Needs matplotlib (the ``plot`` extra): raises
    :class:`inception_eval.plots.PlotUnavailable` with install advice without it."""
    from inception_eval.plots import plot_reliability

    written = []
    for (p, h), probs in result.probs.items():
        tag = p if h == "main" else f"{p}_{h}"
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in tag)
        written.append(plot_reliability(probs, result.labels, Path(out_dir) / f"reliability_{safe}.png",
                                        valid=result.valid, title=f"{p}, {h} head"))
    return written
