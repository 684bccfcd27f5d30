"""Prepare a model for fast inference: device, eval mode, memory format, autocast precision.

``prepare_for_inference(model, device=..., precision=..., channels_last=...)`` returns an
:class:`InferenceModel`: a callable taking a float (B, 3, H, W) batch (any device, any float
dtype) and returning float32 outputs on the model's device, computed under ``torch.inference_mode``
and, for ``bf16``/``fp16``, ``torch.autocast`` (weights stay float32; autocast casts per op, so
numerically sensitive ops such as LRN and softmax-free reductions run in float32).
The code is device-agnostic: "cpu", "cuda", "cuda:1", "mps", ... anything torch knows.

Also here, because they are properties of this machine and this torch build rather than of a run:
:func:`decide_compile` (the ``auto``/``on``/``off`` rule of ``torch.compile``, a pure function of
the remaining forward views and their timed eager cost), :func:`resolve_precision` (``auto``: bf16 where the device computes it
natively), :func:`cxx_compiler` (Inductor's C++ compiler on CPU) and :func:`use_compile_cache`
(where Inductor keeps compiled kernels between runs).
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import torch
from torch import Tensor, nn

from inception_aug.errors import UsageError
from inception_eval.constants import AUTO_COMPILE_MIN_EAGER_SECONDS, COMPILE_MODES, PRECISIONS

from .googlenet import check_image_batch

__all__ = ["PRECISIONS", "InferenceSettings", "InferenceModel", "prepare_for_inference", "resolve_device",
           "CompileDecision", "compile_mode", "decide_compile", "cxx_compiler", "native_bf16",
           "resolve_precision", "default_compile_cache_dir", "use_compile_cache"]

# Autocast dtype of each name in PRECISIONS (None: plain float32, no autocast).
_AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class InferenceSettings:
    """The resolved settings of an :class:`InferenceModel`."""

    device: torch.device
    precision: str
    channels_last: bool
    compile: bool = False
    fallback: bool = False


# ------------------------------------------------------------------------------------------------
# torch.compile: the rule, the compiler, the cache
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompileDecision:
    """Whether a run compiles and why. ``mode``: the requested ``auto``/``on``/``off``;
    ``remaining_views``: forward views still to run when deciding; ``eager_seconds_per_view``: as
    timed on the run (None: not timed); ``threshold_seconds``: the auto rule's minimum (None outside
    a timed ``auto`` decision)."""

    compile: bool
    mode: str
    reason: str
    remaining_views: int | None = None
    eager_seconds_per_view: float | None = None
    threshold_seconds: float | None = None

    def notice(self) -> str:
        """One line for the user: ``compile on|off (<reason>)``."""
        return f"compile {'on' if self.compile else 'off'} ({self.reason})"

    def as_dict(self) -> dict:
        return {"compile": self.compile, "compile_mode": self.mode, "compile_reason": self.reason,
                "compile_remaining_views": self.remaining_views,
                "compile_eager_seconds_per_view": self.eager_seconds_per_view,
                "compile_threshold_seconds": self.threshold_seconds}


def compile_mode(value: bool | str | None) -> str:
    """``auto``/``on``/``off`` for a mode name or a bool (True: ``on``, False: ``off``, None: ``auto``);
    ``UsageError`` otherwise."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "on" if value else "off"
    if value in COMPILE_MODES:
        return str(value)
    raise UsageError(f"compile must be one of {', '.join(COMPILE_MODES)} (or a bool), got {value!r}")


