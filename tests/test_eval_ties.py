"""One tie rule on every path: a class scoring equal to the true class ranks above it.

Constructed arrays with ties (uniform probabilities, exact zeros, bf16-rounded logits) go through
``score``'s metrics, the report, the comparison's fast path (one member and several), greedy
selection and the dense reference; all must agree with a plain count written here.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inception_eval import ensemble as E
from inception_eval import metrics, report
from inception_eval.results import Provenance, RunStats, ScoreResult, Scores


def plain_rank(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Independent reference: loop over classes, count those >= the true class (not itself)."""
    out = np.zeros(len(y), dtype=np.int64)
    for i in range(len(y)):
        out[i] = sum(1 for c in range(p.shape[1]) if c != y[i] and p[i, c] >= p[i, y[i]])
    return out


def plain_ties(p, y, k):
    strict = np.array([(p[i] > p[i, y[i]]).sum() for i in range(len(y))])
    return int(((strict < k) & (plain_rank(p, y) >= k)).sum())


def _uniform(n=12, c=8):
    return np.full((n, c), 1.0 / c, np.float32), np.arange(n) % c


def _zeros(n=40, c=9, seed=0):
    """One-hot-ish rows: a random class gets all the mass, the rest exact zeros."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    p = np.zeros((n, c), np.float32)
    hot = np.where(rng.random(n) < 0.5, y, rng.integers(0, c, n))
    p[np.arange(n), hot] = 1.0
    return p, y


def _bf16(n=200, c=20, seed=1):
    """Softmax of bf16-rounded logits: many exact ties (bf16 keeps 8 bits of mantissa)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) * 0.05
    logits[np.arange(n), y] += rng.choice([0.0, 0.05], n)
    rounded = torch.tensor(logits, dtype=torch.float32).to(torch.bfloat16).float()
    return torch.softmax(rounded, dim=1).numpy(), y


CASES = {"uniform": _uniform, "zeros": _zeros, "bf16": _bf16}


@pytest.mark.parametrize("case", list(CASES))
def test_metrics_rank_and_ties_follow_the_rule(case):
    p, y = CASES[case]()
    rank, higher = metrics.rank_counts(p, y)
    assert rank.tolist() == plain_rank(p, y).tolist()
    acc = metrics.accuracy(p, y)
    assert acc.top1 == pytest.approx(np.mean(plain_rank(p, y) < 1))
    assert acc.top5 == pytest.approx(np.mean(plain_rank(p, y) < 5))
    assert (acc.ties_top1, acc.ties_top5) == (plain_ties(p, y, 1), plain_ties(p, y, 5))
    assert acc.ties_top1 + acc.ties_top5 > 0  # every constructed case has ties at a boundary


def test_uniform_is_never_correct():
    p, y = _uniform()
    acc = metrics.accuracy(p, y)
    assert (acc.top1, acc.top5, acc.ties_top1, acc.ties_top5) == (0.0, 0.0, 12, 12)


def _one_member(p, y):
    return E.MemberScores("only", {("center", "main"): p}, y, nominal_views={"center": 1})


@pytest.mark.parametrize("case", list(CASES))
def test_one_member_compare_equals_score(case):
    p, y = CASES[case]()
    acc = metrics.accuracy(p, y)
    comp = E.compare_configurations([_one_member(p, y)], ["center"], greedy=True)
    (cfg,) = comp.configs
    assert (cfg.top1, cfg.top5) == (acc.top1_error, acc.top5_error)
    assert (cfg.ties_top1, cfg.ties_top5) == (acc.ties_top1, acc.ties_top5)
    assert (comp.baseline.top1, comp.baseline.top5) == (acc.top1_error, acc.top5_error)
    (step,) = comp.greedy[("main", "center")]
    assert (step.top1, step.top5) == (acc.top1_error, acc.top5_error)
    assert E.reference_errors([p], y, (0,)) == [acc.top1_error, acc.top5_error]
    assert cfg.top1_ci == pytest.approx(acc.error_interval(1), abs=1e-12)
    assert cfg.top5_ci == pytest.approx(acc.error_interval(5), abs=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_report_summary_counts_ties(case):
    p, y = CASES[case]()
    res = ScoreResult(Scores({("center", "main"): p}, y, np.ones(len(y), bool), [], {"center": 1}),
                      RunStats(1.0, 0, 0), Provenance())
    (row,) = report.summary(res)["results"]
    assert (row["ties_top1"], row["ties_top5"]) == (plain_ties(p, y, 1), plain_ties(p, y, 5))
    assert row["top1_error"] == pytest.approx(np.mean(plain_rank(p, y) >= 1))


def test_fast_path_with_ties_in_the_mean_matches_a_plain_count():
    # members built from bf16 logits and exact zeros: ties inside members and in their means
    rng = np.random.default_rng(5)
    n, c, m = 150, 10, 4
    y = rng.integers(0, c, n)
    arrays = []
    for j in range(m):
        p, _ = _bf16(n, c, seed=10 + j)
        if j == 3:
            p, _ = _zeros(n, c, seed=3)
        # eighths: sums of members stay exact, so ties in the mean are exact too
        arrays.append((np.round(p * 8) / 8).astype(np.float32))
    table = E.build_table([[(a, 1.0)] for a in arrays], y)
    subsets = E.all_subsets(m)
    counts = E.subset_counts(table, E.subset_matrix(subsets, m))
    found_mean_tie = False
    for s, sub in enumerate(subsets):
        avg = np.sum([arrays[i].astype(np.float64) for i in sub], axis=0)
        rank = plain_rank(avg, y)
        assert counts.wrong[:, s].tolist() == [int((rank >= 1).sum()), int((rank >= 5).sum())], sub
        assert counts.ties[:, s].tolist() == [plain_ties(avg, y, 1), plain_ties(avg, y, 5)], sub
        found_mean_tie |= len(sub) > 1 and plain_ties(avg, y, 1) > 0
    assert found_mean_tie
    path = E.greedy_path(table, rank_by="top1", stop=False)
    for sub, e1, e5 in path:
        avg = np.sum([arrays[i].astype(np.float64) for i in sub], axis=0)
        assert (e1, e5) == pytest.approx([np.mean(plain_rank(avg, y) >= k) for k in (1, 5)], abs=1e-12)
