"""Save and load GoogLeNet checkpoints, ours and other people's.

Our format (``save_checkpoint``) is a plain dict readable with ``torch.load(weights_only=True)``::

    {"format": "inception-toolkit/googlenet", "format_version": 1,
     "state_dict": {...}, "metadata": {"variant", "num_classes", "width_mult", "aux_logits",
     "transform_input", "input_size", "mean", "std", "class_names", "training", ...}}

``load_checkpoint`` also reads, without metadata: plain ``state_dict`` files, DDP ``module.``
prefixes, ``{"state_dict": ...}`` wrappers (Lightning style, with a ``model.`` prefix),
``torch.compile``'s ``_orig_mod.`` prefix, fp16/bf16 weights (converted to float32) and torchvision
GoogLeNet ``state_dict`` files. Variant, num_classes, width_mult and the presence of the aux heads
are then inferred from the keys and shapes.

Every failure is a :class:`CheckpointError` naming the file and the reason (missing and
unexpected keys listed, mismatched shapes named, num_classes mismatch, not a checkpoint, a pickle
that would need to run code). Files are only ever read with ``weights_only=True``: a checkpoint
never executes code.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD
from inception_aug.errors import InputError
from inception_aug.plain import to_plain

from .googlenet import VARIANTS, GoogLeNet, googlenet

__all__ = [
    "FORMAT", "FORMAT_VERSION", "IMAGENET_MEAN", "IMAGENET_STD", "CheckpointError", "CheckpointInfo",
    "file_sha256", "atomic_save", "save_checkpoint", "load_checkpoint", "infer_variant", "checkpoint_report",
]

FORMAT = "inception-toolkit/googlenet"
FORMAT_VERSION = 1

# Wrapper keys under which training scripts commonly nest the state_dict.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")
# Prefixes added by DDP, Lightning modules and torch.compile; stripped when every key has one.
_PREFIXES = ("module.", "model.", "_orig_mod.")
_LIST_LIMIT = 12  # keys named in an error message before "... and N more"
_AUX_PREFIXES = ("aux1.", "aux2.")
# Metadata keys save_checkpoint writes; any other key of a file's metadata is reported under ``extra``.
_KNOWN_METADATA = frozenset({"variant", "num_classes", "width_mult", "aux_logits", "transform_input", "dropout",
                             "aux_dropout", "input_size", "mean", "std", "class_names", "training", "extra",
                             "torch_version"})


class CheckpointError(InputError):
    """A checkpoint that cannot be used (an ``InputError``, so a ``ValueError``: exit code 1 on the
    command line). ``str()`` is ``cannot load checkpoint {path}: {reason}``.

    Attributes: ``path``, ``reason``, and for layout problems the lists ``missing``,
    ``unexpected`` (key names) and ``mismatched`` ((key, file shape, model shape)).
    """

    def __init__(self, path: str | os.PathLike, reason: str, *, missing: list[str] | None = None,
                 unexpected: list[str] | None = None,
                 mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.missing = list(missing or [])
        self.unexpected = list(unexpected or [])
        self.mismatched = list(mismatched or [])
        super().__init__(f"cannot load checkpoint {self.path}: {reason}")


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint holds (from its metadata, else inferred from keys and shapes).

    ``input_size`` is the training crop side in px; ``mean``/``std`` are per-channel RGB values
    on the [0, 1] scale the model's input is normalised with; ``sha256`` is the file's hex digest
    (cache key of the scoring engine); ``inferred`` names the fields that were not in the file's
    metadata; ``source`` describes the container (``inception-toolkit``, ``state_dict``,
    ``wrapped:state_dict`` ...) and ``stripped_prefix`` any removed key prefix.
    """

    path: str
    sha256: str
    variant: str
    num_classes: int
    width_mult: float = 1.0
    aux_logits: bool = True
    transform_input: bool = False
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    class_names: tuple[str, ...] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    source: str = "inception-toolkit"
    stripped_prefix: str = ""
    weights_dtype: str = "float32"
    inferred: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """Human-readable multi-line summary (used by ``inception-eval model --checkpoint``)."""
        names = "none" if self.class_names is None else (
            f"{len(self.class_names)} ({', '.join(self.class_names[:5])}{', ...' if len(self.class_names) > 5 else ''})")
        lines = [
            f"file:            {self.path}",
            f"sha256:          {self.sha256}",
            f"format:          {self.source}" + (f" (stripped prefix {self.stripped_prefix!r})" if self.stripped_prefix else ""),
            f"variant:         {self.variant}",
            f"num_classes:     {self.num_classes}",
            f"width_mult:      {self.width_mult:g}",
            f"aux heads:       {'yes' if self.aux_logits else 'no'}",
            f"transform_input: {self.transform_input}",
            f"input_size:      {self.input_size}",
            f"mean / std:      {tuple(round(v, 4) for v in self.mean)} / {tuple(round(v, 4) for v in self.std)}",
            f"class names:     {names}",
            f"weights dtype:   {self.weights_dtype}",
            f"training:        {self.training if self.training else '-'}",
            f"inferred:        {', '.join(self.inferred) if self.inferred else '-'}",
        ]
        if self.extra:
            lines.append(f"extra metadata:  {self.extra}")
        return "\n".join(lines)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _unwrap_model(model: nn.Module) -> GoogLeNet:
    # DDP / DataParallel keep the model in .module, torch.compile in ._orig_mod.
    for attr in ("module", "_orig_mod"):
        inner = getattr(model, attr, None)
        if isinstance(inner, nn.Module):
            return _unwrap_model(inner)
    if not isinstance(model, GoogLeNet):
        raise TypeError(f"save_checkpoint expects an inception_eval GoogLeNet, got {type(model).__name__}")
    return model