def decide_compile(mode: bool | str | None, *, device_type: str, compiler: str | None, remaining_views: int,
                   eager_seconds_per_view: float | None,
                   min_seconds: float = AUTO_COMPILE_MIN_EAGER_SECONDS) -> CompileDecision:
    """The compile rule, a pure function. ``on``/``off`` are obeyed. ``auto`` compiles on a CPU with a
    C++ compiler (``compiler``, see :func:`cxx_compiler`; Inductor needs one) when
    ``remaining_views`` (>= 0) x ``eager_seconds_per_view`` (timed on the run; None: the run is too
    short to time) reaches ``min_seconds`` (``constants.AUTO_COMPILE_MIN_EAGER_SECONDS``, the
    measured break-even of the one-time compile). Other devices stay eager under ``auto``: the
    break-even was measured on CPU only."""
    mode = compile_mode(mode)
    if mode != "auto":
        return CompileDecision(mode == "on", mode, "--compile given" if mode == "on" else "--no-compile given")
    if device_type != "cpu":
        return CompileDecision(False, mode, f"auto: break-even not measured on {device_type}; --compile to force")
    if compiler is None:
        return CompileDecision(False, mode, "auto: no C++ compiler for Inductor found")
    if eager_seconds_per_view is None:
        return CompileDecision(False, mode, f"auto: {remaining_views:,} planned views, too few to time",
                               remaining_views)
    eager = remaining_views * eager_seconds_per_view
    on = eager >= min_seconds
    why = (f"auto: {remaining_views:,} views x {eager_seconds_per_view:.4f} s/view eager = {eager:,.0f} s "
           f"{'>=' if on else '<'} {min_seconds:g} s, the break-even of the one-time compile")
    return CompileDecision(on, mode, why, remaining_views, eager_seconds_per_view, min_seconds)


def cxx_compiler() -> str | None:
    """Path of the C++ compiler Inductor would use on CPU, or None if none is on the PATH.

    ``torch._inductor.config.cpp.cxx`` when that module is already loaded; otherwise its default
    candidates, ``$CXX`` then ``g++`` (``clang++`` on macOS), read without importing Inductor, whose
    configuration alone adds about 70 MB to every scoring process. A wrong guess costs nothing:
    under ``auto`` a compile that fails falls back to eager with a notice."""
    config = sys.modules.get("torch._inductor.config")
    names = getattr(getattr(config, "cpp", None), "cxx", None) if config is not None else None
    if names is None:
        names = (os.environ.get("CXX"), "clang++" if sys.platform == "darwin" else "g++")
    for name in (names if isinstance(names, (list, tuple)) else (names,)):
        found = shutil.which(name) if name else None
        if found:
            return found
    return None


def native_bf16(device: torch.device) -> bool:
    """True when ``device`` computes bf16 in hardware: a CPU with AVX512-BF16 or AMX, a CUDA GPU
    that ``torch.cuda.is_bf16_supported`` (Ampere or newer)."""
    if device.type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return False


def resolve_precision(precision: str, device: str | torch.device) -> tuple[str, str]:
    """(a name of ``PRECISIONS``, why) for ``precision``: ``auto`` is bf16 where
    :func:`native_bf16`, else fp32; any other name is returned as given (fp32 on a device with
    native bf16 says that ``auto`` would pick bf16)."""
    dev = torch.device(device)
    if precision != "auto":
        if precision == "fp32" and native_bf16(dev):
            return precision, f"as given; this {dev.type} has native bf16: --precision auto would use it"
        return precision, "as given"
    if native_bf16(dev):
        return "bf16", f"auto: {dev.type} has native bf16"
    return "fp32", f"auto: no native bf16 on this {dev.type}"


