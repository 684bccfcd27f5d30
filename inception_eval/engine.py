"""The scoring loop: a checkpoint, a dataset and test protocols in; per-image probabilities out.

How one run goes (each step has its own module):

1. The model is resolved to ``(model, ModelInfo)`` whatever the caller passed
   (:mod:`inception_eval.resolve`); the settings are checked before any image is read
   (:class:`ScoreSettings`).
2. The store for this (checkpoint sha256, protocols, heads, preprocessing, precision, device,
   dataset signature) is opened and locked (:mod:`inception_eval.store`); images already stored are
   not computed again, so an interrupted run resumes where it stopped.
3. DataLoader workers decode each pending image and cut the *union* of the requested protocols'
   unique views (:mod:`inception_eval.view_loader`) while the main process runs the model.
4. The views of consecutive images are packed into forward batches of at most ``max_batch`` views
   (:mod:`inception_eval.batching`), so memory is bounded by ``max_batch`` plus the prefetched
   images, however many images there are.
5. When all views of an image are through the model, each protocol's views are averaged with their
   dedupe weights (``aggregate.average_views``), per head, and the rows are written to the store.
6. With several processes (``torchrun``) images are sharded across ranks and the ranks' rows
   gathered (:mod:`inception_eval.distributed`); every rank ends with the full, identical result
   (:class:`~inception_eval.results.ScoreResult`).

Exactness: in fp32 the engine's per-image probabilities equal a plain loop over each nominal view
(``views.reference_cut``, the same model, one view at a time, ``average_views`` with unit weights)
up to float rounding: the pixels are identical, but a batched convolution may round differently
from a batch of one, and a weighted sum of deduplicated views rounds differently from the repeated
sum (tests bound the difference at 1e-5 absolute and require the same top-1/top-5).

Compile: under ``compile="auto"`` (the default) on a CPU with a C++ compiler
(``models.inference.cxx_compiler``) the first five batches run eagerly, batches 2-5 are timed, and
the rest of the run is compiled (``torch.compile``, Inductor) when the remaining planned views
(pending images x unique views per image, :func:`planned_views`) x the fastest of those eager
seconds per view reach
``constants.AUTO_COMPILE_MIN_EAGER_SECONDS``, the measured break-even of the one-time compile;
otherwise, and on other devices, it scores eagerly. A compile that fails under ``auto`` falls back
to eager with a notice; under ``on`` it raises. The decision and why go to ``warn`` as one
``scoring on ...`` line and to ``ScoreResult.settings`` (``compile``, ``compile_mode``,
``compile_reason``, ``compile_planned_views``, ``compile_remaining_views``,
``compile_eager_seconds_per_view``, ``compile_threshold_seconds``, ``compile_seconds``: the first
compiled call, compile included). Compiled kernels are kept in ``$TORCHINDUCTOR_CACHE_DIR``, else
``~/.cache/inception-eval/inductor`` (``models.inference.use_compile_cache``), so a rerun compiles
in seconds. Compiled and eager results agree to float rounding (tested to 1e-4 in probability, same
top-1), so compile is not part of the result-store key: a resumed run that decides differently
still reuses the stored rows.

Unreadable images (``ImageDecodeError``: corrupt, truncated, empty, not an image, missing; or the
data's ``UnreadableImageError``) are skipped and listed with the reason in ``ScoreResult.skipped``;
they are excluded from accuracies (``valid`` False). ``strict=True`` raises instead. Any other
error while loading an image stops the run (``ImageLoadError`` naming the image, with the
traceback). Non-finite model outputs raise :class:`NonFiniteOutputError` naming the image.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from inception_aug.errors import InputError, UsageError
from inception_aug.normalize import normalize_batch
from inception_eval.aggregate import METHODS as AVERAGING_METHODS
from inception_eval.aggregate import average_views
from inception_eval.batching import Batch, PendingImage, pack_batches
from inception_eval.constants import DEFAULT_COMPILE, DEFAULT_PRECISION, PRECISION_CHOICES
from inception_eval.data import ImageDataset, align_classes, open_dataset
from inception_eval.distributed import DistContext, barrier, gather, process_group, rank_device, shard
from inception_eval.models.inference import (CompileDecision, compile_mode, cxx_compiler, decide_compile,
                                             prepare_for_inference, resolve_precision, use_compile_cache)
from inception_eval.preprocessing import Preprocessing
from inception_eval.protocols import Protocol, get_protocol, union_cost
from inception_eval.resolve import ModelInfo, resolve_model
from inception_eval.results import Provenance, RunStats, ScoreResult, Scores
from inception_eval.store import DONE, PENDING, SKIPPED, CacheKey, ResultStore, open_store
from inception_eval.view_loader import (
    ImageLoadError, LoadedItem, LoaderWorkerDied, ViewSource, iter_items, raise_failure, worker_death,
)
from inception_eval.views import DEFAULT_INTERPOLATION, VIEW_INTERPOLATIONS

__all__ = [
    "HEADS", "DEFAULT_MAX_BATCH", "DEFAULT_WORKERS", "NonFiniteOutputError", "StrictModeError", "ImageLoadError",
    "LoaderWorkerDied",
    "ScoreSettings", "ScoreResult", "score", "to_model_input", "run_heads", "planned_views",
]

HEADS: tuple[str, ...] = ("main", "aux1", "aux2")
#: Views per forward pass when not given. CPU: small batches keep the activations in cache; measured
#: 16 vs 144 views per batch, paper GoogLeNet 224 px, this 2-core machine: 0.024-0.027 vs 0.033-0.035
#: s/view fp32 and 0.017 vs 0.022-0.024 s/view bf16 (2 threads), 8 ~ 16 < 32 < 144 with 1 thread;
#: 16 vs 32 with 1 thread (``benchmarks/model_throughput.py --compile-cost --threads 1``): bf16 eager
#: 0.0222 vs 0.0309, compiled 0.0146 vs 0.0157 s/view; fp32 eager 0.0383 vs 0.0424, compiled
#: 0.0290 vs 0.0304 s/view, so 16 eager and compiled. CUDA: large batches fill the GPU (not measured here).
DEFAULT_MAX_BATCH: dict[str, int] = {"cpu": 16, "cuda": 256}
DEFAULT_WORKERS = 2


class NonFiniteOutputError(InputError, RuntimeError):
    """The model produced NaN or infinity for an image; the message names the image (exit 1)."""


class StrictModeError(InputError, RuntimeError):
    """``strict=True`` and an image could not be read (exit 1)."""


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreSettings:
    """How to score (see :func:`score` for each field). Checked on construction: a bad value raises
    :class:`~inception_aug.errors.UsageError` before any image is read. ``max_batch`` None becomes
    ``DEFAULT_MAX_BATCH`` of the device type."""

    heads: tuple[str, ...] = ("main",)
    precision: str = DEFAULT_PRECISION
    device: str = "cpu"
    max_batch: int | None = None
    workers: int = DEFAULT_WORKERS
    interpolation: str = DEFAULT_INTERPOLATION
    averaging: str = "softmax_mean"
    strict: bool = False
    compile: bool | str = DEFAULT_COMPILE
    class_map: str = "name"
    progress: bool = True
    #: How ``precision`` was chosen ("as given", or why ``auto`` became what it is).
    precision_reason: str = field(default="as given", compare=False)

    def __post_init__(self) -> None:
        heads = tuple(self.heads)
        object.__setattr__(self, "heads", heads)
        bad = [h for h in heads if h not in HEADS] or ([] if heads else ["(none)"])
        if bad:
            raise UsageError(f"unknown heads {bad}; expected a non-empty subset of {HEADS}")
        if self.precision not in PRECISION_CHOICES:
            raise UsageError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, got {self.precision!r}")
        if self.precision == "auto":
            resolved, why = resolve_precision("auto", self.device)
            object.__setattr__(self, "precision", resolved)
            object.__setattr__(self, "precision_reason", why)
        object.__setattr__(self, "compile", compile_mode(self.compile))
        if self.max_batch is None:
            object.__setattr__(self, "max_batch", DEFAULT_MAX_BATCH.get(torch.device(self.device).type, 64))
        if self.max_batch < 1:
            raise UsageError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.interpolation not in VIEW_INTERPOLATIONS:
            raise UsageError(f"unknown interpolation {self.interpolation!r}; expected one of {VIEW_INTERPOLATIONS}")
        if self.averaging not in AVERAGING_METHODS:
            raise UsageError(f"unknown averaging method {self.averaging!r}; expected one of {AVERAGING_METHODS}")
        if self.class_map not in ("name", "index"):
            raise UsageError(f"class_map must be 'name' or 'index', got {self.class_map!r}")

    def as_dict(self, crop_size: int, protocol_definitions: list[str], decision: dict | None = None) -> dict:
        """The settings a result reports (``ScoreResult.settings``); ``decision``: the compile
        decision's ``as_dict`` (``compile``: whether the model ran compiled, and why)."""
        decision = decision or {"compile": False, "compile_mode": self.compile,
                                "compile_reason": "nothing to compute (every image cached)"}
        return {"interpolation": self.interpolation, "averaging": self.averaging, "crop_size": crop_size,
                "max_batch": self.max_batch, "workers": self.workers, **decision,
                "precision_reason": self.precision_reason,
                "class_map": self.class_map, "protocol_definitions": protocol_definitions}


