"""Top-k accuracy and error from per-image class scores, under one tie rule.

The tie rule lives in :func:`beats_true` and nowhere else: every path that ranks a true class
(``score`` through :func:`accuracy`, ``compare`` and greedy selection through
:mod:`inception_eval.ensemble`, the reports) calls it. Images with ``valid == False``
(unreadable) are excluded from numerator and denominator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inception_eval import intervals

__all__ = ["TOPK", "beats_true", "rank_counts", "true_class_rank", "boundary_ties", "Accuracy", "accuracy"]

TOPK: tuple[int, ...] = (1, 5)
"""The k of the reported top-k errors."""


def beats_true(score: np.ndarray, true_score: np.ndarray | float = 0.0) -> np.ndarray:
    """The tie rule: does a class rank above the true class?

    ``score`` is a class's score and ``true_score`` the true class's (broadcastable arrays), or
    ``score`` is the margin ``score(c) - score(true class)`` and ``true_score`` is 0. A class other
    than the true one ranks above it when its score is greater than **or equal to** the true
    class's, so a tie is never a success: an image whose true class shares the top score with
    another class is top-1 wrong, whatever the class indices. The true class's rank is the number
    of other classes for which this is True, and top-k is correct iff ``rank < k``.
    """
    return np.greater_equal(score, true_score)


def rank_counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rank, strictly_higher)`` of each image's true class, both (N,) int64.

    ``rank`` counts the other classes that :func:`beats_true` (ties included), ``strictly_higher``
    those with a strictly greater score. ``scores`` (N, C) float, ``labels`` (N,) int in [0, C).
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} do not match")
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    true = scores[np.arange(len(labels)), labels][:, None]
    rank = np.count_nonzero(beats_true(scores, true), axis=1) - 1  # minus the true class itself
    higher = np.count_nonzero(scores > true, axis=1)
    return rank.astype(np.int64), higher.astype(np.int64)


def true_class_rank(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """0-based rank of each image's true class under :func:`beats_true` (ties rank above it). (N,) int64."""
    return rank_counts(scores, labels)[0]


def boundary_ties(rank: np.ndarray, strictly_higher: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: images whose top-``k`` outcome a tie decided (correct if ties went the other way).

    True when fewer than ``k`` classes score strictly higher but ``k`` or more score higher or equal.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    return (np.asarray(strictly_higher) < k) & (np.asarray(rank) >= k)


@dataclass(frozen=True)
class Accuracy:
    """Top-1/top-5 over ``count`` valid images; accuracies and errors are fractions in [0, 1].

    ``ties_top1`` / ``ties_top5``: images whose top-1 / top-5 outcome a tie decided (counted wrong,
    see :func:`beats_true`). ``wrong_top1`` / ``wrong_top5``: images wrong (errors are these counts
    over ``count``, exactly as the ensemble comparison computes them). Intervals are 95% Wilson
    score intervals (:mod:`inception_eval.intervals`).
    """

    count: int
    top1: float
    top5: float
    ties_top1: int = 0
    ties_top5: int = 0
    wrong_top1: int | None = None
    wrong_top5: int | None = None

    def _wrong(self, k: int) -> float:
        wrong = {1: self.wrong_top1, 5: self.wrong_top5}[k]
        return float(wrong) if wrong is not None else (1.0 - {1: self.top1, 5: self.top5}[k]) * self.count

    @property
    def top1_error(self) -> float:
        if not self.count:
            return float("nan")
        return self.wrong_top1 / self.count if self.wrong_top1 is not None else 1.0 - self.top1

    @property
    def top5_error(self) -> float:
        if not self.count:
            return float("nan")
        return self.wrong_top5 / self.count if self.wrong_top5 is not None else 1.0 - self.top5

    def error_interval(self, k: int) -> tuple[float, float]:
        """95% Wilson interval of the top-``k`` error (k in 1, 5), fractions."""
        if not self.count:
            return float("nan"), float("nan")
        lo, hi = intervals.wilson(round(self._wrong(k)), self.count)
        return float(lo), float(hi)

    def to_dict(self) -> dict:
        """Plain dict: counts, accuracies, errors, their 95% Wilson intervals and tie counts."""
        out: dict = {"images": self.count, "top1": self.top1, "top5": self.top5,
                     "top1_error": self.top1_error, "top5_error": self.top5_error}
        for k in TOPK:
            out[f"top{k}_error_ci95"] = list(self.error_interval(k))
        out["ties_top1"], out["ties_top5"] = self.ties_top1, self.ties_top5
        return out


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
    rank, higher = rank_counts(scores, labels)
    return Accuracy(n, float((rank < 1).mean()), float((rank < 5).mean()),
                    int(boundary_ties(rank, higher, 1).sum()), int(boundary_ties(rank, higher, 5).sum()),
                    int((rank >= 1).sum()), int((rank >= 5).sum()))
