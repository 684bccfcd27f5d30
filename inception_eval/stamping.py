"""Write a model's preprocessing into its file once: what ``inception-eval stamp`` does.

Our GoogLeNet checkpoint format gets the values in its metadata; a plain GoogLeNet state_dict is
rewritten into our format (same weights, as float32); any other model file (TorchScript, export
program, a factory's weights file) gets a sidecar ``<file>.json``
(:mod:`inception_eval.preprocessing`). Values already recorded are kept unless ``force``. Every
value is checked first by loading the model with it (one dummy forward at the input size, class
names counted against the model's outputs).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from inception_aug.errors import InputError, UsageError
from inception_eval.models.checkpoint import FORMAT, FORMAT_VERSION, atomic_save
from inception_eval.models.foreign import is_factory_spec, model_kind, split_factory_spec
from inception_eval.preprocessing import Preprocessing, read_sidecar, sidecar_path, write_sidecar
from inception_eval.resolve import resolve_model

__all__ = ["STAMPED_FIELDS", "stamp"]

STAMPED_FIELDS = ("input_size", "mean", "std", "transform_input", "class_names")


def _stated(options: Preprocessing) -> dict[str, Any]:
    values = {k: getattr(options, k) for k in STAMPED_FIELDS if getattr(options, k) is not None}
    if not values:
        raise UsageError("nothing to stamp: pass --input-size, --mean, --std, --transform-input / "
                         "--no-transform-input or --class-names")
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _refuse_overwrite(existing: dict[str, Any], new: dict[str, Any], where: str, force: bool) -> None:
    clash = [k for k, v in new.items() if existing.get(k) is not None and not _same(existing[k], v)]
    if clash and not force:
        shown = "; ".join(f"{k} is {existing[k] if k != 'class_names' else f'{len(existing[k])} names'}"
                          for k in clash)
        raise UsageError(f"{where} already records {shown}; pass --force to overwrite")


def _layout_metadata(model: Any) -> dict[str, Any]:
    cfg = model.config
    return {"variant": cfg.variant, "num_classes": cfg.num_classes, "width_mult": float(cfg.width_mult),
            "aux_logits": model.aux_logits, "transform_input": bool(cfg.transform_input), "dropout": cfg.dropout,
            "aux_dropout": cfg.aux_dropout, "torch_version": str(torch.__version__)}


def _stamp_googlenet(path: Path, model: Any, new: dict[str, Any], force: bool) -> str:
    raw = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(raw, dict) and raw.get("format") == FORMAT:
        meta = dict(raw.get("metadata") or {})
        _refuse_overwrite(meta, new, str(path), force)
        meta.update(new)
        atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION, "state_dict": raw["state_dict"],
                     "metadata": meta}, path)
        return "metadata updated"
    if model.config.variant == "torchvision" and "transform_input" not in new:
        raise UsageError(f"{path} is a torchvision GoogLeNet state_dict, which cannot say whether it expects "
                         "transform_input: pass --transform-input (torchvision's released weights) or "
                         "--no-transform-input (trained with googlenet(weights=None))")
    meta = _layout_metadata(model)
    meta.update(new)
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION, "state_dict": state, "metadata": meta}, path)
    return "rewritten from a state_dict into the inception-toolkit format"


def _stamp_sidecar(target: str, new: dict[str, Any], force: bool) -> str:
    try:
        existing = read_sidecar(target)
    except InputError:
        if not force:
            raise
        existing = {}
    _refuse_overwrite({k: (list(v) if isinstance(v, tuple) else v) for k, v in existing.items()}, new,
                      str(sidecar_path(target)), force)
    return f"sidecar {write_sidecar(target, {**existing, **new})} written"


def stamp(spec: str | os.PathLike, options: Preprocessing, *, force: bool = False) -> str:
    """Record ``options``' preprocessing for the model ``spec`` and return one line saying what was
    written. ``spec``: a model file, or ``module:factory`` with weights (``options.weights`` or
    ``module:factory@weights``; the weights' sidecar holds the values).

    Raises ``UsageError`` when nothing is stated, a value is already recorded differently (without
    ``force``), or the model rejects a value; ``CheckpointError``/``InputError`` for unusable files.
    """
    text = os.fspath(spec)
    new = _stated(options)
    kind = model_kind(text)
    target = split_factory_spec(text, options.weights)[1] if kind == "factory" else text
    if target is None:
        raise UsageError(f"{text} is a factory: pass --weights FILE, whose sidecar will hold the values")
    if not is_factory_spec(text) and not Path(text).is_file():
        raise InputError(f"cannot stamp {text}: no such file")
    if kind != "googlenet" and force:
        try:
            read_sidecar(target)
        except InputError:
            sidecar_path(target).unlink()  # --force replaces an unreadable sidecar
    model, info = resolve_model(text, options=options)
    if kind == "googlenet":
        what = _stamp_googlenet(Path(text), model, new, force)
    else:
        what = _stamp_sidecar(target, new, force)
    shown = ", ".join(f"{k}={v if k != 'class_names' else f'{len(v)} names'}" for k, v in new.items())
    return f"stamped {text} ({info.kind}): {shown}; {what}"