def atomic_save(payload: dict[str, Any], path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: readers never see half a file.
    Parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, *, input_size: int = 224,
                    mean: tuple[float, float, float] = IMAGENET_MEAN, std: tuple[float, float, float] = IMAGENET_STD,
                    class_names: list[str] | tuple[str, ...] | None = None, training: Mapping[str, Any] | None = None,
                    half: bool = False, **extra: Any) -> CheckpointInfo:
    """Write ``model``'s weights plus metadata to ``path`` (atomically) and return its info.

    Args:
        path: destination file (conventionally ``*.pt``); parent folders are created.
        model: a GoogLeNet from :func:`googlenet` (DDP / ``torch.compile`` wrappers are unwrapped).
        input_size: training crop side in px.
        mean, std: per-channel RGB normalisation on the [0, 1] scale.
        class_names: one name per class (length must equal ``num_classes``).
        training: free-form training info (epochs, recipe, accuracy, ...); stored as plain data
            (paths and unknown objects become strings, tuples lists, numpy values Python numbers).
        half: store floating-point weights as float16 (half the size; loaded back as float32).
        **extra: further plain metadata (str/int/float/bool/None/list/dict) kept under ``extra``.
    """
    net = _unwrap_model(model)
    cfg = net.config
    if class_names is not None:
        class_names = [str(n) for n in class_names]
        if len(class_names) != cfg.num_classes:
            raise ValueError(f"{len(class_names)} class names for a model with {cfg.num_classes} classes")
    if len(mean) != 3 or len(std) != 3:
        raise ValueError("mean and std need three (RGB) values")
    state = {}
    for key, value in net.state_dict().items():
        value = value.detach().to("cpu")
        if half and value.is_floating_point():
            value = value.half()
        state[key] = value.clone()
    metadata = {
        "variant": cfg.variant, "num_classes": cfg.num_classes, "width_mult": float(cfg.width_mult),
        "aux_logits": net.aux_logits, "transform_input": bool(cfg.transform_input),
        "dropout": cfg.dropout, "aux_dropout": cfg.aux_dropout,
        "input_size": int(input_size), "mean": [float(v) for v in mean], "std": [float(v) for v in std],
        "class_names": class_names, "training": to_plain(dict(training or {}), keep=(Tensor,)),
        "extra": to_plain(dict(extra), keep=(Tensor,)),
        "torch_version": str(torch.__version__),
    }
    path = Path(path)
    atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION, "state_dict": state, "metadata": metadata},
                 path)
    return CheckpointInfo(
        path=str(path), sha256=file_sha256(path), variant=cfg.variant, num_classes=cfg.num_classes,
        width_mult=float(cfg.width_mult), aux_logits=net.aux_logits, transform_input=bool(cfg.transform_input),
        input_size=int(input_size), mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std),
        class_names=None if class_names is None else tuple(class_names), training=metadata["training"],
        weights_dtype="float16" if half else "float32", extra=metadata["extra"])


