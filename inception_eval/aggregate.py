"""Averaging of class scores: over views, over classifier heads, over ensemble members.

Pure functions of arrays. They take numpy arrays or torch tensors (any device) and return the same
kind: float32, on the input's device. Sums are accumulated in float64, one view slot at a time in
a fixed order, so an image's result is bit-identical whether it is averaged alone or in a batch of
many images (padding slots add an exact +0.0), on any device.

View averaging methods (``s_v``: logits of view v, ``w_v >= 0``: its weight, ``W = sum w_v``,
``p_v = softmax(s_v)``); every method returns probabilities (non-negative, summing to 1):

- ``softmax_mean`` (default, the paper's): ``sum_v w_v p_v / W``.
- ``logit_mean``: ``softmax(sum_v w_v s_v / W)``.
- ``geometric``: ``exp(sum_v w_v log p_v / W)``, renormalised to sum to 1. For logit inputs this
  equals ``logit_mean`` mathematically (``log p_v = s_v - logsumexp(s_v)``, and the per-view
  constant cancels in the normalisation); it differs when the inputs are probabilities from
  elsewhere (``inputs="probs"``).
- ``max``: ``max_v p_v`` per class over views with ``w_v > 0`` (multiplicity does not matter),
  renormalised to sum to 1.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from inception_eval.constants import AUX_WEIGHT

METHODS: tuple[str, ...] = ("softmax_mean", "logit_mean", "geometric", "max")
#: Head weights for ``combine_classifiers(..., weights="main+aux")``: the auxiliary heads at the
#: weight the paper gave their losses during training (:data:`inception_eval.constants.AUX_WEIGHT`).
MAIN_AUX_WEIGHTS: dict[str, float] = {"main": 1.0, "aux1": AUX_WEIGHT, "aux2": AUX_WEIGHT}


def _to_tensor(x) -> tuple[torch.Tensor, bool]:
    """(float64 tensor, was_numpy)."""
    if isinstance(x, torch.Tensor):
        return x.to(torch.float64), False
    return torch.as_tensor(np.asarray(x), dtype=torch.float64), True


def _back(t: torch.Tensor, was_numpy: bool):
    t = t.to(torch.float32)
    return t.cpu().numpy() if was_numpy else t


def _dense(scores: torch.Tensor, weights: torch.Tensor, offsets) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat (sum V_i, C) + offsets (N+1,) -> padded (N, Vmax, C) scores and (N, Vmax) weights."""
    off = torch.as_tensor(np.asarray(offsets) if not isinstance(offsets, torch.Tensor) else offsets)
    off = off.to(torch.int64).cpu()
    if off.ndim != 1 or len(off) < 1 or int(off[0]) != 0 or int(off[-1]) != scores.shape[0]:
        raise ValueError(
            f"offsets must run from 0 to the number of rows ({scores.shape[0]}), got {off.tolist()[:5]}..."
        )
    counts = off[1:] - off[:-1]
    if (counts < 1).any():
        raise ValueError("offsets must be strictly increasing: every image needs at least one view")
    n, vmax = len(counts), int(counts.max())
    slot = torch.arange(vmax)
    valid = slot[None, :] < counts[:, None]  # (N, Vmax)
    idx = (off[:-1, None] + slot[None, :]).clamp(max=scores.shape[0] - 1)
    dev = scores.device
    valid, idx = valid.to(dev), idx.to(dev)
    s = scores[idx.reshape(-1)].reshape(n, vmax, -1)
    w = torch.where(valid, weights[idx], torch.zeros((), dtype=weights.dtype, device=dev))
    s = torch.where(valid[..., None], s, torch.zeros((), dtype=s.dtype, device=dev))
    return s, w