def default_compile_cache_dir() -> str:
    """Where compiled kernels are kept when ``$TORCHINDUCTOR_CACHE_DIR`` is unset:
    ``$XDG_CACHE_HOME/inception-eval/inductor`` (``~/.cache/inception-eval/inductor``), beside the
    score cache, instead of torch's ``/tmp/torchinductor_<user>`` that a reboot empties."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "inception-eval", "inductor")


def use_compile_cache() -> str:
    """Point Inductor's on-disk caches (FX graph and AOT autograd caches) at
    :func:`default_compile_cache_dir` unless ``$TORCHINDUCTOR_CACHE_DIR`` is set (a process-wide
    setting); returns the folder in use. A rerun of the same model, precision and batch size
    then pays only the warm compile."""
    if not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = default_compile_cache_dir()
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]


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

    def __init__(self, model: nn.Module, settings: InferenceSettings,
                 on_fallback: Callable[[str], None] | None = None) -> None:
        self.model = model
        self.settings = settings
        # torch.compile specialises on the batch size: the first batch fixes it, smaller ones (an
        # engine's last batch) are zero-padded up to it, so a run compiles once.
        self._forward = torch.compile(model, dynamic=False) if settings.compile else model
        self._static_batch: int | None = None
        self._compiled_ok = False
        self._on_fallback = on_fallback
        #: Seconds of the first compiled call (the one-time compile plus one batch); None before it.
        self.first_call_seconds: float | None = None
        #: Why compiling failed when ``settings.fallback`` turned it off (then ``settings.compile`` is False).
        self.compile_failure: str | None = None

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
        t0 = time.perf_counter()
        try:
            out = self._forward(x, return_aux=True) if return_aux else self._forward(x)
        except Exception as e:
            if self._compiled_ok:
                raise
            first = f"{type(e).__name__}: {e}".splitlines()[0]
            if not self.settings.fallback:
                raise RuntimeError(f"torch.compile failed on {self.device} ({first}); "
                                   "run without compile (--no-compile)") from e
            return self._fall_back(first, x[:b], return_aux)
        if not self._compiled_ok:
            self.first_call_seconds = time.perf_counter() - t0
        self._compiled_ok = True
        if pad > 0:
            out = type(out)(*(None if t is None else t[:b] for t in out)) if return_aux else out[:b]
        return out

    def _fall_back(self, why: str, x: Tensor, return_aux: bool) -> Any:
        """Compiling failed and ``settings.fallback``: run eagerly from now on, say so once."""
        self.compile_failure = why
        self.settings = replace(self.settings, compile=False)
        self._forward = self.model
        if self._on_fallback is not None:
            self._on_fallback(f"torch.compile failed on {self.device} ({why}); scoring eagerly")
        return self.model(x, return_aux=True) if return_aux else self.model(x)

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
                          channels_last: bool = True, compile: bool = False, fallback: bool = False,
                          on_fallback: Callable[[str], None] | None = None) -> InferenceModel:
    """Move ``model`` to ``device`` in eval mode (in place) and wrap it for fast inference.

    Args:
        model: any module taking (B, 3, H, W); GoogLeNet's ``return_aux`` is passed through.
        device: "cpu", "cuda", "cuda:N", ... (a ``UsageError``, a ValueError, if not available).
        precision: "fp32", "bf16" or "fp16" (autocast). fp16 on CPU works when this torch build
            supports CPU float16 autocast, else a ``UsageError`` says so and suggests bf16.
        channels_last: store weights and inputs NHWC, usually faster for convolutions on CPU
            (oneDNN) and on tensor-core GPUs.
        compile: run the model through ``torch.compile`` (Inductor; on CPU it needs a C++
            compiler). A one-time compile (about 25-27 s fp32, 35-37 s bf16 for GoogLeNet at 224 into
            an empty cache on this 2-core CPU, ``benchmarks/model_throughput.py --compile-cost``)
            buys faster steady-state batches;
            results agree with eager mode to float rounding, not bit for bit. Batches smaller than the
            first one are zero-padded to its size so that the graph compiles once. Whether a run
            should compile is :func:`decide_compile`'s business; call :func:`use_compile_cache`
            first to keep the compiled kernels across runs.
        fallback: with ``compile``, a compile that fails on the first batch turns compile off and
            that batch and the rest run eagerly (``on_fallback`` gets one line saying why);
            without it such a failure raises ``RuntimeError``.
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
                                                   compile=compile, fallback=fallback), on_fallback)
