"""One ``(model, info)`` for every way a caller can name a model to score.

Accepted: a GoogLeNet checkpoint (``models.checkpoint.load_checkpoint``: our format or a
state_dict), a TorchScript file, a ``torch.export`` program (``.pt2``), a ``module.path:factory``
spec (``models.foreign``), a ``(model, info)`` pair, or a bare ``nn.Module``.

Preprocessing (input size, mean/std, transform_input, class names) follows
:mod:`inception_eval.preprocessing`: what the caller states > the file's metadata > a sidecar
``<file>.json`` > a default, and :attr:`ModelInfo.provenance` records each value and its source.
A model loaded from a file or spec runs one dummy forward at the input size: a size it rejects, or
an output that is not (B, C) logits, is an error naming the file.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD
from inception_aug.errors import InputError, UsageError
from inception_eval.models.checkpoint import CheckpointError, CheckpointInfo, checkpoint_report, load_checkpoint
from inception_eval.models.foreign import load_foreign, model_kind, probe_classifier, split_factory_spec
from inception_eval.preprocessing import FIELDS, Preprocessing, pick, read_sidecar, warning_lines

__all__ = ["DEFAULT_CROP", "ModelInfo", "resolve_model", "describe_model"]

DEFAULT_CROP = 224


@dataclass(frozen=True)
class ModelInfo:
    """What scoring needs to know about a model.

    ``sha256``: hex digest of the checkpoint file, or for a factory of its name, weights and
    arguments ("" when unknown: results are then not cached); ``crop_size``: input side in px;
    ``mean``/``std``: RGB normalisation on the [0, 1] scale; ``class_names``: index -> name, or
    None; ``num_classes`` >= 1; ``aux_logits``: False when the model is known to have no auxiliary
    heads; ``source``: the path, spec, or the model's class name; ``transform_input``: the
    torchvision GoogLeNet option (None for other models); ``kind``: ``googlenet``,
    ``torchscript``, ``export``, ``factory`` or ``module``; ``provenance``: {field: {"value",
    "source"}} with source ``flag``/``file``/``sidecar``/``inferred``.
    """

    sha256: str
    crop_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: list[str] | None
    num_classes: int
    aux_logits: bool | None
    source: str
    transform_input: bool | None = None
    kind: str = "googlenet"
    provenance: dict = field(default_factory=dict, compare=False, hash=False)

    def warnings(self) -> list[str]:
        """One line per preprocessing field that was assumed rather than stated (see
        ``preprocessing.warning_lines``)."""
        return warning_lines(self.provenance, self.source)


def _entry(value: Any, source: str) -> dict:
    return {"value": list(value) if isinstance(value, tuple) else value, "source": source}


def _check_names(names: tuple[str, ...] | None, source: str, num_classes: int, where: str) -> None:
    if names is not None and len(names) != num_classes:
        msg = f"{len(names)} class names ({source}) for a model with {num_classes} classes ({where})"
        raise (UsageError(msg + "; pass a --class-names file with one name per class") if source == "flag"
               else InputError(msg + "; fix the names or restamp with inception-eval stamp --force"))


def _probe(model: torch.nn.Module, size: int, size_source: str, where: str) -> int:
    """The model's class count from one dummy forward; a rejected size is an error naming ``where``."""
    try:
        return probe_classifier(model, size, where)
    except RuntimeError as e:
        if size_source == "flag":
            raise UsageError(f"--input-size {size}: {where} rejects {size}-px input ({e}); pass a size the "
                             "model accepts") from None
        raise CheckpointError(where, f"rejects {size}-px input ({e}); set --input-size") from None


def _googlenet_transform(model: Any, ck: CheckpointInfo, pre: Preprocessing, side: dict, path: str) -> tuple:
    """(model, transform_input, source): the model rebuilt when the stated value differs from the load's."""
    if ck.variant == "paper":
        if pre.transform_input or side.get("transform_input"):
            raise UsageError(f"--transform-input applies to torchvision GoogLeNets; {path} is a paper GoogLeNet")
        return model, False, "file"
    file_value = None if "transform_input" in ck.inferred else ck.transform_input
    value, src = pick(pre.transform_input, file_value, side, "transform_input", ck.transform_input)
    if value != ck.transform_input:
        model, _ = load_checkpoint(path, variant=pre.variant, num_classes=pre.num_classes, transform_input=value)
    return model, bool(value), src


