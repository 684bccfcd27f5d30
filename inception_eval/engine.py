"""The scoring loop: a checkpoint, a dataset and test protocols in; per-image probabilities out.

How one run goes:

1. The store for this (checkpoint sha256, protocols, heads, preprocessing, precision, device,
   dataset signature) is opened (:mod:`inception_eval.store`); images already stored are not
   computed again, so an interrupted run resumes where it stopped.
2. DataLoader workers decode each pending image and cut the *union* of the requested protocols'
   unique views (``protocols.union_views``; one resize per scale, ``views.cut_views``) while the
   main process runs the model.
3. The main process packs the views of consecutive images into forward batches of at most
   ``max_batch`` views (an image's views may span two or more batches), so memory is bounded by
   ``max_batch`` plus the prefetched images, however many images there are.
4. When all views of an image are through the model, each protocol's views are averaged with their
   dedupe weights (``aggregate.average_views``), per head, and the rows are written to the store.
5. With several processes (``torchrun``), images are sharded strided across ranks (rank r takes
   positions r, r + W, ...: every image exactly once, no padding) and the ranks' rows are gathered
   with ``all_gather_object`` on a gloo group, so every rank ends with the full, identical result.

Exactness: in fp32 the engine's per-image probabilities equal a plain loop over each nominal view
(``views.reference_cut``, the same model, one view at a time, ``average_views`` with unit weights)
up to float rounding: the pixels are identical, but a batched convolution may round differently
from a batch of one, and a weighted sum of deduplicated views rounds differently from the repeated
sum (tests bound the difference at 1e-5 absolute and require the same top-1/top-5).

Unreadable images (``ImageDecodeError``: corrupt, truncated, empty, not an image, missing) are
skipped and listed with the reason in ``ScoreResult.skipped``; they are excluded from accuracies
(``valid`` False). ``strict=True`` raises instead. Non-finite model outputs raise
:class:`NonFiniteOutputError` naming the image.
"""
from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from inception_aug.normalize import normalize_batch

from inception_aug.decode import ImageDecodeError, decode_image
from inception_eval import metrics
from inception_eval.aggregate import METHODS as AVERAGING_METHODS
from inception_eval.aggregate import average_views as _average_views
from inception_eval.data import ImageDataset, align_classes, open_dataset
from inception_eval.protocols import Protocol, get_protocol, union_views
from inception_eval.store import DONE, PENDING, SKIPPED, CacheKey, ResultStore, open_store, store_folder
from inception_eval.models.inference import prepare_for_inference
from inception_eval.views import DEFAULT_INTERPOLATION, VIEW_INTERPOLATIONS, cut_views

HEADS: tuple[str, ...] = ("main", "aux1", "aux2")
#: Views per forward pass when not given. CPU: small batches keep the activations in cache; measured
#: 16 vs 144 views per batch, paper GoogLeNet 224 px, this 2-core machine: 0.024-0.027 vs 0.033-0.035
#: s/view fp32 and 0.017 vs 0.022-0.024 s/view bf16 (2 threads), 8 ~ 16 < 32 < 144 with 1 thread.
#: CUDA: large batches fill the GPU.
DEFAULT_MAX_BATCH: dict[str, int] = {"cpu": 16, "cuda": 256}
DEFAULT_WORKERS = 2


class NonFiniteOutputError(RuntimeError):
    """The model produced NaN or infinity for an image; the message names the image."""


class StrictModeError(RuntimeError):
    """``strict=True`` and an image could not be read."""


def average_views(scores: np.ndarray, weights: np.ndarray, method: str = "softmax_mean") -> np.ndarray:
    """Probabilities (C,) float32 from view scores (V, C) with view weights (V,) (``aggregate``)."""
    return np.asarray(_average_views(scores, weights, method=method), dtype=np.float32)


def _load_checkpoint(path):
    from inception_eval.models.checkpoint import load_checkpoint

    return load_checkpoint(path, map_location="cpu")


