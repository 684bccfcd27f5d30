"""Averaging over views, heads and members against plain numpy formulas."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inception_eval.aggregate import METHODS, average_views, combine_classifiers, combine_members


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def numpy_reference(s: np.ndarray, w: np.ndarray, method: str) -> np.ndarray:
    """The documented formulas, written plainly in float64."""
    wn = w / w.sum()
    p = softmax(s)
    if method == "softmax_mean":
        return (wn[:, None] * p).sum(0)
    if method == "logit_mean":
        return softmax((wn[:, None] * s).sum(0))
    if method == "geometric":
        g = np.exp((wn[:, None] * np.log(p)).sum(0))
        return g / g.sum()
    if method == "max":
        m = p[w > 0].max(0)
        return m / m.sum()
    raise AssertionError(method)


@pytest.fixture
def case():
    rng = np.random.default_rng(42)
    s = rng.normal(size=(12, 30)) * 4
    w = rng.integers(0, 4, size=12).astype(np.float64)
    w[0] = 2
    return s, w


@pytest.mark.parametrize("method", METHODS)
def test_methods_match_numpy(case, method):
    s, w = case
    got = average_views(s, w, method)
    assert got.dtype == np.float32 and got.shape == (30,)
    np.testing.assert_allclose(got, numpy_reference(s, w, method), rtol=2e-6, atol=1e-8)
    assert abs(float(got.sum()) - 1) < 1e-5 and (got >= 0).all()


def test_default_is_softmax_mean_and_unit_weights(case):
    s, _ = case
    np.testing.assert_allclose(average_views(s), softmax(s).mean(0), rtol=2e-6)


def test_geometric_equals_logit_mean_for_logits(case):
    s, w = case
    np.testing.assert_allclose(average_views(s, w, "geometric"), average_views(s, w, "logit_mean"), rtol=1e-5)
    # ...but not for probability inputs that are not softmaxes of these logits.
    p = softmax(s) ** 2
    p /= p.sum(1, keepdims=True)
    a = average_views(p, w, "softmax_mean", inputs="probs")
    np.testing.assert_allclose(a, (w[:, None] / w.sum() * p).sum(0), rtol=2e-6)
    g = average_views(p, w, "geometric", inputs="probs")
    ref = np.exp((w[:, None] / w.sum() * np.log(p)).sum(0))
    np.testing.assert_allclose(g, ref / ref.sum(), rtol=2e-6)


def test_weights_are_multiplicities(case):
    s, _ = case
    # Repeating a row k times == weight k (what union_views' dedupe relies on).
    rep = np.concatenate([s[:1], s[:1], s[:1], s[1:4]])
    for method in METHODS:
        a = average_views(rep, None, method)
        b = average_views(s[:4], np.array([3.0, 1, 1, 1]), method)
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-9)


def test_max_ignores_zero_weight_views():
    s = np.array([[10.0, 0, 0], [0, 10.0, 0]])
    got = average_views(s, np.array([1.0, 0.0]), "max")
    np.testing.assert_allclose(got, numpy_reference(s[:1], np.ones(1), "max"), rtol=2e-6)


def test_batched_forms_agree_bitwise(case):
    """(N, V, C), flat + offsets and one-at-a-time give identical float32 results."""
    rng = np.random.default_rng(7)
    counts = [3, 12, 1, 7]
    flat = rng.normal(size=(sum(counts), 20)) * 3
    wflat = rng.integers(1, 4, size=sum(counts)).astype(float)
    off = np.concatenate([[0], np.cumsum(counts)])
    for method in METHODS:
        batched = average_views(flat, wflat, method, offsets=off)
        assert batched.shape == (4, 20)
        for i in range(4):
            single = average_views(flat[off[i]:off[i + 1]], wflat[off[i]:off[i + 1]], method)
            assert np.array_equal(batched[i], single), (method, i)
    dense = rng.normal(size=(5, 6, 20))
    w6 = np.arange(1, 7, dtype=float)
    out = average_views(dense, w6)
    for i in range(5):
        assert np.array_equal(out[i], average_views(dense[i], w6))


def test_torch_in_torch_out(case):
    s, w = case
    t = average_views(torch.tensor(s, dtype=torch.float32), torch.tensor(w), "softmax_mean")
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), numpy_reference(s, w, "softmax_mean"), rtol=1e-5)
    t2 = average_views(torch.tensor(s, dtype=torch.bfloat16), None, offsets=torch.tensor([0, 5, 12]))
    assert t2.shape == (2, 30) and t2.dtype == torch.float32


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "median"}, "unknown averaging method 'median'"),
        ({"weights": -np.ones(12)}, "weights must be finite and >= 0"),
        ({"weights": np.zeros(12)}, "positive total view weight"),
        ({"weights": np.ones(5)}, "does not match"),
        ({"offsets": [0, 5, 11]}, "offsets must run from 0"),
        ({"offsets": [0, 5, 5, 12]}, "strictly increasing"),
        ({"inputs": "odds"}, "inputs must be"),
    ],
)
def test_average_views_errors(case, kwargs, message):
    s, _ = case
    with pytest.raises(ValueError, match=message):
        average_views(s, **kwargs)


def test_combine_classifiers():
    rng = np.random.default_rng(1)
    heads = {h: softmax(rng.normal(size=(4, 10))) for h in ("main", "aux1", "aux2")}
    np.testing.assert_allclose(combine_classifiers(heads), heads["main"], rtol=1e-6)
    both = combine_classifiers(heads, "main+aux")
    np.testing.assert_allclose(both, (heads["main"] + 0.3 * heads["aux1"] + 0.3 * heads["aux2"]) / 1.6, rtol=1e-6)
    custom = combine_classifiers(heads, {"main": 2, "aux2": 1})
    np.testing.assert_allclose(custom, (2 * heads["main"] + heads["aux2"]) / 3, rtol=1e-6)
    with pytest.raises(KeyError, match="aux1"):
        combine_classifiers({"main": heads["main"]}, "main+aux")
    with pytest.raises(ValueError, match="unknown head weighting"):
        combine_classifiers(heads, "all")


def test_combine_members():
    rng = np.random.default_rng(2)
    members = [softmax(rng.normal(size=(3, 8))) for _ in range(4)]
    np.testing.assert_allclose(combine_members(members), np.mean(members, 0), rtol=1e-6)
    wts = [1, 0, 2, 1]
    np.testing.assert_allclose(combine_members(members, wts), np.tensordot(wts, members, 1) / 4, rtol=1e-6)
    t = combine_members([torch.tensor(m) for m in members])
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    with pytest.raises(ValueError, match="different shapes"):
        combine_members([members[0], members[1][:2]])
    with pytest.raises(ValueError, match="not all zero"):
        combine_members(members, [0, 0, 0, 0])
    with pytest.raises(ValueError, match="3 weights for 4 members"):
        combine_members(members, [1, 1, 1])
    with pytest.raises(ValueError, match="no members"):
        combine_members([])