def _weighted_sum(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """sum_v w[..., v] * x[..., v, :], accumulated slot by slot (fixed order, batch-independent)."""
    acc = torch.zeros(x.shape[:-2] + x.shape[-1:], dtype=x.dtype, device=x.device)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    for v in range(x.shape[-2]):
        wv = w[..., v, None]
        # where(): a zero weight contributes an exact 0.0 even against -inf (log 0) or padding.
        acc = acc + torch.where(wv > 0, wv * x[..., v, :], zero)
    return acc


def _view_inputs(scores, weights, offsets) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(scores (V, C) or (N, V, C), matching weights, was_numpy), validated; offsets densified."""
    s, was_numpy = _to_tensor(scores)
    if weights is None:
        w = torch.ones(s.shape[:-1], dtype=torch.float64, device=s.device)
    else:
        w, _ = _to_tensor(weights)
        w = w.to(s.device)
    if offsets is not None:
        if s.ndim != 2 or w.shape != s.shape[:1]:
            raise ValueError(f"with offsets, scores must be (rows, C) and weights (rows,); got {tuple(s.shape)}, {tuple(w.shape)}")
        s, w = _dense(s, w, offsets)
    if s.ndim not in (2, 3):
        raise ValueError(f"scores must be (V, C) or (N, V, C), got shape {tuple(s.shape)}")
    if w.shape != s.shape[:-1]:
        if s.ndim == 3 and w.shape == s.shape[1:2]:
            w = w.expand(s.shape[:-1])
        else:
            raise ValueError(f"weights shape {tuple(w.shape)} does not match scores {tuple(s.shape)}")
    if (w < 0).any() or not torch.isfinite(w).all():
        raise ValueError("view weights must be finite and >= 0")
    return s, w, was_numpy


def _average(s: torch.Tensor, w: torch.Tensor, method: str, inputs: str) -> torch.Tensor:
    """The formulas of the module docstring on validated (..., V, C) scores and (..., V) weights."""
    total = w.sum(-1, keepdim=True)
    if (total <= 0).any():
        raise ValueError("every image needs a positive total view weight")
    wn = w / total  # normalised weights
    logp = torch.log_softmax(s, dim=-1) if inputs == "logits" else torch.log(s)
    if method == "softmax_mean":
        return _weighted_sum(logp.exp(), wn)
    if method == "logit_mean":
        return torch.softmax(_weighted_sum(s if inputs == "logits" else logp, wn), dim=-1)
    if method == "geometric":
        # exp(mean log p) renormalised == softmax(mean log p); softmax is the stable way to do it.
        return torch.softmax(_weighted_sum(logp, wn), dim=-1)
    p = torch.where(w[..., None] > 0, logp.exp(), torch.zeros((), dtype=s.dtype, device=s.device))  # max
    m = p.amax(dim=-2)
    return m / m.sum(-1, keepdim=True)


def average_views(scores, weights=None, method: str = "softmax_mean", *, offsets=None, inputs: str = "logits"):
    """Average the class scores of the views of one image (or of many) into probabilities.

    Args:
        scores: (V, C) scores of one image's views; or (N, V, C) for N images with V views each;
            or, with ``offsets``, a flat (sum V_i, C) stack of many images' views.
        weights: (V,) / (N, V) / (sum V_i,) non-negative view weights (multiplicities from
            ``union_views``); None means all 1.
        method: one of ``METHODS`` (see the module docstring for the exact formulas).
        offsets: (N + 1,) row boundaries of each image in the flat ``scores``: image i owns rows
            ``offsets[i]:offsets[i+1]``.
        inputs: ``"logits"`` (default) or ``"probs"`` (rows already probabilities; the softmax is
            skipped and logs are taken directly, with 0 -> -inf handled as exp(-inf) = 0).

    Returns:
        float32 probabilities: (C,) for one image, (N, C) otherwise; numpy in, numpy out.
    """
    if method not in METHODS:
        raise ValueError(f"unknown averaging method {method!r}; expected one of {METHODS}")
    if inputs not in ("logits", "probs"):
        raise ValueError(f"inputs must be 'logits' or 'probs', got {inputs!r}")
    s, w, was_numpy = _view_inputs(scores, weights, offsets)
    return _back(_average(s, w, method, inputs), was_numpy)


def weighted_mean(arrays: Sequence, weights: Sequence[float], what: str = "arrays"):
    """Weighted mean (weights >= 0, normalised to sum to 1) of same-shape arrays or tensors,
    accumulated in float64; float32 result of the first input's kind. The one implementation of
    mixing classifier heads and ensemble members (``ensemble`` mixes heads through it too)."""
    if len(arrays) == 0:
        raise ValueError(f"no {what} to combine")
    if len(weights) != len(arrays):
        raise ValueError(f"{len(weights)} weights for {len(arrays)} {what}")
    wts = [float(x) for x in weights]
    if any(not np.isfinite(x) or x < 0 for x in wts) or sum(wts) <= 0:
        raise ValueError(f"{what} weights must be finite, >= 0 and not all zero, got {wts}")
    tensors = [_to_tensor(a) for a in arrays]
    shape = tensors[0][0].shape
    for t, _ in tensors:
        if t.shape != shape:
            raise ValueError(f"{what} have different shapes: {tuple(shape)} vs {tuple(t.shape)}")
    total = sum(wts)
    acc = torch.zeros_like(tensors[0][0])
    for (t, _), wt in zip(tensors, wts):
        acc = acc + (wt / total) * t.to(acc.device)
    return _back(acc, tensors[0][1])


def combine_classifiers(per_head_probs: Mapping[str, object], weights: Mapping[str, float] | str | None = None):
    """Weighted mean of the probabilities of several classifier heads of one model.

    Args:
        per_head_probs: head name (``main``, ``aux1``, ``aux2``) -> probabilities (..., C).
        weights: None (the paper: main head only), ``"main+aux"`` (``MAIN_AUX_WEIGHTS``), or a
            mapping head -> weight >= 0; weights are normalised to sum to 1.

    Returns:
        float32 probabilities of the same shape; numpy in, numpy out.
    """
    if weights is None:
        weights = {"main": 1.0}
    elif weights == "main+aux":
        weights = MAIN_AUX_WEIGHTS
    elif isinstance(weights, str):
        raise ValueError(f"unknown head weighting {weights!r}; expected None, 'main+aux' or a mapping")
    missing = [h for h in weights if h not in per_head_probs]
    if missing:
        raise KeyError(f"no probabilities for head(s) {missing}; have {sorted(per_head_probs)}")
    heads = list(weights)
    return weighted_mean([per_head_probs[h] for h in heads], [weights[h] for h in heads], "heads")


def combine_members(list_of_probs: Sequence, weights: Sequence[float] | None = None):
    """Mean (optionally weighted, weights normalised) of ensemble members' probabilities (..., C)."""
    if weights is None:
        weights = [1.0] * len(list_of_probs)
    return weighted_mean(list(list_of_probs), list(weights), "members")


__all__ = ["MAIN_AUX_WEIGHTS", "METHODS", "average_views", "weighted_mean", "combine_classifiers", "combine_members"]