def _load_googlenet(path: str, pre: Preprocessing) -> tuple[torch.nn.Module, ModelInfo]:
    model, ck = load_checkpoint(path, map_location="cpu", variant=pre.variant, num_classes=pre.num_classes)
    side = read_sidecar(path)
    model, ti, ti_src = _googlenet_transform(model, ck, pre, side, path)
    given = {k: (None if k in ck.inferred else getattr(ck, k)) for k in ("input_size", "mean", "std")}
    size, size_src = pick(pre.input_size, given["input_size"], side, "input_size", DEFAULT_CROP)
    mean, mean_src = pick(pre.mean, given["mean"], side, "mean", IMAGENET_MEAN)
    std, std_src = pick(pre.std, given["std"], side, "std", IMAGENET_STD)
    names, names_src = pick(pre.class_names, ck.class_names, side, "class_names", None)
    _check_names(names, names_src, ck.num_classes, path)
    _probe(model, int(size), size_src, path)
    prov = {"input_size": _entry(int(size), size_src), "mean": _entry(mean, mean_src), "std": _entry(std, std_src),
            "transform_input": _entry(ti, ti_src), "class_names": _entry(names, names_src)}
    return model, ModelInfo(sha256=ck.sha256, crop_size=int(size), mean=tuple(mean), std=tuple(std),
                            class_names=None if names is None else list(names), num_classes=ck.num_classes,
                            aux_logits=ck.aux_logits, source=path, transform_input=ti, kind="googlenet",
                            provenance=prov)


def _load_foreign(spec: str, kind: str, pre: Preprocessing) -> tuple[torch.nn.Module, ModelInfo]:
    if pre.transform_input is not None or pre.variant is not None:
        raise UsageError(f"--transform-input and --variant describe GoogLeNet checkpoints; {spec} is a {kind} "
                         "model (its own code does any input transform)")
    model, sha = load_foreign(spec, kind, weights=pre.weights, factory_kwargs=pre.factory_kwargs)
    sidecar_of = spec if kind != "factory" else split_factory_spec(spec, pre.weights)[1]
    side = read_sidecar(sidecar_of) if sidecar_of else {}
    size, size_src = pick(pre.input_size, None, side, "input_size", DEFAULT_CROP)
    mean, mean_src = pick(pre.mean, None, side, "mean", IMAGENET_MEAN)
    std, std_src = pick(pre.std, None, side, "std", IMAGENET_STD)
    names, names_src = pick(pre.class_names, None, side, "class_names", None)
    num_classes = _probe(model, int(size), size_src, spec)
    if pre.num_classes is not None and pre.num_classes != num_classes:
        raise UsageError(f"--num-classes {pre.num_classes}, but {spec} returns {num_classes} logits")
    _check_names(names, names_src, num_classes, spec)
    prov = {"input_size": _entry(int(size), size_src), "mean": _entry(mean, mean_src), "std": _entry(std, std_src),
            "class_names": _entry(names, names_src)}
    return model, ModelInfo(sha256=sha, crop_size=int(size), mean=tuple(mean), std=tuple(std),
                            class_names=None if names is None else list(names), num_classes=num_classes,
                            aux_logits=False, source=spec, transform_input=None, kind=kind, provenance=prov)


def _in_memory(model: torch.nn.Module, info: Any, source: str, pre: Preprocessing,
               sha: str | None) -> ModelInfo:
    """The ModelInfo of a model passed as an object (with a CheckpointInfo, or bare)."""
    inferred = set(getattr(info, "inferred", FIELDS)) if info is not None else set(FIELDS)
    known = lambda k: None if (info is None or k in inferred) else getattr(info, k, None)  # noqa: E731
    size, size_src = pick(pre.input_size, known("input_size"), {}, "input_size", DEFAULT_CROP)
    mean, mean_src = pick(pre.mean, known("mean"), {}, "mean", IMAGENET_MEAN)
    std, std_src = pick(pre.std, known("std"), {}, "std", IMAGENET_STD)
    names, names_src = pick(pre.class_names, getattr(info, "class_names", None), {}, "class_names", None)
    num_classes = int(getattr(info, "num_classes", None) or getattr(model, "num_classes", 0) or len(names or ()))
    if num_classes <= 0:
        raise InputError("cannot tell the model's number of classes; pass a checkpoint with metadata")
    aux = False if (getattr(model, "aux_logits", None) is False or getattr(info, "aux_logits", None) is False) \
        else getattr(info, "aux_logits", None)
    prov = {"input_size": _entry(int(size), size_src), "mean": _entry(mean, mean_src), "std": _entry(std, std_src),
            "class_names": _entry(names, names_src)}
    ti = getattr(model, "transform_input", None)
    if isinstance(ti, bool):
        prov["transform_input"] = _entry(ti, "inferred" if "transform_input" in inferred and info is not None
                                         else "file")
    return ModelInfo(sha256=sha or getattr(info, "sha256", None) or "", crop_size=int(size), mean=tuple(mean),
                     std=tuple(std), class_names=None if names is None else list(names), num_classes=num_classes,
                     aux_logits=aux, source=source, transform_input=ti if isinstance(ti, bool) else None,
                     kind="googlenet" if isinstance(info, CheckpointInfo) else "module", provenance=prov)