def _prepare(model: torch.nn.Module, device: str, precision: str, compile: bool = False):
    return prepare_for_inference(model, device=device, precision=precision, channels_last=True, compile=compile)


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------
@dataclass
class ScoreResult:
    """Per-image probabilities of one checkpoint on one dataset under several protocols.

    ``probs[(protocol, head)]``: (N, C) float32, probabilities averaged over the protocol's views
    (rows of unreadable images are zeros); ``labels`` (N,) int64; ``valid`` (N,) bool (False: the
    image was unreadable, see ``skipped`` = [(path, reason)]). ``seconds``: wall time of this call;
    ``model_seconds``: part of it inside the model's forward calls. ``forward_views``: forward
    passes (unique views) run by this call (0 when everything came from the cache);
    ``images_computed`` / ``images_cached``: images computed now / found in the store.
    ``nominal_views[protocol]``: the protocol's views per image as defined (144 for paper144);
    ``total_nominal_views[protocol]`` and ``total_unique_views``: the cost over all valid images,
    nominal and actually needed (dedupe across protocols and identical views).
    ``stored_seconds``: wall seconds all runs (including interrupted ones) spent computing the
    stored rows (0 without a cache). Distributed: seconds are the slowest rank's, counts are sums.
    """

    probs: dict[tuple[str, str], np.ndarray]
    labels: np.ndarray
    valid: np.ndarray
    skipped: list[tuple[str, str]]
    seconds: float
    forward_views: int
    nominal_views: dict[str, int]
    images_computed: int
    images_cached: int = 0
    model_seconds: float = 0.0
    paths: list[str] = field(default_factory=list)
    class_names: list[str] | None = None
    protocols: tuple[str, ...] = ()
    heads: tuple[str, ...] = ("main",)
    total_nominal_views: dict[str, int] = field(default_factory=dict)
    total_unique_views: int = 0
    stored_seconds: float = 0.0
    checkpoint_sha256: str = ""
    precision: str = "fp32"
    device: str = "cpu"
    cache_path: str | None = None
    world_size: int = 1
    settings: dict = field(default_factory=dict)

    def accuracy(self, protocol: str, head: str = "main") -> metrics.Accuracy:
        """Top-1/top-5 over the valid images (ties: see :mod:`inception_eval.metrics`)."""
        return metrics.accuracy(self.probs[(protocol, head)], self.labels, self.valid)

    @property
    def images_per_second(self) -> float:
        return self.images_computed / self.seconds if self.seconds > 0 else float("nan")

    @property
    def views_per_second(self) -> float:
        return self.forward_views / self.seconds if self.seconds > 0 else float("nan")


# ------------------------------------------------------------------------------------------------
# Worker side: decode + cut the union of views of one image
# ------------------------------------------------------------------------------------------------
class _ViewSource(torch.utils.data.Dataset):
    """Item k: the union views of image ``indices[k]`` (uint8 (U, 3, S, S)) and each protocol's use."""

    def __init__(self, dataset: ImageDataset, indices: Sequence[int], protocols: Sequence[Protocol],
                 interpolation: str) -> None:
        self.paths = dataset.paths
        self.indices = list(indices)
        self.protocols = tuple(protocols)
        self.interpolation = interpolation

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict:
        index = self.indices[k]
        path = self.paths[index]
        try:
            img = decode_image(path)
            h, w = img.shape[:2]
            unique, uses = union_views(self.protocols, w, h)
            views = cut_views(img, unique, interpolation=self.interpolation)
        except ImageDecodeError as e:
            return {"index": index, "path": path, "error": e.reason}
        except (OSError, ValueError, MemoryError) as e:  # bad input must not end a long run
            return {"index": index, "path": path, "error": f"{type(e).__name__}: {e}"}
        uses_np = {p: (np.array([i for i, _ in u], dtype=np.int64), np.array([c for _, c in u], dtype=np.float64))
                   for p, u in uses.items()}
        tags = [v.tag for v in unique]
        return {"index": index, "path": path, "error": None, "views": views, "uses": uses_np, "tags": tags}


def _identity(x):
    return x


def _worker_init(_: int) -> None:
    # Deliberately no cv2.setNumThreads() here: in a forked worker it can deadlock inside OpenCV
    # (pthread_cond_destroy on a thread pool inherited from the parent), which hung the test suite
    # whenever the parent had used OpenCV's pool first (e.g. after tests/test_aug_cli.py).
    return None


def _iter_items(source: _ViewSource, workers: int) -> Iterable[dict]:
    if workers <= 0 or len(source) == 0:
        return (source[k] for k in range(len(source)))
    loader = torch.utils.data.DataLoader(
        source, batch_size=None, shuffle=False, num_workers=min(workers, len(source)),
        collate_fn=_identity, worker_init_fn=_worker_init, prefetch_factor=2, persistent_workers=False)
    return iter(loader)