# ----------------------------------------------------------------------------------------------
# Loading


def _list(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LIST_LIMIT])
    return shown + (f", ... and {len(keys) - _LIST_LIMIT} more" if len(keys) > _LIST_LIMIT else "")


def _read(path: Path, map_location: Any) -> Any:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        glob = next((ln for ln in lines if "GLOBAL" in ln), None)
        if glob is not None:
            raise CheckpointError(path, "refused: the file needs Python objects or code that weights_only "
                                        f"loading does not allow ({glob[:200]}); a checkpoint must contain "
                                        "only tensors and plain data") from None
        boiler = ("Weights only load failed", "Check the documentation", "Please file an issue")
        detail = [ln for ln in lines if not ln.startswith(boiler)]
        raise CheckpointError(path, "not a checkpoint (weights_only unpickling failed: "
                                    f"{(detail[-1] if detail else lines[-1] if lines else '')[:200]})") from None
    except Exception as e:  # torch.load raises many types on garbage (RuntimeError, KeyError, EOFError ...)
        raise CheckpointError(path, f"not a checkpoint (torch.load failed: {type(e).__name__}: "
                                    f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''})") from None


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())


def _extract(path: Path, obj: Any) -> tuple[dict[str, Tensor], dict[str, Any], str]:
    """Return (state_dict, metadata, source description)."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        state, meta = obj.get("state_dict"), obj.get("metadata") or {}
        if not _is_state_dict(state) or not isinstance(meta, Mapping):
            raise CheckpointError(path, "inception-toolkit checkpoint without a valid state_dict/metadata")
        version = obj.get("format_version", 1)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CheckpointError(path, f"format_version {version!r} is newer than this toolkit reads ({FORMAT_VERSION})")
        return dict(state), dict(meta), "inception-toolkit"
    if _is_state_dict(obj):
        return dict(obj), {}, "state_dict"
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if _is_state_dict(inner):
                meta = {}
                # Lightning keeps constructor arguments under hyper_parameters; use what we recognise.
                hp = obj.get("hyper_parameters")
                if isinstance(hp, Mapping):
                    meta = {k: hp[k] for k in ("variant", "num_classes", "width_mult", "class_names",
                                               "input_size", "mean", "std", "transform_input") if k in hp}
                return dict(inner), meta, f"wrapped:{key}"
        keys = [str(k) for k in list(obj)[:_LIST_LIMIT]]
        raise CheckpointError(path, f"not a checkpoint: a dict with keys [{', '.join(keys)}] and no state_dict of tensors")
    raise CheckpointError(path, f"not a checkpoint: the file holds a {type(obj).__name__}, not a dict of tensors")


def _strip_prefixes(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], str]:
    stripped = ""
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                stripped += prefix
                changed = True
    return state, stripped


def infer_variant(state: Mapping[str, Tensor]) -> str | None:
    """``"torchvision"`` if conv1 has BatchNorm, ``"paper"`` if conv1 has a bias, else ``None``."""
    if "conv1.bn.running_mean" in state or "conv1.bn.weight" in state:
        return "torchvision"
    if "conv1.conv.bias" in state:
        return "paper"
    return None


def _shapes(variant: str, num_classes: int, width: float) -> dict[str, tuple[int, ...]]:
    # Built on the meta device: no memory, no initialisation cost, just the layout.
    with torch.device("meta"):
        model = googlenet(variant, num_classes=num_classes, width_mult=width)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _infer_width(state: Mapping[str, Tensor], variant: str, num_classes: int) -> float:
    """The width_mult whose layout reproduces the file's shapes (short decimals preferred)."""
    ratios = []
    for key, base in (("fc.weight", 1024), ("inception5b.branch1.conv.weight", 384),
                      ("conv3.conv.weight", 192), ("conv1.conv.weight", 64)):
        t = state.get(key)
        if t is not None and t.ndim >= 2:
            ratios.append((t.shape[1] if key == "fc.weight" else t.shape[0]) / base)
    candidates: list[float] = []
    for digits in (2, 3, 4, 6):
        for r in ratios:
            if (c := round(r, digits)) > 0 and c not in candidates:
                candidates.append(c)
    trunk = {k: tuple(v.shape) for k, v in state.items() if not k.startswith(_AUX_PREFIXES)}
    for cand in candidates:
        want = _shapes(variant, num_classes, cand)
        if all(want.get(k) == shape for k, shape in trunk.items() if k in want):
            return cand
    # Nothing fits exactly: use the best ratio; the key/shape check then names the mismatches.
    return candidates[0] if candidates else 1.0


