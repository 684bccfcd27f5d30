"""95% intervals: Wilson against scipy, coverage of Wilson and Newcombe's paired interval on
simulated Bernoulli data with known rates, and the intervals the comparison reports."""
from __future__ import annotations

import numpy as np
import pytest

from inception_eval import ensemble as E
from inception_eval import intervals


def test_wilson_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k, n in [(0, 10), (1, 10), (7, 10), (10, 10), (37, 500), (4999, 5000), (123, 1000)]:
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = intervals.wilson(k, n)
        assert (float(lo), float(hi)) == pytest.approx((ref.low, ref.high), abs=1e-12)
    lo, hi = intervals.wilson(np.array([1, 2]), 0)
    assert np.isnan(lo).all() and np.isnan(hi).all()


@pytest.mark.parametrize("p, n", [(0.3, 500), (0.07, 2000), (0.5, 100)])
def test_wilson_coverage(p, n):
    k = np.random.default_rng(12345).binomial(n, p, size=2000)
    lo, hi = intervals.wilson(k, n)
    coverage = np.mean((lo <= p) & (p <= hi))
    assert 0.93 <= coverage <= 0.97, coverage


@pytest.mark.parametrize("cells, n", [((0.20, 0.05, 0.10, 0.65), 1000),  # diff -0.05, correlated
                                      ((0.05, 0.10, 0.10, 0.75), 400),   # diff 0
                                      ((0.30, 0.08, 0.02, 0.60), 2000)])  # diff +0.06
def test_newcombe_paired_coverage(cells, n):
    p11, p10, p01, _ = cells
    diff = p10 - p01
    counts = np.random.default_rng(7).multinomial(n, cells, size=2000)
    lo, hi = intervals.newcombe_paired(counts[:, 0], counts[:, 1], counts[:, 2], n)
    coverage = np.mean((lo <= diff) & (diff <= hi))
    assert 0.93 <= coverage <= 0.97, coverage
    # the pairing helps: narrower on average than two independent Wilson intervals combined
    l1, u1 = intervals.wilson(counts[:, 0] + counts[:, 1], n)
    l2, u2 = intervals.wilson(counts[:, 0] + counts[:, 2], n)
    indep = np.sqrt((u1 - l1) ** 2 + (u2 - l2) ** 2)
    assert np.mean(hi - lo) < np.mean(indep)


def test_newcombe_properties():
    lo, hi = intervals.newcombe_paired(30, 12, 4, 200)
    assert lo < (12 - 4) / 200 < hi
    lo2, hi2 = intervals.newcombe_paired(30, 4, 12, 200)  # outcomes swapped: the interval mirrors
    assert (float(lo2), float(hi2)) == pytest.approx((-float(hi), -float(lo)), abs=1e-12)
    lo, hi = intervals.newcombe_paired(50, 0, 0, 200)  # identical outcomes on every image
    assert lo <= 0 <= hi
    assert intervals.excludes_zero(*intervals.newcombe_paired(10, 60, 0, 200))
    assert not intervals.excludes_zero(*intervals.newcombe_paired(10, 3, 2, 200))


def test_compare_intervals_from_dense_paired_counts():
    rng = np.random.default_rng(3)
    n, c, m = 400, 12, 3
    labels = rng.integers(0, c, n)
    arrays = []
    for _ in range(m):
        logits = rng.normal(size=(n, c))
        logits[np.arange(n), labels] += 1.0
        p = np.exp(logits)
        arrays.append((p / p.sum(1, keepdims=True)).astype(np.float32))
    members = [E.MemberScores(f"m{j}", {("center", "main"): a}, labels, nominal_views={"center": 1})
               for j, a in enumerate(arrays)]
    comp = E.compare_configurations(members, ["center"])
    b = int(comp.baseline.members[0][1:])

    def wrong(sub, k):  # dense, independent: mean, then count classes at or above the true one
        avg = np.mean([arrays[i].astype(np.float64) for i in sub], axis=0)
        t = avg[np.arange(n), labels]
        return ((avg >= t[:, None]).sum(1) - 1) >= k

    for cfg in comp.configs:
        sub = [int(x[1:]) for x in cfg.members]
        for k, err, ci, dci, sig in ((1, cfg.top1, cfg.top1_ci, cfg.d_top1_ci, cfg.d_top1_sig),
                                     (5, cfg.top5, cfg.top5_ci, cfg.d_top5_ci, cfg.d_top5_sig)):
            w, bw = wrong(sub, k), wrong([b], k)
            assert err == pytest.approx(w.mean(), abs=1e-12)
            assert ci == pytest.approx(tuple(map(float, intervals.wilson(w.sum(), n))), abs=1e-12)
            want = intervals.newcombe_paired((w & bw).sum(), (w & ~bw).sum(), (~w & bw).sum(), n)
            assert dci == pytest.approx(tuple(map(float, want)), abs=1e-12)
            assert sig == bool(intervals.excludes_zero(*want))
