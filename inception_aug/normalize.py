"""Normalisation kernels: uint8 RGB -> float32 ``(x / 255 - mean) / std``, per channel.

``mean`` and ``std`` are per-channel values on the [0, 1] scale (defaults in
:mod:`inception_aug.constants`). ``normalize_batch`` is the one conversion of uint8 view batches
used by the scoring engine and by every reference loop in the tests.
"""
from __future__ import annotations

from typing import Sequence

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["check_mean_std", "normalize_batch"]


def check_mean_std(mean: Sequence[float], std: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` as float tuples; ``ValueError`` unless each has 3 values and every std > 0."""
    mean_t, std_t = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean_t) != 3 or len(std_t) != 3 or min(std_t) <= 0:
        raise ValueError(f"mean and std need 3 values each, std > 0; got {tuple(mean)}, {tuple(std)}")
    return mean_t, std_t


def normalize_batch(views_u8, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
    """uint8 torch tensor (B, 3, H, W) -> float32 ``(x / 255 - mean) / std`` in channels_last memory
    (the layout the model runs fastest in), on the input's device."""
    import torch

    x = views_u8.to(torch.float32).contiguous(memory_format=torch.channels_last)
    m = torch.tensor([255.0 * v for v in mean], dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor([1.0 / (255.0 * v) for v in std], dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return x.sub_(m).mul_(s)