@dataclass(frozen=True)
class _Layout:
    """The architecture a file's tensors describe, and which of its fields had no metadata."""

    variant: str
    num_classes: int
    width_mult: float
    aux_logits: bool
    transform_input: bool
    inferred: tuple[str, ...]


def _check_source(path: Path, map_location: Any) -> None:
    """The file exists and ``map_location`` names a device this machine has."""
    if not path.is_file():
        raise CheckpointError(path, "no such file" if not path.exists() else "not a regular file")
    if isinstance(map_location, (str, torch.device)):
        dev = torch.device(map_location)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise CheckpointError(path, f"map_location {str(map_location)!r} but CUDA is not available here")


def _as_float32(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], str]:
    """Floating-point tensors in float32 (autocast decides precision at inference time), and the
    file's floating dtypes as text (``float16``, ``float32/bfloat16``, ``none``)."""
    dtypes = sorted({str(v.dtype).replace("torch.", "") for v in state.values() if v.is_floating_point()})
    state = {k: (v.float() if v.is_floating_point() and v.dtype != torch.float32 else v) for k, v in state.items()}
    return state, ("/".join(dtypes) if dtypes else "none")


def _file_variant(path: Path, state: Mapping[str, Tensor], meta: Mapping[str, Any], expected: str | None) -> str:
    found = meta.get("variant") or infer_variant(state)
    if found not in VARIANTS:
        some = _list(sorted(state)[:_LIST_LIMIT])
        raise CheckpointError(path, "unrecognised layout: cannot tell the GoogLeNet variant (no conv1.conv.bias "
                                    f"or conv1.bn.* key); keys start with: {some}")
    if expected is not None and expected != found:
        raise CheckpointError(path, f"variant mismatch: the file is a {found!r} GoogLeNet, expected {expected!r}")
    return found


def _file_classes(path: Path, state: Mapping[str, Tensor], meta: Mapping[str, Any], expected: int | None) -> int:
    fc_w = state.get("fc.weight")
    if fc_w is None or fc_w.ndim != 2:
        raise CheckpointError(path, "missing the classifier weight 'fc.weight'", missing=["fc.weight"])
    found = int(fc_w.shape[0])
    if "num_classes" in meta and int(meta["num_classes"]) != found:
        raise CheckpointError(path, f"num_classes mismatch: metadata says {meta['num_classes']} but fc.weight has "
                                    f"{found} rows")
    if expected is not None and expected != found:
        raise CheckpointError(path, f"num_classes mismatch: the file has {found} classes, expected {expected}")
    return found


