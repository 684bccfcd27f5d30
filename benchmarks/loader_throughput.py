"""Training-loop throughput: a torch DataLoader over the shared ImageNet photos, images/s as the
training loop sees them, this toolkit against albumentations 2.0.8 doing the same work.

    python benchmarks/loader_throughput.py            # 2 workers, batch 64, 1024 images x 5 rounds
    python benchmarks/loader_throughput.py --quick    # 640 images x 3 rounds
    python benchmarks/loader_throughput.py --device cuda   # the loop's batch work on a GPU

Contenders (all start from the same encoded JPEG bytes in memory; every one decodes with
simplejpeg, ours through ``inception_aug.decode``):

- ``ours paper float``: ``InceptionTrainTransform.from_preset("paper")`` in the workers (Howard
  photometrics, clamp after every op, 4 interpolations), normalised float32 CHW out.
- ``ours paper float, clamp=final``: the same with the fused colour matrix (one clamp at the end).
- ``ours torchvision-preset float``: the ``torchvision`` preset (RandomResizedCrop sampler, bilinear,
  ColorJitter 0.4/0.4/0.4, flip), the same work as the albumentations pipeline.
- ``ours paper uint8 + normalize_batch``: the ``paper`` preset in the workers with
  ``output="tensor_uint8"`` (all augmentation per sample, a quarter of the bytes to move), and the
  loop normalises each batch with ``inception_aug.normalize.normalize_batch`` (on a GPU in practice).
- ``ours uint8 + batch (howard | colorjitter)``: workers do crop + resize only
  (``output="tensor_uint8"``, no colour, no flip); the loop applies
  ``inception_aug.batch.BatchPhotometric`` (per-sample draws, flip) and ``normalize_batch`` to
  each batch, on the CPU here (on an accelerator in practice).
- ``loop idle (batch work elsewhere)``: the workers of the two uint8 rows above, with a loop that
  does nothing to the batches: the rate a training loop receives when its batch work
  (``normalize_batch``, ``BatchPhotometric``) runs on an accelerator, measured rather than
  inferred from CPU time (its own cost on the accelerator is not included).
- ``albumentations``: RandomResizedCrop(scale=(0.08, 1), ratio=(3/4, 4/3)) + ColorJitter(0.4, 0.4,
  0.4) + HorizontalFlip + Normalize + ToTensorV2 after a simplejpeg decode.
- torchvision: not a dependency; skipped with a message when it is not importable.

Timing: each contender has one DataLoader (``--workers`` persistent workers, one thread each; the
loop process uses one torch thread) and one warm-up epoch; then one round = one epoch per
contender, the contenders in a rotating order (so load on a shared machine hits them alike).
Images/s = images after the first batch / time from the first batch to the last. Median over
rounds, and ratios to albumentations computed from the medians of the same run. Next to it,
CPU ms per image over the whole epoch, of the loop process and of the workers (from /proc): on a
shared machine the steadier numbers. "images / CPU s (all)" is what a core-bound machine delivers
when the loop's batch work runs on the same CPU; "images / worker CPU s" is the loader alone, what
matters when the loop's batch work runs on an accelerator. Prints JSON, then a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import simplejpeg  # noqa: E402

from inception_aug.batch import BatchPhotometric  # noqa: E402
from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from inception_aug.decode import region_decode_status  # noqa: E402
from inception_aug.normalize import normalize_batch  # noqa: E402
from inception_aug.seeding import AugmentedDataset, worker_init_fn  # noqa: E402
from inception_aug.transforms import InceptionTrainTransform  # noqa: E402

DATA = (REPO / ".." / "shared" / "data" / "imagenet-samples").resolve()
ALBU = "albumentations 2.0.8 float (simplejpeg decode)"
IDLE_LOOP = "loop idle (batch work elsewhere)"


class Photos:
    """``n`` items cycling over the encoded photos (bytes), as an indexable data set."""

    def __init__(self, blobs: list[bytes], n: int) -> None:
        self.blobs, self.n = blobs, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> bytes:
        return self.blobs[i % len(self.blobs)]


class AlbumentationsDataset:
    """simplejpeg decode (RGB), then the albumentations pipeline; float32 CHW tensors out."""

    def __init__(self, photos: Photos, seed: int = 0) -> None:
        import albumentations as A
        from albumentations.pytorch import ToTensorV2

        self.photos = photos
        self.pipe = A.Compose([
            A.RandomResizedCrop(size=(224, 224), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
            A.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0, p=1.0),
            A.HorizontalFlip(p=0.5),
            A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
            ToTensorV2(),
        ], seed=seed)

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, i: int):
        img = simplejpeg.decode_jpeg(self.photos[i], colorspace="RGB")
        return self.pipe(image=img)["image"]


def _init_worker(worker_id: int) -> None:
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    worker_init_fn(worker_id)


def contenders(photos: Photos, device: torch.device) -> dict[str, tuple[object, Optional[Callable]]]:
    """name -> (dataset, per-batch function in the loop or None). Off the CPU, every loop function
    first moves the batch to ``device`` (as a training loop does)."""
    move = lambda x: x.to(device, non_blocking=True)  # noqa: E731  (on the CPU: the batch itself)
    to_device = None if device.type == "cpu" else move
    out: dict[str, tuple[object, Optional[Callable]]] = {
        "ours paper float": (AugmentedDataset(photos, InceptionTrainTransform.from_preset("paper")), to_device),
        "ours paper float, clamp=final": (AugmentedDataset(photos, InceptionTrainTransform.from_preset(
            "paper", photometric_options={"clamp": "final"})), to_device),
        "ours torchvision-preset float": (
            AugmentedDataset(photos, InceptionTrainTransform.from_preset("torchvision")), to_device),
    }
    full_u8 = InceptionTrainTransform.from_preset("paper", output="tensor_uint8")
    out["ours paper uint8 + normalize_batch"] = (AugmentedDataset(photos, full_u8), lambda x: normalize_batch(move(x)))
    crop_only = InceptionTrainTransform.from_preset("paper", photometric="none", flip=0.0, output="tensor_uint8")
    for preset in ("howard", "colorjitter"):
        batch = BatchPhotometric(preset, flip=0.5, generator=torch.Generator().manual_seed(0))
        out[f"ours uint8 + batch {preset}"] = (AugmentedDataset(photos, crop_only),
                                               lambda x, b=batch: normalize_batch(b(move(x))))
    if device.type == "cpu":  # the loop's batch work moved off this CPU, as on an accelerator
        out[f"{IDLE_LOOP}: ours paper uint8"] = (AugmentedDataset(photos, full_u8), None)
        out[f"{IDLE_LOOP}: ours uint8 crop only"] = (AugmentedDataset(photos, crop_only), None)
    try:
        out[ALBU] = (AlbumentationsDataset(photos), to_device)
    except ImportError as e:  # pragma: no cover
        print(f"albumentations not importable, its row skipped: {e}", file=sys.stderr)
    try:
        import torchvision  # noqa: F401  (an optional anchor, never a dependency)
        print("torchvision is importable but has no row here yet", file=sys.stderr)
    except ImportError:
        print("torchvision not importable: its rows are skipped", file=sys.stderr)
    return out


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(loader) -> tuple[float, float]:
    """CPU seconds so far of (this process, the loader's persistent worker processes together)."""
    workers = 0.0
    for w in getattr(loader._iterator, "_workers", []):
        with open(f"/proc/{w.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        workers += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return time.process_time(), workers


def make_loader(dataset, workers: int, batch: int, pin: bool = False):
    """A DataLoader with persistent workers (start-up is paid once, in the warm-up epoch); with
    ``workers=0`` everything runs in the loop process (worker CPU columns then read 0)."""
    return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                       worker_init_fn=_init_worker, drop_last=True, persistent_workers=workers > 0,
                                       pin_memory=pin, generator=torch.Generator().manual_seed(0))


def one_epoch(loader, on_batch: Optional[Callable], epoch: int,
              sync: Callable[[], None] = lambda: None) -> tuple[float, float, float]:
    """(images/s from the first batch to the last, loop-process CPU ms per image, worker CPU ms per
    image) of one pass over the loader's data set. CPU is taken over the whole epoch and divided by
    all its images: the workers prefetch, so part of the work after the first batch is done before
    it arrives (persistent workers are idle between epochs, so nothing else is counted). ``sync``
    waits for an accelerator's queued work before the clock stops."""
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)
    c0 = _cpu_s(loader) if loader._iterator is not None else None
    it = iter(loader)
    first = next(it)
    if on_batch is not None:
        on_batch(first)
    sync()
    t0, n = time.perf_counter(), 0
    for x in it:
        y = on_batch(x) if on_batch is not None else x
        n += int(y.shape[0])
    sync()
    wall, c1 = time.perf_counter() - t0, _cpu_s(loader)
    total = n + int(first.shape[0])
    if c0 is None:  # the warm-up epoch: workers were started inside it
        c0 = (0.0, 0.0)
    return n / wall, 1e3 * (c1[0] - c0[0]) / total, 1e3 * (c1[1] - c0[1]) / total


