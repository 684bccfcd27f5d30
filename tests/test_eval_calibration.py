"""NLL, ECE and Brier against plain numpy loops, for one probability set and for every ensemble
configuration from the comparison's compact table; reliability diagrams written."""
from __future__ import annotations

import math

import numpy as np
import pytest

from inception_eval import calibration as K
from inception_eval import ensemble as E


def ref_nll(p, y):
    return float(np.mean([-math.log(max(p[i, y[i]], 1e-12)) for i in range(len(y))]))


def ref_brier(p, y):
    total = 0.0
    for i in range(len(y)):
        onehot = np.zeros(p.shape[1])
        onehot[y[i]] = 1.0
        total += float(((p[i] - onehot) ** 2).sum())
    return total / len(y)


def ref_ece(p, y, bins=15):
    conf = p.max(1)
    correct = np.array([all(p[i, c] < p[i, y[i]] for c in range(p.shape[1]) if c != y[i]) for i in range(len(y))])
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (conf >= lo) & ((conf < hi) if b < bins - 1 else (conf <= hi))
        if inside.any():
            total += inside.sum() / len(y) * abs(correct[inside].mean() - conf[inside].mean())
    return total


def _random(n=300, c=12, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c), size=n)
    return p, rng.integers(0, c, n)


def _real_like(n=400, c=50, seed=1):
    """Peaked softmaxes (mostly right, confident) with exact zeros in some rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) * 2
    logits[np.arange(n), y] += rng.normal(3, 2, n)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[:20] = 0.0
    p[np.arange(20), (y[:20] + 1) % c] = 1.0  # confidently wrong, true class exactly 0
    return p.astype(np.float32), y


@pytest.mark.parametrize("make", [_random, _real_like])
def test_metrics_equal_plain_loops(make):
    p, y = make()
    p64 = p.astype(np.float64)
    cal = K.calibration(p, y)
    assert cal.count == len(y)
    assert cal.nll == pytest.approx(ref_nll(p64, y), rel=1e-12)
    assert cal.brier == pytest.approx(ref_brier(p64, y), rel=1e-12)
    assert cal.ece == pytest.approx(ref_ece(p64, y), abs=1e-12)
    assert math.isfinite(cal.nll)  # exact zeros are clipped, not infinite


def test_valid_mask_and_bins():
    p, y = _random()
    valid = np.arange(len(y)) % 3 != 0
    assert K.nll(p, y, valid) == pytest.approx(ref_nll(p[valid], y[valid]))
    rb = K.reliability_bins(p, y, valid)
    assert rb["count"].sum() == valid.sum() and len(rb["edges"]) == K.ECE_BINS + 1
    # ECE is the count-weighted gap of the bins
    gap = np.nansum(rb["count"] / valid.sum() * np.abs(rb["accuracy"] - rb["confidence"]))
    assert K.ece(p, y, valid) == pytest.approx(gap, abs=1e-12)


def test_perfect_and_uniform_extremes():
    y = np.array([0, 1, 2, 1])
    onehot = np.eye(3)[y]
    assert (K.nll(onehot, y), K.ece(onehot, y), K.brier(onehot, y)) == (pytest.approx(0.0), 0.0, 0.0)
    uni = np.full((4, 3), 1 / 3)
    assert K.ece(uni, y) == pytest.approx(1 / 3)  # always wrong (ties), confidence 1/3
    assert K.brier(uni, y) == pytest.approx(2 / 3)


def test_every_configuration_matches_dense_mixture():
    rng = np.random.default_rng(4)
    n, c, m = 250, 20, 4
    labels = rng.integers(0, c, n)
    arrays = []
    for j in range(m):
        p, _ = _real_like(n, c, seed=20 + j)
        logits = np.log(np.maximum(p, 1e-30)) + rng.normal(size=(n, c))
        logits[np.arange(n), labels] += 2
        q = np.exp(logits - logits.max(1, keepdims=True))
        arrays.append((q / q.sum(1, keepdims=True)).astype(np.float32))
    weights = [1.0, 2.0, 0.5, 1.0]
    members = [E.MemberScores(f"m{j}", {("center", "main"): a}, labels, nominal_views={"center": 1})
               for j, a in enumerate(arrays)]
    comp = E.compare_configurations(members, ["center"], member_weights=weights)
    assert len(comp.configs) == 15
    for cfg in comp.configs:
        sub = [int(x[1:]) for x in cfg.members]
        mix = sum(weights[i] * arrays[i].astype(np.float64) for i in sub) / sum(weights[i] for i in sub)
        assert cfg.nll == pytest.approx(ref_nll(mix, labels), rel=1e-9)
        assert cfg.ece == pytest.approx(ref_ece(mix, labels), abs=1e-9)
        assert cfg.brier == pytest.approx(ref_brier(mix, labels), abs=2e-6)  # float32 Gram products


def test_reliability_diagram_written(tmp_path):
    pytest.importorskip("matplotlib")
    from inception_eval.plots import plot_reliability

    p, y = _real_like()
    path = plot_reliability(p, y, tmp_path / "r" / "rel.png", title="test")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_reliability_diagram_without_matplotlib(tmp_path, monkeypatch):
    import builtins

    from inception_eval import plots

    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    p, y = _random()
    with pytest.raises(plots.PlotUnavailable, match=r"'plot' extra"):
        plots.plot_reliability(p, y, tmp_path / "rel.png")
    assert not (tmp_path / "rel.png").exists()
