"""Prepare a model for fast inference: device, eval mode, memory format, autocast precision.

``prepare_for_inference(model, device=..., precision=..., channels_last=...)`` returns an
:class:`InferenceModel`: a callable taking a float (B, 3, H, W) batch (any device, any float
dtype) and returning float32 outputs on the model's device, computed under ``torch.inference_mode``
and, for ``bf16``/``fp16``, ``torch.autocast`` (weights stay float32; autocast casts per op, so
numerically sensitive ops such as LRN and softmax-free reductions run in float32).
The code is device-agnostic: "cpu", "cuda", "cuda:1", "mps", ... anything torch knows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from inception_aug.errors import UsageError
from inception_eval.constants import PRECISIONS

from .googlenet import check_image_batch

__all__ = ["PRECISIONS", "InferenceSettings", "InferenceModel", "prepare_for_inference", "resolve_device"]

# Autocast dtype of each name in PRECISIONS (None: plain float32, no autocast).
_AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class InferenceSettings:
    """The resolved settings of an :class:`InferenceModel`."""

    device: torch.device
    precision: str
    channels_last: bool
    compile: bool = False


def _autocast_supported(device: torch.device, dtype: torch.dtype) -> str | None:
    """``None`` if autocast to ``dtype`` runs a convolution on ``device``, else the reason it does not."""
    try:
        with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=dtype):
            x = torch.ones(1, 2, 4, 4, device=device)
            w = torch.ones(2, 2, 3, 3, device=device)
            y = torch.nn.functional.conv2d(x, w)
        if y.dtype != dtype:
            return f"autocast on {device.type} ran the convolution in {y.dtype}, not {dtype}"
    except Exception as e:  # RuntimeError / AssertionError / warnings-as-errors, depending on build
        return f"{type(e).__name__}: {e}".splitlines()[0]
    return None


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device`` for ``device``; UsageError (a ValueError) if that device is not available here."""
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} requested but CUDA is not available in this torch build/machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise UsageError(f"device {device!r} requested but MPS is not available")
    return dev


class InferenceModel:
    """Callable wrapper returned by :func:`prepare_for_inference`.

    ``im(x)`` -> float32 main logits (B, C). ``im(x, return_aux=True)`` -> float32
    ``GoogLeNetOutputs(logits, aux1, aux2)`` (entries ``None`` for absent heads). ``im.probs(x)`` -> float32
    softmax of the main logits.
    """

    def __init__(self, model: nn.Module, settings: InferenceSettings) -> None:
        self.model = model
        self.settings = settings
        # torch.compile specialises on the batch size: the first batch fixes it, smaller ones (an
        # engine's last batch) are zero-padded up to it, so a run compiles once.
        self._forward = torch.compile(model, dynamic=False) if settings.compile else model
        self._static_batch: int | None = None
        self._compiled_ok = False

    @property
    def device(self) -> torch.device:
        return self.settings.device

    @property
    def precision(self) -> str:
        return self.settings.precision

    @property
    def channels_last(self) -> bool:
        return self.settings.channels_last

    def _prepare_input(self, x: Tensor) -> Tensor:
        check_image_batch(x, "the inference model")
        x = x.to(self.device, dtype=torch.float32, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _forward_padded(self, x: Tensor, return_aux: bool) -> Any:
        b = x.shape[0]
        if self._static_batch is None:
            self._static_batch = b
        pad = self._static_batch - b
        if pad > 0:
            x = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))])
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        try:
            out = self._forward(x, return_aux=True) if return_aux else self._forward(x)
        except Exception as e:
            if self._compiled_ok:
                raise
            first = f"{type(e).__name__}: {e}".splitlines()[0]
            raise RuntimeError(f"torch.compile failed on {self.device} ({first}); "
                               "run without compile (--compile off)") from e
        self._compiled_ok = True
        if pad > 0:
            out = type(out)(*(None if t is None else t[:b] for t in out)) if return_aux else out[:b]
        return out

    def _run(self, x: Tensor, return_aux: bool) -> Any:
        if self.settings.compile:
            return self._forward_padded(x, return_aux)
        return self.model(x, return_aux=True) if return_aux else self.model(x)

    def __call__(self, x: Tensor, *, return_aux: bool = False) -> Any:
        x = self._prepare_input(x)
        dtype = _AUTOCAST_DTYPES[self.precision]
        with torch.inference_mode():
            if dtype is None:
                out = self._run(x, return_aux)
            else:
                with torch.autocast(device_type=self.device.type, dtype=dtype):
                    out = self._run(x, return_aux)
        if return_aux:
            vals = [None if t is None else t.float() for t in out]
            return type(out)(*vals) if hasattr(out, "_fields") else tuple(vals)  # keep GoogLeNetOutputs
        return out.float()

    def probs(self, x: Tensor) -> Tensor:
        """Softmax probabilities of the main head, float32 (B, C), computed in float32."""
        return torch.softmax(self(x), dim=1)

    def __repr__(self) -> str:
        s = self.settings
        return (f"InferenceModel({type(self.model).__name__}, device={s.device}, precision={s.precision}, "
                f"channels_last={s.channels_last}, compile={s.compile})")


def prepare_for_inference(model: nn.Module, *, device: str | torch.device = "cpu", precision: str = "fp32",
                          channels_last: bool = True, compile: bool = False) -> InferenceModel:
    """Move ``model`` to ``device`` in eval mode (in place) and wrap it for fast inference.

    Args:
        model: any module taking (B, 3, H, W); GoogLeNet's ``return_aux`` is passed through.
        device: "cpu", "cuda", "cuda:N", ... (a ``UsageError``, a ValueError, if not available).
        precision: "fp32", "bf16" or "fp16" (autocast). fp16 on CPU works when this torch build
            supports CPU float16 autocast, else a ``UsageError`` says so and suggests bf16.
        channels_last: store weights and inputs NHWC, usually faster for convolutions on CPU
            (oneDNN) and on tensor-core GPUs.
        compile: run the model through ``torch.compile`` (Inductor; on CPU it needs a C++
            compiler). A one-time compile (about 20 s fp32, 50 s bf16 for GoogLeNet at 224 on 2
            CPU cores) buys faster steady-state batches (``benchmarks/eval_throughput.py --compile``);
            results agree with eager mode to float rounding, not bit for bit. Batches smaller than the
            first one are zero-padded to its size so that the graph compiles once.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    dev = resolve_device(device)
    dtype = _AUTOCAST_DTYPES[precision]
    if dtype is not None:
        reason = _autocast_supported(dev, dtype)
        if reason is not None:
            alt = " (try precision='bf16' or 'fp32')" if precision == "fp16" else " (try precision='fp32')"
            raise UsageError(f"precision {precision!r} is not supported on {dev} by torch {torch.__version__}: "
                             f"{reason}{alt}")
    model.eval()
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return InferenceModel(model, InferenceSettings(device=dev, precision=precision, channels_last=channels_last,
                                                   compile=compile))