def measure(cands: dict, rounds: int, workers: int, batch: int,
            device: torch.device = torch.device("cpu")) -> dict[str, dict]:
    """Median images/s (wall and per CPU second) over ``rounds`` epochs per contender, contenders
    interleaved round by round in a rotating order, after one warm-up epoch each."""
    names = list(cands)
    cuda = device.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)
    loaders = {n: make_loader(cands[n][0], workers, batch, pin=cuda) for n in names}
    for n in names:
        one_epoch(loaders[n], cands[n][1], 0, sync)  # warm-up: worker start-up, imports, caches
    runs: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            runs[name].append(one_epoch(loaders[name], cands[name][1], r + 1, sync))
    out = {}
    for n, v in runs.items():
        loop, work = statistics.median(x[1] for x in v), statistics.median(x[2] for x in v)
        out[n] = {"images_per_s": statistics.median(x[0] for x in v), "loop_cpu_ms": loop, "worker_cpu_ms": work,
                  "images_per_cpu_s": 1e3 / (loop + work), "images_per_worker_cpu_s": 1e3 / work if work else None,
                  "rounds": v}
    return out


def main(argv: Optional[list[str]] = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="640 images per epoch, 3 rounds")
    ap.add_argument("--images", type=int, default=None, help="images per epoch (default 1024; quick 640)")
    ap.add_argument("--rounds", type=int, default=None, help="epochs per contender (default 5; quick 3)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--device", default="cpu", help="where the loop's batch work runs (cpu, cuda, ...); off the "
                                                    "CPU every batch is moved there, from pinned memory on cuda")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    blobs = [p.read_bytes() for p in sorted(args.data.glob("*.JPEG"))]
    if not blobs:
        raise SystemExit(f"no *.JPEG photos in {args.data}")
    n = args.images or (640 if args.quick else 1024)
    rounds = args.rounds or (3 if args.quick else 5)
    res = measure(contenders(Photos(blobs, n), device), rounds, args.workers, args.batch, device)
    ratios, cpu_ratios, worker_ratios = {}, {}, {}
    if ALBU in res:
        ratios = {k: v["images_per_s"] / res[ALBU]["images_per_s"] for k, v in res.items()}
        cpu_ratios = {k: v["images_per_cpu_s"] / res[ALBU]["images_per_cpu_s"] for k, v in res.items()}
        if res[ALBU]["images_per_worker_cpu_s"]:
            worker_ratios = {k: v["images_per_worker_cpu_s"] / res[ALBU]["images_per_worker_cpu_s"]
                             for k, v in res.items() if v["images_per_worker_cpu_s"]}
    out = {"setup": {"workers": args.workers, "batch": args.batch, "images_per_epoch": n, "rounds": rounds,
                     "photos": len(blobs), "loop_threads": 1, "worker_threads": 1, "quick": args.quick,
                     "python": platform.python_version(), "torch": torch.__version__, "opencv": cv2.__version__,
                     "machine": platform.machine(), "region_decode": region_decode_status(),
                     "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device)},
           "results": res, "ratio_vs_albumentations": ratios, "cpu_ratio_vs_albumentations": cpu_ratios,
           "worker_cpu_ratio_vs_albumentations": worker_ratios}
    print(json.dumps(out, indent=1))
    print(f"\n| pipeline (DataLoader, {args.workers} workers, batch {args.batch}) | images/s (wall) | vs alb. "
          "| loop CPU ms/img | worker CPU ms/img | images / CPU s (all) | vs alb. | images / worker CPU s | vs alb. |"
          "\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k, v in res.items():
        r = [f"{d[k]:.2f}x" if k in d else "n/a" for d in (ratios, cpu_ratios, worker_ratios)]
        per_worker = "n/a" if v["images_per_worker_cpu_s"] is None else f"{v['images_per_worker_cpu_s']:.0f}"
        print(f"| {k} | {v['images_per_s']:.0f} | {r[0]} | {v['loop_cpu_ms']:.2f} | {v['worker_cpu_ms']:.2f} "
              f"| {v['images_per_cpu_s']:.0f} | {r[1]} | {per_worker} | {r[2]} |")
    return out


if __name__ == "__main__":
    main()