def resolve_model(checkpoint: Any, *, checkpoint_sha256: str | None = None, crop_size: int | None = None,
                  mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                  class_names: Sequence[str] | None = None,
                  options: Preprocessing | None = None) -> tuple[torch.nn.Module, ModelInfo]:
    """``(model, ModelInfo)`` of ``checkpoint``: a path or ``module:factory`` spec, a ``(model, info)``
    pair (an info that is already a :class:`ModelInfo` is returned as it is) or an ``nn.Module``.

    ``crop_size``/``mean``/``std``/``class_names`` and ``options`` (a :class:`Preprocessing`; the
    keyword arguments win) state values; what is not stated comes from the file, a sidecar or a
    default, as the module docstring says. Raises ``UsageError`` for stated values the model
    cannot use, ``CheckpointError``/``InputError`` for files and models that cannot be used.
    """
    pre = options or Preprocessing()
    stated = {k: v for k, v in (("input_size", crop_size), ("mean", mean), ("std", std),
                                ("class_names", class_names)) if v is not None}
    pre = dataclasses.replace(pre, **stated) if stated else pre
    if isinstance(checkpoint, (str, os.PathLike)):
        spec = os.fspath(checkpoint)
        kind = model_kind(spec)
        model, info = _load_googlenet(spec, pre) if kind == "googlenet" else _load_foreign(spec, kind, pre)
        return model, (dataclasses.replace(info, sha256=checkpoint_sha256) if checkpoint_sha256 else info)
    if isinstance(checkpoint, tuple) and len(checkpoint) == 2:
        model, info = checkpoint
        if isinstance(info, ModelInfo):
            return model, info
        return model, _in_memory(model, info, str(getattr(info, "path", "") or type(model).__name__), pre,
                                 checkpoint_sha256)
    if isinstance(checkpoint, torch.nn.Module):
        return checkpoint, _in_memory(checkpoint, None, type(checkpoint).__name__, pre, checkpoint_sha256)
    raise TypeError(f"checkpoint must be a path, (model, info) or nn.Module, got {type(checkpoint).__name__}")


def _preprocessing_lines(info: ModelInfo) -> list[str]:
    lines = ["preprocessing (value, source):"]
    for name in FIELDS:
        entry = info.provenance.get(name)
        if entry is not None:
            value = entry["value"]
            if name == "class_names" and value is not None:
                value = f"{len(value)} ({', '.join(value[:5])}{', ...' if len(value) > 5 else ''})"
            lines.append(f"  {name + ':':<17}{value} ({entry['source']})")
    return lines + info.warnings()


def describe_model(spec: str | os.PathLike, options: Preprocessing | None = None, *, as_json: bool = False) -> str:
    """What ``inception-eval model --checkpoint`` prints: the checkpoint's description (GoogLeNet
    files) or the model's kind, sha256 and classes, then each preprocessing value with its source
    and a warning line per assumed value; as JSON with ``as_json`` (``preprocessing`` holds the
    provenance, ``warnings`` the lines)."""
    model, info = resolve_model(spec, options=options)
    n_params = sum(p.numel() for p in model.parameters())
    if info.kind == "googlenet":
        base = checkpoint_report(spec, as_json=as_json)
    else:
        fields = {"file": info.source, "kind": info.kind, "sha256": info.sha256, "num_classes": info.num_classes,
                  "parameters": n_params}
        base = json.dumps(fields, indent=2) if as_json else "\n".join(
            f"{k + ':':<17}{v:,}" if k == "parameters" else f"{k + ':':<17}{v}" for k, v in fields.items())
    if as_json:
        data = json.loads(base)
        data.update(kind=info.kind, preprocessing=info.provenance, warnings=info.warnings())
        return json.dumps(data, indent=2, default=str)
    return "\n".join([base, *_preprocessing_lines(info)])