def _infer_layout(path: Path, state: Mapping[str, Tensor], meta: Mapping[str, Any], source: str, *,
                  variant: str | None, num_classes: int | None, aux_logits: bool | None,
                  transform_input: bool | None) -> _Layout:
    """Architecture from the metadata, else from key names and shapes; requests checked against it."""
    file_variant = _file_variant(path, state, meta, variant)
    file_classes = _file_classes(path, state, meta, num_classes)
    inferred = [k for k in ("variant", "num_classes") if k not in meta]
    width = meta.get("width_mult")
    if width is None:
        width = _infer_width(state, file_variant, file_classes)
        inferred.append("width_mult")
    if "aux_logits" not in meta:
        inferred.append("aux_logits")
    want_aux = any(k.startswith(_AUX_PREFIXES) for k in state) if aux_logits is None else bool(aux_logits)
    if transform_input is None:
        if "transform_input" in meta:
            transform_input = bool(meta["transform_input"])
        else:
            # A torchvision state_dict without metadata: torchvision's released ImageNet weights expect it.
            transform_input = file_variant == "torchvision" and source != "inception-toolkit"
            inferred.append("transform_input")
    if file_variant == "paper" and transform_input:
        raise CheckpointError(path, "transform_input=True is only meaningful for the torchvision variant")
    return _Layout(file_variant, file_classes, float(width), want_aux, bool(transform_input), tuple(inferred))


