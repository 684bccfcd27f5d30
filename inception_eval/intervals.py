"""95% confidence intervals for error rates and for paired differences of error rates.

- One error rate (``k`` wrong of ``n`` images): the Wilson score interval (Wilson 1927), no
  continuity correction. Good coverage down to a few errors, never outside [0, 1].
- A difference of two error rates measured on the *same* images (a configuration vs the baseline):
  Newcombe's hybrid score interval for paired proportions (Newcombe 1998, method 10), built from
  the two Wilson intervals and the phi correlation of the paired 2x2 table; no continuity
  correction. It uses the pairing, so it is narrower than treating the two errors as independent.

All functions are vectorised over numpy arrays and return fractions (errors in [0, 1],
differences in [-1, 1]); ``n == 0`` gives NaN.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Z95", "wilson", "newcombe_paired", "excludes_zero"]

Z95: float = 1.959963984540054
"""The standard normal quantile of 0.975: two-sided 95% intervals."""


def wilson(k, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(lo, hi)`` of the proportion ``k / n`` (arrays or scalars)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(np.maximum(p * (1 - p) / n + z2 / (4 * n * n), 0.0)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def newcombe_paired(n11, n10, n01, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Interval ``(lo, hi)`` of ``p1 - p2`` for paired binary outcomes (Newcombe 1998, method 10).

    Per image: outcome 1 (e.g. "configuration wrong") and outcome 2 (e.g. "baseline wrong").
    ``n11``: both, ``n10``: only outcome 1, ``n01``: only outcome 2, ``n``: images. So
    ``p1 = (n11 + n10) / n``, ``p2 = (n11 + n01) / n`` and the difference is ``(n10 - n01) / n``.
    """
    n11, n10, n01, n = (np.asarray(x, dtype=np.float64) for x in (n11, n10, n01, n))
    n00 = n - n11 - n10 - n01
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = (n11 + n10) / n, (n11 + n01) / n
        l1, u1 = wilson(n11 + n10, n, z)
        l2, u2 = wilson(n11 + n01, n, z)
        marg = (n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
        phi = np.where(marg > 0, (n11 * n00 - n10 * n01) / np.sqrt(np.where(marg > 0, marg, 1.0)), 0.0)
        d = p1 - p2
        lo = d - np.sqrt(np.maximum((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
        hi = d + np.sqrt(np.maximum((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return np.clip(lo, -1.0, 1.0), np.clip(hi, -1.0, 1.0)


def excludes_zero(lo, hi) -> np.ndarray:
    """True where the interval ``[lo, hi]`` lies strictly on one side of 0 (a difference that
    the 95% interval says is not zero)."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    return (lo > 0) | (hi < 0)
