"""One ``(model, info)`` for every way a caller can name a model to score.

Accepted: a checkpoint path (``models.checkpoint.load_checkpoint``), a ``(model, info)`` pair as
that returns, or a bare ``nn.Module``. Explicit arguments override what the checkpoint says; what
neither gives falls back to the defaults (224 px, ImageNet mean/std, no class names).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD
from inception_aug.errors import InputError

__all__ = ["ModelInfo", "resolve_model"]

DEFAULT_CROP = 224


@dataclass(frozen=True)
class ModelInfo:
    """What scoring needs to know about a model.

    ``sha256``: hex digest of the checkpoint file ("" when unknown: results are then not cached);
    ``crop_size``: input side in px; ``mean``/``std``: RGB normalisation on the [0, 1] scale;
    ``class_names``: index -> name, or None; ``num_classes`` >= 1; ``aux_logits``: False when the
    model is known to have no auxiliary heads; ``source``: the path, or the model's class name.
    """

    sha256: str
    crop_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: list[str] | None
    num_classes: int
    aux_logits: bool | None
    source: str


def _split(checkpoint: Any) -> tuple[torch.nn.Module, Any, str]:
    """(model, checkpoint info or None, source name) of any accepted form."""
    if isinstance(checkpoint, (str, os.PathLike)):
        from inception_eval.models.checkpoint import load_checkpoint

        model, info = load_checkpoint(checkpoint, map_location="cpu")
        return model, info, os.fspath(checkpoint)
    if isinstance(checkpoint, tuple) and len(checkpoint) == 2:
        model, info = checkpoint
        return model, info, str(getattr(info, "path", "") or type(model).__name__)
    if isinstance(checkpoint, torch.nn.Module):
        return checkpoint, None, type(checkpoint).__name__
    raise TypeError(f"checkpoint must be a path, (model, info) or nn.Module, got {type(checkpoint).__name__}")


def resolve_model(checkpoint: Any, *, checkpoint_sha256: str | None = None, crop_size: int | None = None,
                  mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                  class_names: Sequence[str] | None = None) -> tuple[torch.nn.Module, ModelInfo]:
    """``(model, ModelInfo)`` of ``checkpoint`` (a path, ``(model, info)`` or ``nn.Module``).

    Raises ``CheckpointError`` for an unreadable checkpoint and :class:`InputError` when the number
    of classes cannot be told (no metadata, no ``num_classes`` attribute, no class names).
    """
    model, info, source = _split(checkpoint)
    names = list(class_names) if class_names is not None else getattr(info, "class_names", None)
    names = list(names) if names is not None else None
    num_classes = int(getattr(info, "num_classes", None) or getattr(model, "num_classes", 0)
                      or (len(names) if names else 0))
    if num_classes <= 0:
        raise InputError("cannot tell the model's number of classes; pass a checkpoint with metadata")
    aux = False if (getattr(model, "aux_logits", None) is False or getattr(info, "aux_logits", None) is False) \
        else getattr(info, "aux_logits", None)
    return model, ModelInfo(
        sha256=checkpoint_sha256 or getattr(info, "sha256", None) or "",
        crop_size=int(crop_size or getattr(info, "input_size", None) or DEFAULT_CROP),
        mean=tuple(mean or getattr(info, "mean", None) or IMAGENET_MEAN),
        std=tuple(std or getattr(info, "std", None) or IMAGENET_STD),
        class_names=names, num_classes=num_classes, aux_logits=aux, source=source)