def _layout_errors(path: Path, state: Mapping[str, Tensor], expected: Mapping[str, Tensor],
                   layout: _Layout) -> list[str]:
    """Raise a CheckpointError listing missing / unexpected / mis-shaped keys; return the benign
    missing keys (BatchNorm ``num_batches_tracked`` counters, absent before torch 0.4.1)."""
    missing = sorted(k for k in expected if k not in state)
    benign = [k for k in missing if k.endswith("num_batches_tracked")]
    missing = [k for k in missing if k not in benign]
    unexpected = sorted(k for k in state if k not in expected)
    mismatched = [(k, tuple(state[k].shape), tuple(expected[k].shape)) for k in expected
                  if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or mismatched):
        return benign
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys: {_list(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys: {_list(unexpected)}")
    if mismatched:
        shown = "; ".join(f"{k} has {list(a)} in the file, model needs {list(b)}" for k, a, b in mismatched[:_LIST_LIMIT])
        more = f"; ... and {len(mismatched) - _LIST_LIMIT} more" if len(mismatched) > _LIST_LIMIT else ""
        parts.append(f"{len(mismatched)} shape mismatches: {shown}{more}")
    desc = (f"{layout.variant} GoogLeNet, {layout.num_classes} classes, width_mult {layout.width_mult:g}, "
            f"aux heads {'on' if layout.aux_logits else 'off'}")
    raise CheckpointError(path, f"does not match a {desc}: " + " | ".join(parts),
                          missing=missing, unexpected=unexpected, mismatched=mismatched)


def _build_and_load(path: Path, state: dict[str, Tensor], meta: Mapping[str, Any], layout: _Layout,
                    map_location: Any) -> GoogLeNet:
    """A GoogLeNet of ``layout`` holding the file's tensors, in eval mode on ``map_location``."""
    if not layout.aux_logits:
        state = {k: v for k, v in state.items() if not k.startswith(_AUX_PREFIXES)}
    # Built on the meta device (no random init: loading a full-size model costs no extra seconds),
    # then the file's tensors are assigned as the parameters.
    with torch.device("meta"):
        model = googlenet(layout.variant, num_classes=layout.num_classes, aux_logits=layout.aux_logits,
                          width_mult=layout.width_mult, transform_input=layout.transform_input,
                          dropout=meta.get("dropout"), aux_dropout=float(meta.get("aux_dropout", 0.7)))
    for k in _layout_errors(path, state, model.state_dict(), layout):
        state[k] = torch.zeros((), dtype=torch.long)
    state = {k: v.contiguous() for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    model.to(map_location if isinstance(map_location, (str, torch.device)) else "cpu")
    return model.eval()


def _info(path: Path, sha: str, meta: Mapping[str, Any], layout: _Layout, *, source: str, stripped: str,
          weights_dtype: str) -> CheckpointInfo:
    """The CheckpointInfo of a loaded file: metadata where present, the inferred layout otherwise."""
    class_names = meta.get("class_names")
    if class_names is not None:
        class_names = tuple(str(n) for n in class_names)
        if len(class_names) != layout.num_classes:
            raise CheckpointError(path, f"metadata lists {len(class_names)} class names for {layout.num_classes} classes")
    inferred = layout.inferred + tuple(k for k in ("input_size", "mean", "std") if k not in meta)  # assumed defaults
    extra = dict(meta.get("extra") or {})
    extra.update({k: v for k, v in meta.items() if k not in _KNOWN_METADATA})
    return CheckpointInfo(
        path=str(path), sha256=sha, variant=layout.variant, num_classes=layout.num_classes,
        width_mult=layout.width_mult, aux_logits=layout.aux_logits, transform_input=layout.transform_input,
        input_size=int(meta.get("input_size", 224)), mean=tuple(float(v) for v in meta.get("mean", IMAGENET_MEAN)),
        std=tuple(float(v) for v in meta.get("std", IMAGENET_STD)), class_names=class_names,
        training=dict(meta.get("training") or {}), source=source, stripped_prefix=stripped,
        weights_dtype=weights_dtype, inferred=inferred, extra=extra)


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu", variant: str | None = None,
                    num_classes: int | None = None, aux_logits: bool | None = None,
                    transform_input: bool | None = None) -> tuple[GoogLeNet, CheckpointInfo]:
    """Load a checkpoint into a fresh GoogLeNet (returned in eval mode) and describe it.

    Args:
        path: the file.
        map_location: passed to ``torch.load``; the model's tensors live there.
        variant: expected variant; an error if the file's differs. Default: from the file.
        num_classes: expected number of classes; an error if the file's differs.
        aux_logits: ``False`` drops aux-head weights the file has; ``True`` requires them.
            Default: keep what the file has.
        transform_input: torchvision variant only. Default: the file's metadata, else ``True``
            for a torchvision ``state_dict`` without metadata (torchvision's released ImageNet
            weights expect it; pass ``False`` for a model trained without it) and ``False`` otherwise.

    Raises:
        CheckpointError: missing file, not a checkpoint, refused pickle, unknown layout, missing /
            unexpected keys, shape mismatches, num_classes or variant mismatch.
    """
    path = Path(path)
    _check_source(path, map_location)
    sha = file_sha256(path)
    state, meta, source = _extract(path, _read(path, map_location))
    state, stripped = _strip_prefixes(state)
    state, weights_dtype = _as_float32(state)
    layout = _infer_layout(path, state, meta, source, variant=variant, num_classes=num_classes,
                           aux_logits=aux_logits, transform_input=transform_input)
    model = _build_and_load(path, state, meta, layout, map_location)
    info = _info(path, sha, meta, layout, source=source, stripped=stripped, weights_dtype=weights_dtype)
    return model, info


def checkpoint_report(path: str | os.PathLike, *, as_json: bool = False) -> str:
    """What a checkpoint file holds, as the text of :meth:`CheckpointInfo.describe` plus the
    parameter count, or as JSON (the info's fields plus ``parameters``). Raises CheckpointError."""
    model, info = load_checkpoint(path)
    n_params = sum(p.numel() for p in model.parameters())
    if as_json:
        return json.dumps(dict(dataclasses.asdict(info), parameters=n_params), indent=2, default=str)
    return f"{info.describe()}\nparameters:      {n_params:,}"
