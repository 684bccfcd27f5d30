"""Top-k accuracy and error from per-image class scores.

Ties: an image is top-k correct when its true class is among the first k of a *stable* descending
sort of its scores, i.e. equal scores are ordered by lower class index first. Equivalently the true
class's rank is (#classes scoring strictly higher) + (#classes with an equal score and a lower index).
This is deterministic, never counts an image twice, and matches ``np.argsort(-p, kind="stable")``.
Images with ``valid == False`` (unreadable) are excluded from numerator and denominator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def true_class_rank(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """0-based rank of each image's true class under the stable descending order (see module doc).

    ``scores`` (N, C) float, ``labels`` (N,) int in [0, C). Returns (N,) int64.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} do not match")
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    true = scores[np.arange(len(labels)), labels][:, None]
    higher = (scores > true).sum(axis=1)
    cols = np.arange(scores.shape[1])[None, :]
    equal_before = ((scores == true) & (cols < labels[:, None])).sum(axis=1)
    return (higher + equal_before).astype(np.int64)


def topk_correct(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: true class among the top ``k`` (k >= 1)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    return true_class_rank(scores, labels) < k


@dataclass(frozen=True)
class Accuracy:
    """Top-1/top-5 over ``count`` valid images; accuracies and errors are fractions in [0, 1]."""

    count: int
    top1: float
    top5: float

    @property
    def top1_error(self) -> float:
        return 1.0 - self.top1 if self.count else float("nan")

    @property
    def top5_error(self) -> float:
        return 1.0 - self.top5 if self.count else float("nan")

    def as_dict(self) -> dict:
        return {"images": self.count, "top1": self.top1, "top5": self.top5,
                "top1_error": self.top1_error, "top5_error": self.top5_error}


def accuracy(scores: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None) -> Accuracy:
    """Top-1 and top-5 accuracy of ``scores`` (N, C) against ``labels`` (N,) over ``valid`` rows.

    With no valid image the accuracies are NaN (count 0), never a division by zero.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels, dtype=np.int64)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        scores, labels = scores[valid], labels[valid]
    n = int(labels.shape[0])
    if n == 0:
        return Accuracy(0, float("nan"), float("nan"))
    rank = true_class_rank(scores, labels)
    return Accuracy(n, float((rank < 1).mean()), float((rank < 5).mean()))