@dataclass
class _Job:
    """One rank's scoring run: the data, the protocols, the settings, this rank's device."""

    dataset: ImageDataset
    protocols: list[Protocol]
    settings: ScoreSettings
    info: ModelInfo
    ctx: DistContext
    device: str
    notice: Callable[[str], None] | None = None

    @property
    def entries(self) -> list[tuple[str, str]]:
        return [(p.name, h) for p in self.protocols for h in self.settings.heads]


@dataclass
class _ShardStats:
    """Counters and timings of one rank's call (gathered across ranks)."""

    forward_views: int = 0
    computed: int = 0
    cached: int = 0
    model_seconds: float = 0.0
    compute_seconds: float = 0.0
    seconds: float = 0.0
    compile: dict | None = None


# ------------------------------------------------------------------------------------------------
# Model input and output
# ------------------------------------------------------------------------------------------------
def to_model_input(views_u8: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> float32 normalised, channels_last (``inception_aug.normalize.normalize_batch``)."""
    return normalize_batch(views_u8, mean, std)


def run_heads(model: Any, x: torch.Tensor, heads: Sequence[str]) -> dict[str, torch.Tensor]:
    """{head: float32 (B, C) logits on the CPU} of ``model`` on ``x`` (aux heads only when asked)."""
    if tuple(heads) == ("main",):
        out = model(x)
        outs = {"main": out[0] if isinstance(out, tuple) else out}
    else:
        out = model(x, return_aux=True)
        outs = {"main": out[0], "aux1": out[1], "aux2": out[2]}
        for h in heads:
            if outs.get(h) is None:
                raise UsageError(f"head {h!r} requested but the model has no auxiliary heads")
    return {h: outs[h].detach().float().cpu() for h in heads}


# ------------------------------------------------------------------------------------------------
# The entry point
# ------------------------------------------------------------------------------------------------
def score(checkpoint: Any, dataset: ImageDataset | str | os.PathLike, protocols: Iterable[Protocol | str] | str,
          *, heads: Sequence[str] = ("main",), precision: str = DEFAULT_PRECISION, device: str = "cpu",
          max_batch: int | None = None, workers: int = DEFAULT_WORKERS,
          cache_dir: str | os.PathLike | None = None, progress: bool = True,
          interpolation: str = DEFAULT_INTERPOLATION, averaging: str = "softmax_mean",
          strict: bool = False, limit: int | None = None, class_map: str = "name",
          crop_size: int | None = None, checkpoint_sha256: str | None = None,
          mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
          class_names: Sequence[str] | None = None, compile: bool | str = DEFAULT_COMPILE,
          model_options: Preprocessing | None = None, warn: Callable[[str], None] | None = None) -> ScoreResult:
    """Score ``checkpoint`` on ``dataset`` under ``protocols`` in one pass over the union of views.

    Args:
        checkpoint: a checkpoint path (``models.checkpoint.load_checkpoint``), or a ``(model, info)``
            pair as it returns, or a bare ``nn.Module`` (then pass ``checkpoint_sha256`` to cache,
            and ``crop_size``/``mean``/``std``/``class_names`` if they differ from the defaults:
            224 px, ImageNet mean/std, no names); see :func:`inception_eval.resolve.resolve_model`.
        dataset: an :class:`~inception_eval.data.ImageDataset` or a path for ``data.open_dataset``.
        protocols: names (``center``, ``ten``, ``paper144``, ``tencrop-torchvision``, ``custom:...``,
            resolved at the model's input size) or Protocol objects.
        heads: subset of ``("main", "aux1", "aux2")``; aux heads need a model built with them.
        precision: one of ``constants.PRECISION_CHOICES``: fp32 (default, the exact reference), bf16,
            fp16, or ``auto`` (bf16 where the device has native bf16, else fp32;
            ``models.inference.resolve_precision``). device: ``cpu`` or ``cuda`` (``cuda:k``).
        max_batch: most views per forward pass (>= 1); memory is bounded by it. Default
            ``DEFAULT_MAX_BATCH[device type]``: 16 on CPU (faster than large batches there), 256 on CUDA.
        workers: DataLoader worker processes that decode and cut views (0: in this process).
        cache_dir: folder of result stores (resume + reuse); None keeps results in memory only.
        progress: show a tqdm bar (rank 0 only).
        interpolation: resize kernel (``views.VIEW_INTERPOLATIONS``), default ``views.DEFAULT_INTERPOLATION``.
        averaging: ``aggregate.average_views`` method, default ``softmax_mean`` (the paper's).
        strict: raise :class:`StrictModeError` on the first unreadable image instead of skipping.
        limit: score only the first ``limit`` images of the dataset.
        class_map: ``name`` (check/remap the data's class names to the checkpoint's) or ``index``.
        compile: ``auto`` (default), ``on``/True or ``off``/False: ``torch.compile`` the model;
            ``auto`` follows ``models.inference.decide_compile`` for the pending images'
            :func:`planned_views` and falls back to eager if compiling fails. See "Compile" in the
            module docstring; the decision is in ``ScoreResult.settings`` (``compile*`` keys).
        model_options: stated preprocessing and model options (``preprocessing.Preprocessing``);
        warn: called with one line per preprocessing value that was assumed, before scoring, and
            with one ``scoring ...`` line (device, precision and why, compile decision and why, views
            per batch) when there are images to compute.

    Raises ``UsageError`` for bad settings, ``InputError`` subclasses for data or model problems.
    """
    t_start = time.perf_counter()
    settings = ScoreSettings(heads=heads, precision=precision, device=device, max_batch=max_batch,
                             workers=workers, interpolation=interpolation, averaging=averaging, strict=strict,
                             compile=compile, class_map=class_map, progress=progress)
    model, info = resolve_model(checkpoint, checkpoint_sha256=checkpoint_sha256, crop_size=crop_size,
                                mean=mean, std=std, class_names=class_names, options=model_options)
    _check_heads(settings, info)
    for line in info.warnings() if warn is not None else ():
        warn(line)
    ds = _prepare_data(dataset, info, limit, settings.class_map)
    protos = resolve_protocols(protocols, info.crop_size)
    with process_group() as ctx:
        job = _Job(ds, protos, settings, info, ctx, rank_device(settings.device, ctx), warn if ctx.is_main else None)
        parts, stored_seconds, cache_path = _score_shards(model, job, cache_dir, t_start)
    return _assemble(job, parts, stored_seconds, cache_path)


def _check_heads(settings: ScoreSettings, info: ModelInfo) -> None:
    if any(h != "main" for h in settings.heads) and info.aux_logits is False:
        if info.kind not in ("googlenet", "module"):
            raise UsageError(f"heads {settings.heads} requested, but auxiliary heads are a GoogLeNet feature and "
                             f"{info.source} is a {info.kind} model; use --heads main")
        raise UsageError(f"heads {settings.heads} requested but the model has no auxiliary heads")


def _prepare_data(dataset: ImageDataset | str | os.PathLike, info: ModelInfo, limit: int | None,
                  class_map: str) -> ImageDataset:
    ds = dataset if isinstance(dataset, ImageDataset) else open_dataset(dataset)
    if limit is not None:
        ds = ds.subset(range(min(int(limit), len(ds))))
    return align_classes(ds, info.class_names, class_map=class_map, num_classes=info.num_classes)


def resolve_protocols(protocols: Iterable[Protocol | str] | str | Protocol, crop_size: int) -> list[Protocol]:
    """Protocol objects for names or objects, checked: at least one, no name twice, every one
    cutting ``crop_size``-px views."""
    if isinstance(protocols, (str, Protocol)):
        protocols = [protocols]
    out = [p if isinstance(p, Protocol) else get_protocol(p, crop_size) for p in protocols]
    if not out:
        raise UsageError("no protocol given")
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise UsageError(f"protocol given twice: {names}")
    for p in out:
        if p.crop_size != crop_size:
            raise UsageError(f"protocol {p.name!r} cuts {p.crop_size}-px views but the model expects {crop_size} px")
    return out


def _signature(p: Protocol) -> str:
    sig = getattr(p, "signature", None)
    return f"{p.name}={sig() if callable(sig) else repr(p)}"


def planned_views(protocols: Sequence[Protocol], images: int) -> int:
    """Forward views a run of ``images`` pending images expects before any is read: ``images`` x the
    unique views of the protocols' union for a 4:3 landscape photo (square photos share more views,
    so this is an upper estimate for them)."""
    if images <= 0 or not protocols:
        return 0
    c = protocols[0].crop_size
    return images * int(union_cost(tuple(protocols), 4 * c, 3 * c)["unique"])


def _cache_key(job: _Job) -> CacheKey:
    # Not in the key: compile (compiled and eager rows agree to float rounding, and ``auto`` may
    # decide differently on a resumed run), max_batch, workers.
    s, info = job.settings, job.info
    extra = (("mean", repr(info.mean)), ("std", repr(info.std)))
    if info.transform_input:  # the same weights scored with and without torchvision's input transform
        extra += (("transform_input", "True"),)
    return CacheKey(
        checkpoint_sha256=info.sha256, protocols=tuple(_signature(p) for p in job.protocols), heads=s.heads,
        crop_size=info.crop_size, interpolation=s.interpolation, averaging=s.averaging, precision=s.precision,
        device=torch.device(job.device).type, dataset_signature=job.dataset.signature(),
        num_images=len(job.dataset), num_classes=info.num_classes, extra=extra)


# ------------------------------------------------------------------------------------------------
# One rank: open the store, compute what is missing, gather
# ------------------------------------------------------------------------------------------------
def _open_run_store(cache_dir: str | os.PathLike | None, key: CacheKey, job: _Job) -> ResultStore:
    """The run's store: rank 0 opens (creates, verifies) and locks it, then the other ranks open it."""
    if cache_dir is None:
        return open_store(None, key, job.entries)
    about = {"checkpoint": job.info.source, "data": job.dataset.source or job.dataset.root}
    store = None
    if job.ctx.is_main:
        store = open_store(cache_dir, key, job.entries, lock=True, about=about)
    barrier(job.ctx)
    if store is None:
        store = open_store(cache_dir, key, job.entries, create=False, verify=False)
    return store


def _score_shards(model: torch.nn.Module, job: _Job, cache_dir: str | os.PathLike | None,
                  t_start: float) -> tuple[list[tuple[dict, dict, _ShardStats]], float, str | None]:
    """Every rank's (rows, unreadable reasons, stats), the stored compute seconds, the store folder."""
    use_disk = cache_dir is not None and bool(job.info.sha256)
    ctx = job.ctx
    with _open_run_store(cache_dir if use_disk else None, _cache_key(job), job) as store:
        mine = shard(len(job.dataset), ctx)
        status = np.asarray(store.status)
        todo = [i for i in mine if status[i] == PENDING]
        seconds_before = store.read_seconds()
        stats = _run(model, job, todo, store, total=len(mine), initial=len(mine) - len(todo))
        stats.cached = len(mine) - len(todo)
        stats.seconds = time.perf_counter() - t_start
        reasons = {i: r for i, r in store.reasons().items() if i % ctx.world == ctx.rank}
        parts = gather((store.rows(mine), reasons, stats), ctx)
        # Ranks compute in parallel: the slowest rank's compute time is what this run added.
        stored_seconds = seconds_before + max(s.compute_seconds for _, _, s in parts)
        if ctx.is_main:
            store.write_seconds(stored_seconds)
    return parts, stored_seconds, str(store.folder) if use_disk else None


def _run(model: torch.nn.Module, job: _Job, todo: list[int], store: ResultStore, *, total: int,
         initial: int) -> _ShardStats:
    """Compute the ``todo`` images into ``store``; returns counters and timings of this call."""
    stats = _ShardStats()
    if not todo:
        return stats
    t0 = time.perf_counter()
    s = job.settings
    plan = _ModelPlan(model, job, len(todo))
    bar = _progress_bar(total, initial) if s.progress and job.ctx.is_main else None
    items = iter_items(ViewSource(job.dataset, todo, job.protocols, s.interpolation), s.workers)
    try:
        for batch in pack_batches(plan.count(_readable(items, store, s.strict, bar)), s.max_batch):
            before = stats.model_seconds
            outs = _forward(plan.infer, batch, job, stats)
            plan.after_batch(batch.size, stats.model_seconds - before, stats.forward_views, bar)
            _check_finite(outs, batch)
            _finish(batch.scatter(outs), job, store, stats, bar)
    except RuntimeError as e:  # torch reports a dead loader worker from a signal handler, anywhere here
        died = worker_death(e, items, s.workers)
        if died is None:
            raise
        raise died from e
    finally:
        if bar is not None:
            bar.close()
        stats.compute_seconds = time.perf_counter() - t0
        stats.compile = plan.record()
    return stats


#: Under ``compile="auto"`` the run's first batches run eagerly and these (1-based) are timed for the
#: decision, which takes the fastest of them per view: the first batch warms oneDNN's kernels up, and
#: the next ones can overlap the loader workers filling their queue on the same cores (measured: batch
#: 2 at 0.0165 s/view where the whole eager run averaged 0.0126), both of which overstate the cost.
_TIMED_BATCHES = (2, 3, 4, 5)


class _ModelPlan:
    """The run's InferenceModel, and the ``compile`` decision (``models.inference.decide_compile``):
    made before the first batch for ``on``/``off``/ineligible runs, after timing the batches
    ``_TIMED_BATCHES`` for ``auto`` on a CPU with a C++ compiler; said in one ``job.notice`` line.
    The remaining views are then re-estimated from the unique views of the images read so far
    (square photos share views, which :func:`planned_views` cannot know)."""

    def __init__(self, model: torch.nn.Module, job: _Job, pending: int) -> None:
        self.model, self.job, self.pending, self.batches = model, job, pending, 0
        self.planned = planned = planned_views(job.protocols, pending)
        self.seen_images = self.seen_views = 0
        self.fastest: float | None = None  # least eager seconds per view over the timed batches
        s = job.settings
        self.device_type = torch.device(job.device).type
        self.compiler = cxx_compiler() if self.device_type == "cpu" and s.compile == "auto" else None
        self.decision: CompileDecision | None = None
        self.infer = self._prepare(False)
        self.probing = (s.compile == "auto" and self.compiler is not None
                        and planned > _TIMED_BATCHES[-1] * s.max_batch)
        if not self.probing:
            self._decide(planned, None, None)

    def _prepare(self, compile: bool) -> Any:
        s = self.job.settings
        try:
            return prepare_for_inference(self.model, device=self.job.device, precision=s.precision,
                                         channels_last=True, compile=compile, fallback=s.compile == "auto",
                                         on_fallback=self.job.notice)
        except ValueError as e:  # its documented errors: a device or precision this machine cannot run
            raise UsageError(str(e)) from e

    def _decide(self, remaining: int, seconds_per_view: float | None, bar: Any) -> None:
        s = self.job.settings
        self.decision = decide_compile(s.compile, device_type=self.device_type, compiler=self.compiler,
                                       remaining_views=remaining, eager_seconds_per_view=seconds_per_view)
        if self.decision.compile:
            use_compile_cache()
            self.infer = self._prepare(True)
        if self.job.notice is not None:
            if bar is not None:
                bar.clear()
            self.job.notice(f"scoring on {self.job.device}: {s.precision} ({s.precision_reason}), "
                            f"{self.decision.notice()}, {s.max_batch} views per forward pass")
            if bar is not None:
                bar.refresh()

    def count(self, images: Iterable[PendingImage]) -> Iterator[PendingImage]:
        """``images``, counting them and their unique views as they are read."""
        for im in images:
            self.seen_images += 1
            self.seen_views += im.num_views
            yield im

    def after_batch(self, size: int, seconds: float, views_done: int, bar: Any) -> None:
        """Count a finished batch of ``size`` views that took ``seconds`` in the model (``views_done``
        in all); after the last timed one, decide on the remaining views."""
        self.batches += 1
        if not self.probing or self.batches not in _TIMED_BATCHES:
            return
        per_view = seconds / size
        self.fastest = per_view if self.fastest is None else min(self.fastest, per_view)
        if self.batches == _TIMED_BATCHES[-1]:
            self.probing = False
            per_image = self.seen_views / max(self.seen_images, 1)
            remaining = round((self.pending - self.seen_images) * per_image) + self.seen_views - views_done
            self._decide(max(remaining, 0), self.fastest, bar)

    def record(self) -> dict:
        """The decision's ``as_dict`` plus the first compiled call's seconds, the cache, a fallback."""
        if self.decision is None:  # the run ended before the timed batch (unreadable images)
            self.decision = decide_compile(self.job.settings.compile, device_type=self.device_type,
                                           compiler=self.compiler, remaining_views=0, eager_seconds_per_view=None)
        out = self.decision.as_dict()
        out["compile_planned_views"] = self.planned
        out["compile_seconds"] = self.infer.first_call_seconds
        if self.decision.compile:
            out["compile_cache"] = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
        if self.infer.compile_failure is not None:
            out.update(compile=False, compile_reason=f"{out['compile_reason']}; compile failed "
                       f"({self.infer.compile_failure}), scored eagerly")
        return out


def _progress_bar(total: int, initial: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="img", desc="scoring", dynamic_ncols=True)


def _readable(items: Iterable[LoadedItem], store: ResultStore, strict: bool, bar: Any) -> Iterator[PendingImage]:
    """The images of ``items`` that could be read; unreadable ones are recorded in ``store`` (or
    raise in strict mode); an unexpected loader error stops the run."""
    for item in items:
        raise_failure(item)
        if item.unreadable is not None:
            if strict:
                raise StrictModeError(f"cannot read image {item.path}: {item.unreadable} (strict mode)")
            store.write_skipped(item.index, item.path, item.unreadable)
            if bar is not None:
                bar.update(1)
            continue
        yield item.image


def _forward(infer: Any, batch: Batch, job: _Job, stats: _ShardStats) -> dict[str, torch.Tensor]:
    """{head: (batch.size, C) float32 logits} of one batch; the time inside the model is counted."""
    x = to_model_input(batch.pixels(), job.info.mean, job.info.std)
    is_cuda = torch.device(job.device).type == "cuda"
    if is_cuda:
        x = x.to(job.device, non_blocking=True)
        torch.cuda.synchronize(job.device)
    tm = time.perf_counter()
    outs = run_heads(infer, x, job.settings.heads)
    if is_cuda:
        torch.cuda.synchronize(job.device)
    stats.model_seconds += time.perf_counter() - tm
    stats.forward_views += batch.size
    return outs


def _finish(done: list[PendingImage], job: _Job, store: ResultStore, stats: _ShardStats, bar: Any) -> None:
    """Average each finished image's views per protocol and head, and store the rows."""
    if not done:
        return
    s = job.settings
    rows = []
    for im in done:
        row = {}
        for p in job.protocols:
            idx, w = im.uses[p.name]
            for h in s.heads:
                row[(p.name, h)] = average_views(im.logits[h][idx].numpy(), w, method=s.averaging)
        rows.append(row)
    store.write([im.index for im in done], {e: np.stack([r[e] for r in rows]) for e in rows[0]},
                nviews=[im.num_views for im in done])
    stats.computed += len(done)
    if bar is not None:
        bar.update(len(done))


def _check_finite(outs: dict[str, torch.Tensor], batch: Batch) -> None:
    for h, o in outs.items():
        ok = torch.isfinite(o).all(dim=1)
        if bool(ok.all()):
            continue
        im, v = batch.locate(int(torch.nonzero(~ok)[0, 0]))
        tag = im.tags[v] if v < len(im.tags) else str(v)
        raise NonFiniteOutputError(
            f"non-finite model output (NaN/inf) for image {im.path} (index {im.index}, view {v} "
            f"{tag}, head {h}); stopping: check the checkpoint and the precision")


# ------------------------------------------------------------------------------------------------
# The result
# ------------------------------------------------------------------------------------------------
def _merge_rows(parts: list, n: int, num_classes: int, entries: list[tuple[str, str]]) -> tuple:
    """(status (N,), nviews (N,), probs {entry: (N, C)}, reasons {index: (path, reason)}) of all ranks."""
    status = np.zeros(n, dtype=np.uint8)
    nviews = np.zeros(n, dtype=np.int64)
    probs = {e: np.zeros((n, num_classes), dtype=np.float32) for e in entries}
    reasons: dict[int, tuple[str, str]] = {}
    for rows, rs, _ in parts:
        idx = rows["indices"]
        status[idx] = rows["status"]
        nviews[idx] = rows["nviews"]
        for e in entries:
            probs[e][idx] = rows["probs"][e]
        reasons.update(rs)
    if (status == PENDING).any():  # pragma: no cover - would be a bug in sharding
        raise RuntimeError(f"{int((status == PENDING).sum())} images were not scored")
    return status, nviews, probs, reasons


def _assemble(job: _Job, parts: list, stored_seconds: float, cache_path: str | None) -> ScoreResult:
    ds, s, info = job.dataset, job.settings, job.info
    status, nviews, probs, reasons = _merge_rows(parts, len(ds), info.num_classes, job.entries)
    valid = status == DONE
    skipped = [reasons.get(int(i), (ds.paths[int(i)], "unreadable")) for i in np.flatnonzero(status == SKIPPED)]
    per_image = {p.name: p.nominal_views for p in job.protocols}
    stats = [st for _, _, st in parts]
    return ScoreResult(
        scores=Scores(probs=probs, labels=ds.labels.copy(), valid=valid, skipped=skipped, nominal_views=per_image,
                      paths=list(ds.paths), class_names=ds.class_names,
                      protocols=tuple(p.name for p in job.protocols), heads=s.heads),
        stats=RunStats(seconds=max(st.seconds for st in stats), forward_views=sum(st.forward_views for st in stats),
                       images_computed=sum(st.computed for st in stats), images_cached=sum(st.cached for st in stats),
                       model_seconds=max(st.model_seconds for st in stats),
                       total_nominal_views={k: v * int(valid.sum()) for k, v in per_image.items()},
                       total_unique_views=int(nviews[valid].sum()), stored_seconds=stored_seconds,
                       world_size=job.ctx.world),
        provenance=Provenance(checkpoint_sha256=info.sha256, precision=s.precision, device=job.device,
                              cache_path=cache_path,
                              settings=dict(s.as_dict(info.crop_size, [_signature(p) for p in job.protocols],
                                                      stats[0].compile),
                                            model_kind=info.kind, preprocessing=info.provenance)),
    )