# ------------------------------------------------------------------------------------------------
# Main side: batching, forward, aggregation
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
                raise ValueError(f"head {h!r} requested but the model has no auxiliary heads")
    return {h: outs[h].detach().float().cpu() for h in heads}


@dataclass
class _Image:
    index: int
    path: str
    views: torch.Tensor            # uint8 (U, 3, S, S)
    uses: dict
    tags: list
    logits: dict                   # head -> float32 (U, C), filled batch by batch
    remaining: int


def _aggregate(img: _Image, protocols: Sequence[Protocol], heads: Sequence[str], averaging: str) -> dict:
    rows = {}
    for p in protocols:
        idx, w = img.uses[p.name]
        for h in heads:
            rows[(p.name, h)] = average_views(img.logits[h][idx].numpy(), w, method=averaging)
    return rows


# ------------------------------------------------------------------------------------------------
# Distributed helpers
# ------------------------------------------------------------------------------------------------
def _dist_context(device: str) -> tuple[int, int, bool]:
    """(rank, world_size, we_initialised). Initialises a gloo group under torchrun."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), False
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available():
        # gloo: the gather moves CPU numpy rows; the model itself never communicates.
        dist.init_process_group("gloo")
        return dist.get_rank(), dist.get_world_size(), True
    return 0, 1, False


def _resolve_protocols(protocols: Iterable[Protocol | str] | str | Protocol, crop_size: int) -> list[Protocol]:
    if isinstance(protocols, (str, Protocol)):
        protocols = [protocols]
    out = [p if isinstance(p, Protocol) else get_protocol(p, crop_size) for p in protocols]
    if not out:
        raise ValueError("no protocol given")
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ValueError(f"protocol given twice: {names}")
    for p in out:
        if p.crop_size != crop_size:
            raise ValueError(f"protocol {p.name!r} cuts {p.crop_size}-px views but the model expects {crop_size} px")
    return out


def _signature(p: Protocol) -> str:
    sig = getattr(p, "signature", None)
    return f"{p.name}={sig() if callable(sig) else repr(p)}"


# ------------------------------------------------------------------------------------------------
# The entry point
# ------------------------------------------------------------------------------------------------
def score(checkpoint: Any, dataset: ImageDataset | str | os.PathLike, protocols: Iterable[Protocol | str] | str,
          *, heads: Sequence[str] = ("main",), precision: str = "fp32", device: str = "cpu",
          max_batch: int | None = None, workers: int = DEFAULT_WORKERS,
          cache_dir: str | os.PathLike | None = None, progress: bool = True,
          interpolation: str = DEFAULT_INTERPOLATION, averaging: str = "softmax_mean",
          strict: bool = False, limit: int | None = None, class_map: str = "name",
          crop_size: int | None = None, checkpoint_sha256: str | None = None,
          mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
          class_names: Sequence[str] | None = None, compile: bool = False) -> ScoreResult:
    """Score ``checkpoint`` on ``dataset`` under ``protocols`` in one pass over the union of views.

    Args:
        checkpoint: a checkpoint path (``models.checkpoint.load_checkpoint``), or a ``(model, info)``
            pair as it returns, or a bare ``nn.Module`` (then pass ``checkpoint_sha256`` to cache,
            and ``crop_size``/``mean``/``std``/``class_names`` if they differ from the defaults:
            224 px, ImageNet mean/std, no names).
        dataset: an :class:`~inception_eval.data.ImageDataset` or a path for ``data.open_dataset``.
        protocols: names (``center``, ``ten``, ``paper144``, ``tencrop-torchvision``, ``custom:...``,
            resolved at the model's input size) or Protocol objects.
        heads: subset of ``("main", "aux1", "aux2")``; aux heads need a model built with them.
        precision: ``fp32``, ``bf16`` or ``fp16``; device: ``cpu`` or ``cuda`` (``cuda:k``).
        max_batch: most views per forward pass (>= 1); memory is bounded by it. Default
            ``DEFAULT_MAX_BATCH[device type]``: 16 on CPU (faster than large batches there), 256 on CUDA.
        workers: DataLoader worker processes that decode and cut views (0: in this process).
        cache_dir: folder of result stores (resume + reuse); None keeps results in memory only.
        progress: show a tqdm bar (rank 0 only).
        interpolation: resize kernel (``inception_aug.resize.INTERPOLATIONS``), default ``area``.
        averaging: ``aggregate.average_views`` method, default ``softmax_mean`` (the paper's).
        strict: raise :class:`StrictModeError` on the first unreadable image instead of skipping.
        limit: score only the first ``limit`` images of the dataset.
        class_map: ``name`` (check/remap the data's class names to the checkpoint's) or ``index``.
        compile: run the model through ``torch.compile`` (see ``models.inference``): a one-time
            compile, then faster batches; results agree with eager mode to float rounding, so
            compiled results are cached under their own key.
    """
    t_start = time.perf_counter()
    heads = tuple(heads)
    bad = [h for h in heads if h not in HEADS] or ([] if heads else ["(none)"])
    if bad:
        raise ValueError(f"unknown heads {bad}; expected a non-empty subset of {HEADS}")
    if precision not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    if max_batch is None:
        max_batch = DEFAULT_MAX_BATCH.get(torch.device(device).type, 64)
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    # Settings errors must fail here, not surface as every image being "unreadable".
    if interpolation not in VIEW_INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {VIEW_INTERPOLATIONS}")
    if averaging not in AVERAGING_METHODS:
        raise ValueError(f"unknown averaging method {averaging!r}; expected one of {AVERAGING_METHODS}")

    # -- model and its metadata
    if isinstance(checkpoint, (str, os.PathLike)):
        model, info = _load_checkpoint(checkpoint)
    elif isinstance(checkpoint, tuple) and len(checkpoint) == 2:
        model, info = checkpoint
    elif isinstance(checkpoint, torch.nn.Module):
        model, info = checkpoint, None
    else:
        raise TypeError(f"checkpoint must be a path, (model, info) or nn.Module, got {type(checkpoint).__name__}")
    sha = checkpoint_sha256 or getattr(info, "sha256", None)
    crop = int(crop_size or getattr(info, "input_size", None) or 224)
    mean = tuple(mean or getattr(info, "mean", None) or (0.485, 0.456, 0.406))
    std = tuple(std or getattr(info, "std", None) or (0.229, 0.224, 0.225))
    names = list(class_names) if class_names is not None else getattr(info, "class_names", None)
    num_classes = int(getattr(info, "num_classes", None) or getattr(model, "num_classes", 0) or (len(names) if names else 0))
    if num_classes <= 0:
        raise ValueError("cannot tell the model's number of classes; pass a checkpoint with metadata")
    if any(h != "main" for h in heads) and (getattr(model, "aux_logits", None) is False
                                           or getattr(info, "aux_logits", None) is False):
        raise ValueError(f"heads {heads} requested but the model has no auxiliary heads")

    # -- data
    ds = dataset if isinstance(dataset, ImageDataset) else open_dataset(dataset)
    if limit is not None:
        ds = ds.subset(range(min(int(limit), len(ds))))
    ds = align_classes(ds, names, class_map=class_map, num_classes=num_classes)
    n = len(ds)
    protos = _resolve_protocols(protocols, crop)
    entries = [(p.name, h) for p in protos for h in heads]

    # -- distributed and store
    rank, world, own_group = _dist_context(device)
    dev = device
    if world > 1 and device.startswith("cuda") and ":" not in device:
        dev = f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % max(1, torch.cuda.device_count())}"
    key = CacheKey(
        checkpoint_sha256=sha or "", protocols=tuple(_signature(p) for p in protos), heads=heads,
        crop_size=crop, interpolation=interpolation, averaging=averaging, precision=precision,
        device=torch.device(dev).type, dataset_signature=ds.signature(), num_images=n,
        num_classes=num_classes,
        extra=(("mean", repr(mean)), ("std", repr(std))) + ((("compile", "inductor"),) if compile else ()))
    use_disk = cache_dir is not None and bool(sha)
    try:
        if use_disk and world > 1:
            import torch.distributed as dist

            if rank == 0:
                store = open_store(cache_dir, key, entries)
            dist.barrier()
            if rank != 0:
                store = open_store(cache_dir, key, entries, create=False)
        else:
            store = open_store(cache_dir if use_disk else None, key, entries)
        extra = _Extra(store)

        mine = list(range(rank, n, world))
        status = np.asarray(store.status)
        todo = [i for i in mine if status[i] == PENDING]
        cached = len(mine) - len(todo)
        seconds_before = extra.read_seconds()

        stats = _run(model, ds, todo, protos, heads, store, extra, dev=dev, precision=precision,
                     max_batch=max_batch, workers=workers, interpolation=interpolation, averaging=averaging,
                     strict=strict, mean=mean, std=std, progress=progress and rank == 0,
                     total=len(mine), initial=cached, compile=compile)
        seconds = time.perf_counter() - t_start
        stats.update(seconds=seconds, cached=cached)

        # -- gather
        mine_rows = store.rows(mine)
        mine_rows["nviews"] = extra.nviews[mine]
        reasons = {i: r for i, r in store.reasons().items() if i % world == rank}
        parts = [(mine_rows, reasons, stats)]
        if world > 1:
            import torch.distributed as dist

            gathered: list = [None] * world
            dist.all_gather_object(gathered, parts[0])
            parts = gathered
        status_all = np.zeros(n, dtype=np.uint8)
        nviews_all = np.zeros(n, dtype=np.int64)
        probs = {e: np.zeros((n, num_classes), dtype=np.float32) for e in entries}
        all_reasons: dict[int, tuple[str, str]] = {}
        for rows, rs, _ in parts:
            idx = rows["indices"]
            status_all[idx] = rows["status"]
            nviews_all[idx] = rows["nviews"]
            for e in entries:
                probs[e][idx] = rows["probs"][e]
            all_reasons.update(rs)
        if (status_all == PENDING).any():  # pragma: no cover - would be a bug in sharding
            raise RuntimeError(f"{int((status_all == PENDING).sum())} images were not scored")
        # Ranks compute in parallel: the slowest rank's compute time is what this run added.
        stored_seconds = seconds_before + max(s["compute_seconds"] for _, _, s in parts)
        if rank == 0:
            extra.write_seconds(stored_seconds)
    finally:
        if own_group:
            import torch.distributed as dist

            dist.destroy_process_group()

    valid = status_all == DONE
    skipped = [all_reasons.get(int(i), (ds.paths[int(i)], "unreadable"))
               for i in np.flatnonzero(status_all == SKIPPED)]
    per_image = {p.name: p.nominal_views for p in protos}
    return ScoreResult(
        probs=probs, labels=ds.labels.copy(), valid=valid, skipped=skipped,
        seconds=max(s["seconds"] for _, _, s in parts),
        forward_views=sum(s["forward_views"] for _, _, s in parts),
        nominal_views=per_image,
        images_computed=sum(s["computed"] for _, _, s in parts),
        images_cached=sum(s["cached"] for _, _, s in parts),
        model_seconds=max(s["model_seconds"] for _, _, s in parts),
        paths=list(ds.paths), class_names=ds.class_names, protocols=tuple(p.name for p in protos), heads=heads,
        total_nominal_views={k: v * int(valid.sum()) for k, v in per_image.items()},
        total_unique_views=int(nviews_all[valid].sum()), stored_seconds=stored_seconds,
        checkpoint_sha256=sha or "", precision=precision, device=dev,
        cache_path=str(store_folder(cache_dir, key)) if use_disk else None, world_size=world,
        settings={"interpolation": interpolation, "averaging": averaging, "crop_size": crop,
                  "max_batch": max_batch, "workers": workers, "compile": compile, "class_map": class_map,
                  "protocol_definitions": list(key.protocols)},
    )


class _Extra:
    """Per-image unique-view counts (``nviews.i32``) and cumulative compute seconds (``seconds.json``)
    kept beside the store (in memory without a cache)."""

    def __init__(self, store: ResultStore) -> None:
        self.folder = store.folder
        n = store.num_images
        if self.folder is None or n == 0:
            self.nviews = np.zeros(n, dtype=np.int32)
            self._seconds = 0.0
            return
        path = self.folder / "nviews.i32"
        if not path.is_file() or path.stat().st_size != 4 * n:
            try:
                with open(path, "xb") as f:  # only one rank creates it
                    f.truncate(4 * n)
            except FileExistsError:
                with open(path, "r+b") as f:
                    f.truncate(4 * n)
        self.nviews = np.memmap(path, dtype=np.int32, mode="r+", shape=(n,))
        self._seconds = 0.0

    def read_seconds(self) -> float:
        if self.folder is None:
            return self._seconds
        try:
            return float((self.folder / "seconds.txt").read_text())
        except (OSError, ValueError):
            return 0.0

    def write_seconds(self, total: float) -> None:
        self._seconds = total
        if self.folder is not None:
            tmp = self.folder / "seconds.txt.tmp"
            tmp.write_text(f"{total:.6f}")
            os.replace(tmp, self.folder / "seconds.txt")


def _run(model, ds: ImageDataset, todo: list[int], protos: list[Protocol], heads: tuple[str, ...],
         store: ResultStore, extra: _Extra, *, dev: str, precision: str, max_batch: int, workers: int,
         interpolation: str, averaging: str, strict: bool, mean, std, progress: bool, total: int,
         initial: int, compile: bool = False) -> dict:
    """Compute ``todo`` images into ``store``; returns counters and timings of this call."""
    stats = {"forward_views": 0, "computed": 0, "model_seconds": 0.0, "compute_seconds": 0.0, "skipped_now": 0}
    if not todo:
        return stats
    t0 = time.perf_counter()
    infer = _prepare(model, dev, precision, compile)
    is_cuda = torch.device(dev).type == "cuda"
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=initial, unit="img", desc="scoring", dynamic_ncols=True)

    queue: deque = deque()      # (image, start, stop) chunks of views waiting for the model
    queued = 0
    items = iter(_iter_items(_ViewSource(ds, todo, protos, interpolation), workers))
    exhausted = False

    def finish(done: list[_Image]) -> None:
        if not done:
            return
        rows = [_aggregate(im, protos, heads, averaging) for im in done]
        idx = [im.index for im in done]
        extra.nviews[idx] = [im.views.shape[0] for im in done]
        store.write(idx, {e: np.stack([r[e] for r in rows]) for e in rows[0]})
        stats["computed"] += len(done)
        if bar is not None:
            bar.update(len(done))

    try:
        while True:
            # Fill the queue until one full batch is ready (or the data ends).
            while queued < max_batch and not exhausted:
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    break
                if item["error"] is not None:
                    if strict:
                        raise StrictModeError(f"cannot read image {item['path']}: {item['error']} (strict mode)")
                    store.write_skipped(item["index"], item["path"], item["error"])
                    stats["skipped_now"] += 1
                    if bar is not None:
                        bar.update(1)
                    continue
                v = item["views"]
                im = _Image(item["index"], item["path"], v, item["uses"], item["tags"],
                            {}, v.shape[0])
                queue.append((im, 0, v.shape[0]))
                queued += v.shape[0]
            if queued == 0:
                break
            # Take up to max_batch views from the front, splitting an image's views if needed.
            parts, taken = [], 0
            while queue and taken < max_batch:
                im, a, b = queue.popleft()
                k = min(b - a, max_batch - taken)
                parts.append((im, a, a + k))
                if a + k < b:
                    queue.appendleft((im, a + k, b))
                taken += k
            queued -= taken
            batch_u8 = parts[0][0].views[parts[0][1]:parts[0][2]] if len(parts) == 1 else \
                torch.cat([im.views[a:b] for im, a, b in parts])
            x = to_model_input(batch_u8, mean, std)
            if is_cuda:
                x = x.to(dev, non_blocking=True)
                torch.cuda.synchronize(dev)
            tm = time.perf_counter()
            outs = run_heads(infer, x, heads)
            if is_cuda:
                torch.cuda.synchronize(dev)
            stats["model_seconds"] += time.perf_counter() - tm
            stats["forward_views"] += taken
            _check_finite(outs, parts)
            done, pos = [], 0
            for im, a, b in parts:
                for h in heads:
                    if h not in im.logits:
                        im.logits[h] = torch.empty((im.views.shape[0], outs[h].shape[1]), dtype=torch.float32)
                    im.logits[h][a:b] = outs[h][pos:pos + (b - a)]
                pos += b - a
                im.remaining -= b - a
                if im.remaining == 0:
                    done.append(im)
            finish(done)
    finally:
        if bar is not None:
            bar.close()
        stats["compute_seconds"] = time.perf_counter() - t0
        store.close()
    return stats


def _check_finite(outs: dict[str, torch.Tensor], parts: list) -> None:
    for h, o in outs.items():
        ok = torch.isfinite(o).all(dim=1)
        if bool(ok.all()):
            continue
        bad = int(torch.nonzero(~ok)[0, 0])
        pos = 0
        for im, a, b in parts:
            if bad < pos + (b - a):
                v = a + bad - pos
                tag = im.tags[v] if v < len(im.tags) else str(v)
                raise NonFiniteOutputError(
                    f"non-finite model output (NaN/inf) for image {im.path} (index {im.index}, view {v} "
                    f"{tag}, head {h}); stopping: check the checkpoint and the precision")
            pos += b - a
