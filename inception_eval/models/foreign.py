"""Classifiers that are not our GoogLeNet: TorchScript files, ``torch.export`` programs, factories.

Kinds (:func:`model_kind`):

- ``torchscript``: a ``torch.jit.save`` archive, read with ``torch.jit.load`` (no pickled code runs);
- ``export``: a ``torch.export.save`` program (``.pt2``), read with ``torch.export.load(...).module()``;
- ``factory``: ``module.path:callable``, a Python callable returning an ``nn.Module``, optionally with
  a ``state_dict`` file of weights (read with ``weights_only=True``), given separately or as
  ``module.path:callable@weights.pt``. This imports and runs the user's own code, by their
  explicit choice;
- ``googlenet``: any other file (our checkpoint format or a state_dict: ``models.checkpoint``).

Every foreign model is wrapped in :class:`ForeignClassifier`, which maps a float (B, 3, S, S)
batch to (B, C) logits (a tuple output gives its first element) and refuses auxiliary heads, a
GoogLeNet feature. :func:`probe_classifier` runs one dummy forward to check that contract.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from inception_aug.errors import UsageError

from .checkpoint import CheckpointError, file_sha256

__all__ = ["KINDS", "FACTORY_PATTERN", "is_factory_spec", "split_factory_spec", "model_kind", "ForeignClassifier", "load_foreign",
           "probe_classifier"]

KINDS = ("googlenet", "torchscript", "export", "factory")
#: ``package.module:callable`` (dotted module path, a colon, an attribute path), optionally
#: followed by ``@`` and a weights file.
FACTORY_PATTERN = re.compile(r"^([A-Za-z_][\w.]*:[A-Za-z_][\w.]*)(?:@(.+))?$")


def is_factory_spec(spec: str | os.PathLike) -> bool:
    """True for ``module.path:callable`` (or ``...@weights``) text that is not an existing file."""
    text = os.fspath(spec)
    return bool(FACTORY_PATTERN.match(text)) and not Path(text).exists()


def split_factory_spec(spec: str, weights: str | os.PathLike | None = None) -> tuple[str, str | None]:
    """``("module:callable", weights file or None)`` of ``spec``; ``weights`` is used when the spec
    names none (UsageError when both name different files)."""
    m = FACTORY_PATTERN.match(spec)
    if m is None:
        raise UsageError(f"{spec!r} is not a module.path:callable[@weights] spec")
    own = m.group(2)
    if own is not None and weights is not None and Path(own) != Path(weights):
        raise UsageError(f"{spec} names its weights; drop --weights {weights} or the @{own}")
    chosen = own if own is not None else weights
    return m.group(1), None if chosen is None else os.fspath(chosen)


def model_kind(spec: str | os.PathLike) -> str:
    """One of :data:`KINDS` for a model file or factory spec (a file's zip entries decide:
    TorchScript archives hold ``code/``, export programs ``archive_format``)."""
    if is_factory_spec(spec):
        return "factory"
    path = Path(spec)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return "googlenet"
    with zipfile.ZipFile(path) as z:
        # Entries are "<archive name>/<record>": compare the record's first component.
        records = {n.split("/", 1)[1].split("/", 1)[0] for n in z.namelist() if "/" in n}
    if "archive_format" in records or path.suffix == ".pt2":
        return "export"
    if "code" in records or "constants.pkl" in records:
        return "torchscript"
    return "googlenet"


class ForeignClassifier(nn.Module):
    """``inner`` as a classifier: ``forward(x)`` -> (B, C) logits (first element of a tuple output).

    ``train``/``eval`` leave an exported program alone (it cannot switch modes; it was exported in
    the mode it runs in). ``kind`` and ``source`` name what was loaded, for messages.
    """

    def __init__(self, inner: nn.Module, kind: str, source: str) -> None:
        super().__init__()
        self.inner = inner
        self.kind = kind
        self.source = source
        self.aux_logits = False

    def train(self, mode: bool = True) -> "ForeignClassifier":
        self.training = mode
        if self.kind != "export":
            self.inner.train(mode)
        return self

    def forward(self, x: Tensor, return_aux: bool = False) -> Tensor:
        if return_aux:
            raise UsageError(f"auxiliary heads are a GoogLeNet feature; {self.source} is a {self.kind} model "
                             "(score its main head: --heads main)")
        out = self.inner(x)
        return out[0] if isinstance(out, (tuple, list)) and len(out) else out


def _read_weights(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise CheckpointError(path, "no such weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a refused pickle or a file that is not torch.save output
        raise CheckpointError(path, f"cannot read the weights with weights_only=True ({str(e).splitlines()[0]})")
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(path, "the weights file is not a state_dict of tensors")
    return dict(state)


def _factory(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:
        raise CheckpointError(spec, f"cannot import module {module_name!r} ({type(e).__name__}: "
                                    f"{str(e).splitlines()[0] if str(e) else ''}); put it on PYTHONPATH")
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CheckpointError(spec, f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CheckpointError(spec, f"{attr!r} in {module_name!r} is not callable")
    return obj


def _build_factory(spec: str, weights: str | os.PathLike | None, kwargs: Mapping[str, Any]) -> tuple[nn.Module, str]:
    """The factory's module with ``weights`` loaded, and the cache digest of (name, weights, kwargs)."""
    fn = _factory(spec)
    try:
        model = fn(**dict(kwargs))
    except Exception as e:
        raise CheckpointError(spec, f"the factory raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    if not isinstance(model, nn.Module):
        raise CheckpointError(spec, f"the factory returned a {type(model).__name__}, not an nn.Module")
    weights_sha = ""
    if weights is not None:
        wpath = Path(weights)
        try:
            model.load_state_dict(_read_weights(wpath))
        except RuntimeError as e:
            raise CheckpointError(wpath, f"does not fit {spec}: {str(e).splitlines()[0]}")
        weights_sha = file_sha256(wpath)
    blob = json.dumps({"factory": spec, "weights_sha256": weights_sha, "kwargs": dict(kwargs)}, sort_keys=True,
                      default=str)
    return model, hashlib.sha256(blob.encode()).hexdigest()


def load_foreign(spec: str | os.PathLike, kind: str, *, weights: str | os.PathLike | None = None,
                 factory_kwargs: Mapping[str, Any] | None = None) -> tuple[ForeignClassifier, str]:
    """``(ForeignClassifier in eval mode on the CPU, sha256)`` of a ``torchscript``/``export`` file or
    a ``factory`` spec. The sha256 is the file's, or for a factory that of its name, the weights'
    sha256 and ``factory_kwargs`` (both ignored for files). Raises ``CheckpointError`` naming the
    file or spec."""
    text = os.fspath(spec)
    if kind == "factory":
        fn_spec, weights = split_factory_spec(text, weights)
        model, sha = _build_factory(fn_spec, weights, factory_kwargs or {})
    else:
        try:
            model = torch.jit.load(text, map_location="cpu") if kind == "torchscript" else \
                torch.export.load(text).module()
        except Exception as e:
            raise CheckpointError(text, f"cannot read it as a {kind} model ({str(e).splitlines()[0]})")
        sha = file_sha256(text)
    wrapped = ForeignClassifier(model, kind, text)
    return wrapped.eval(), sha


def probe_classifier(model: nn.Module, size: int, source: str) -> int:
    """Run one (1, 3, ``size``, ``size``) zero batch through ``model``; return its number of classes.

    Raises ``CheckpointError`` when the output is not (1, C) logits (or a tuple starting with
    them) and re-raises the model's own exception as ``RuntimeError`` with the size in the message.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, 3, size, size))
    except UsageError:
        raise
    except Exception as e:
        raise RuntimeError(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    finally:
        model.train(was_training)
    if isinstance(out, (tuple, list)) and len(out):
        out = out[0]
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != 1 or out.shape[1] < 1:
        got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else f"a {type(out).__name__}"
        raise CheckpointError(source, f"the model returned {got} for a (1, 3, {size}, {size}) input; a classifier "
                                      "must return (B, C) logits (or a tuple whose first element is that)")
    return int(out.shape[1])
