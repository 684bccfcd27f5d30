"""Reports of a :class:`~inception_eval.engine.ScoreResult`: terminal table, JSON, per-image CSV.

All accuracies and errors are fractions in [0, 1] in JSON and percentages in the terminal table.
"""
from __future__ import annotations

import csv
import json
import math
import os
from typing import Any

import numpy as np

from inception_eval import metrics


def _pct(v: float) -> str:
    return "   n/a" if v != v else f"{100 * v:6.2f}"


def summary(result: Any) -> dict:
    """A JSON-ready dict: settings, counts, timings, cost and per (protocol, head) accuracy."""
    per = []
    for (p, h) in result.probs:
        acc = result.accuracy(p, h)
        per.append({"protocol": p, "head": h, **acc.as_dict()})
    n = int(len(result.labels))
    return {
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


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def format_table(result: Any) -> str:
    """Human-readable summary: one row per (protocol, head), then counts, speed and cost."""
    lines = []
    n = len(result.labels)
    nv = int(np.sum(result.valid))
    lines.append(f"{'protocol':<24} {'head':<5} {'views':>6} {'top-1 %':>8} {'top-5 %':>8} "
                 f"{'top-1 err':>9} {'top-5 err':>9}")
    for (p, h) in result.probs:
        a = result.accuracy(p, h)
        lines.append(f"{p[:24]:<24} {h:<5} {result.nominal_views.get(p, 0):>6} {_pct(a.top1):>8} "
                     f"{_pct(a.top5):>8} {_pct(a.top1_error):>9} {_pct(a.top5_error):>9}")
    lines.append(f"images: {nv} scored of {n}" + (f", {len(result.skipped)} unreadable (excluded)" if result.skipped else "")
                 + f"; computed now {result.images_computed}, from cache {result.images_cached}")
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
    (protocol, head): the top-``k`` class indices (``;``-separated, stable order as in
    :mod:`inception_eval.metrics`), the top-1 probability and whether top-1 / top-5 is correct."""
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
