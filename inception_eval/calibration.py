"""Calibration of per-image class probabilities: NLL, ECE, Brier score, reliability diagrams.

Definitions (``p``: an image's probability vector, ``y``: its true class, means over images):

- NLL: ``mean(-log(max(p[y], NLL_EPS)))`` with ``NLL_EPS = 1e-12``, so a true class given an exact
  zero costs ``-log(1e-12) = 27.6`` nats instead of infinity.
- ECE (expected calibration error): top-1 confidence ``conf = max_c p[c]``, binned into
  ``ECE_BINS = 15`` equal-width bins on [0, 1] (bin ``min(floor(15 * conf), 14)``);
  ``ECE = sum_b (n_b / n) * |accuracy_b - mean conf_b|``, where top-1 correctness follows the tie
  rule of :func:`inception_eval.metrics.beats_true` (a tied top score is wrong).
- Brier score (multi-class): ``mean(sum_c (p[c] - [c == y])**2)``, in [0, 2].

Reliability diagrams (PNG) are drawn by :func:`inception_eval.plots.plot_reliability` from
:func:`reliability_bins`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from inception_eval import metrics

__all__ = ["NLL_EPS", "ECE_BINS", "Calibration", "calibration", "nll", "brier", "ece",
           "reliability_bins", "ece_columns"]

NLL_EPS: float = 1e-12
ECE_BINS: int = 15


@dataclass(frozen=True)
class Calibration:
    """NLL (nats), ECE and Brier score over ``count`` images (definitions: module docstring)."""

    count: int
    nll: float
    ece: float
    brier: float

    def to_dict(self) -> dict:
        return asdict(self)


def _select(probs, labels, valid):
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        probs, labels = probs[valid], labels[valid]
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(f"probabilities {probs.shape} and labels {labels.shape} do not match")
    return probs, labels


def nll(probs: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood (nats) of the true class, clipped at ``NLL_EPS``."""
    p, y = _select(probs, labels, valid)
    return float(np.mean(-np.log(np.maximum(p[np.arange(len(y)), y], NLL_EPS)))) if len(y) else float("nan")


def brier(probs: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean multi-class Brier score ``sum_c (p[c] - [c == y])**2``."""
    p, y = _select(probs, labels, valid)
    if not len(y):
        return float("nan")
    sq = (p * p).sum(axis=1) - 2 * p[np.arange(len(y)), y] + 1.0
    return float(np.mean(sq))


def ece_columns(conf: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """ECE of every column of ``conf`` / ``correct`` (n, S): (S,) floats (NaN when n == 0).

    One implementation for one probability set (S = 1) and for many ensemble configurations.
    """
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if conf.ndim == 1:
        conf, correct = conf[:, None], correct[:, None]
    n, s = conf.shape
    if n == 0:
        return np.full(s, np.nan)
    idx = np.minimum(np.floor(conf * bins), bins - 1).clip(0).astype(np.int64) + bins * np.arange(s)[None, :]
    size = bins * s
    count = np.bincount(idx.ravel(), minlength=size).reshape(s, bins)
    sum_conf = np.bincount(idx.ravel(), weights=conf.ravel(), minlength=size).reshape(s, bins)
    sum_ok = np.bincount(idx.ravel(), weights=correct.ravel(), minlength=size).reshape(s, bins)
    return np.abs(sum_ok - sum_conf).sum(axis=1) / n  # sum_b n_b/n |acc_b - conf_b|


def _top1(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top-1 confidence, top-1 correct under the tie rule) per image."""
    return p.max(axis=1), metrics.true_class_rank(p, y) == 0


def ece(probs: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None, *, bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top-1 confidence over ``bins`` equal-width bins."""
    p, y = _select(probs, labels, valid)
    conf, ok = _top1(p, y)
    return float(ece_columns(conf, ok, bins)[0])


def reliability_bins(probs: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None, *,
                     bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Per equal-width bin: ``count``, ``confidence`` (mean top-1 confidence) and ``accuracy``
    (top-1 accuracy; NaN in empty bins), plus the bin ``edges`` (bins + 1)."""
    p, y = _select(probs, labels, valid)
    conf, ok = _top1(p, y)
    idx = np.minimum(np.floor(conf * bins), bins - 1).clip(0).astype(np.int64)
    count = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count
        acc = np.bincount(idx, weights=ok.astype(np.float64), minlength=bins) / count
    return {"edges": np.linspace(0.0, 1.0, bins + 1), "count": count, "confidence": mean_conf, "accuracy": acc}


def calibration(probs: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None) -> Calibration:
    """NLL, ECE and Brier score of ``probs`` (N, C) against ``labels`` (N,) over ``valid`` rows."""
    p, y = _select(probs, labels, valid)
    return Calibration(int(len(y)), nll(p, y), ece(p, y), brier(p, y))
