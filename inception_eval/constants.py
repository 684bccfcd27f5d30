"""Constants of the evaluation side, written here once and imported everywhere else."""
from __future__ import annotations

__all__ = ["AUX_WEIGHT", "PRECISIONS", "DEFAULT_PRECISION"]

#: Weight of each auxiliary classifier relative to the main one: the 0.3 the paper (section 5)
#: gave their losses during training, reused when their softmax outputs are averaged at test time.
AUX_WEIGHT: float = 0.3

#: Numerical precisions of the forward pass: fp32, or autocast to bf16 / fp16.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
DEFAULT_PRECISION: str = "fp32"
