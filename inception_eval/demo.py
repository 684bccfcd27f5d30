"""The main job: the paper's Table 3 for seven bundled GoogLeNets, and the whole recipe on request.

``inception-eval demo`` runs :func:`run_bundled_demo`: the ensemble comparison (``compare``) of the
seven members in the repository's ``demo/members/`` (trained by ``examples/train_demo_members.py``)
on the 100 photos in ``demo/photos/`` (10 per class of the 10-class Imagenette subset), with the
``center``, ``ten`` and ``paper144`` protocols and the ``main`` and ``main+aux`` classifiers: every
subset of 1..7 members (cost up to 7 x 144 = 1008 crops), greedy selection, the report, CSV, JSON
and the cost-vs-error plot. It needs nothing outside the repository: the assets are found under
the repository root (located upward from the current folder by its ``pyproject.toml``) or at
``--assets DIR``. The photos are 224 px squares, so the three squares of ``paper144`` coincide and
its 144 views are 48 distinct ones, each weighted 3.

``inception-eval demo --train`` runs :func:`run_demo` instead: it trains ``members`` tiny
GoogLeNets on ``../shared/data/small-classification/train`` (or ``--data``), then scores and
compares them the same way (see :class:`DemoConfig` for how its settings differ from the paper's).
Rerunning with the same settings reuses the trained members and the score cache in the output folder.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from inception_aug.errors import UsageError

__all__ = ["DEMO_DATA", "DEMO_ASSETS", "DEMO_PROTOCOLS", "DEMO_CLASSIFIERS", "DemoDataMissing", "find_repo_root",
           "find_demo_data", "find_demo_assets", "BundledDemo", "run_bundled_demo", "DemoConfig",
           "per_class_subset", "run_demo"]

DEMO_DATA = Path("..") / "shared" / "data" / "small-classification"
"""Where the demo looks for its data, relative to the current folder and then to the repository root."""


DEMO_ASSETS = Path("demo")
"""The bundled members (``members/*.pt``) and photos (``photos/<class>/``), relative to the repository root."""

DEMO_PROTOCOLS: tuple[str, ...] = ("center", "ten", "paper144")
DEMO_CLASSIFIERS: tuple[str, ...] = ("main", "main+aux")


class DemoDataMissing(UsageError):
    """The demo data folder is not where the demo looks (exit code 2: pass ``--data``)."""


def find_repo_root(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the current folder) holding a
    ``pyproject.toml``, or None."""
    here = Path.cwd() if start is None else Path(start)
    for folder in (here.resolve(), *here.resolve().parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def find_demo_data(explicit: str | os.PathLike | None = None, *, start: str | os.PathLike | None = None) -> Path:
    """The demo's ImageFolder root (with ``train/`` and ``val/``).

    ``explicit`` when given; else :data:`DEMO_DATA` relative to ``start`` (default: the current
    folder), then relative to the repository root found from there (:func:`find_repo_root`).
    Raises :class:`DemoDataMissing` naming every place it looked.
    """
    if explicit is not None:
        cands = [Path(explicit)]
    else:
        here = Path.cwd() if start is None else Path(start)
        root = find_repo_root(here)
        cands = [here / DEMO_DATA] + ([root / DEMO_DATA] if root is not None else [])
    for c in cands:
        if (c / "train").is_dir() and (c / "val").is_dir():
            return c.resolve()
    raise DemoDataMissing(
        "demo data not found: looked for an ImageFolder with train/ and val/ at "
        + ", ".join(str(c.resolve()) for c in cands)
        + (" (no pyproject.toml above the current folder, so no repository root to look from)"
           if explicit is None and find_repo_root(start) is None else "")
        + "; the README says how the shared data sits beside the repository, or pass --data DIR "
          "with another train/ + val/ folder")


def find_demo_assets(explicit: str | os.PathLike | None = None, *, start: str | os.PathLike | None = None) -> Path:
    """The folder holding ``members/*.pt`` and ``photos/``: ``explicit`` when given, else
    :data:`DEMO_ASSETS` under the current folder, then under the repository root found from it.
    Raises :class:`DemoDataMissing` naming every place it looked."""
    here = Path.cwd() if start is None else Path(start)
    root = find_repo_root(here)
    cands = [Path(explicit)] if explicit is not None else (
        [here / DEMO_ASSETS] + ([root / DEMO_ASSETS] if root is not None else []))
    for c in cands:
        if (c / "photos").is_dir() and any((c / "members").glob("*.pt")):
            return c.resolve()
    raise DemoDataMissing(
        "demo assets not found: looked for members/*.pt and photos/ in "
        + ", ".join(str(c.resolve()) for c in cands)
        + "; run the demo from inside a clone of the repository, or pass --assets DIR "
          "(the repository's demo/ folder)")


@dataclass
class BundledDemo:
    """Settings of the bundled demo (``inception-eval demo``)."""

    out: str = "demo-out"
    assets: str | None = None
    workers: int = 0
    threads: int | None = None
    progress: bool = True


def _bundled_note(assets: Path, n_members: int, n_photos: int) -> str:
    return (f"Demo: {n_members} GoogLeNets bundled in {assets.name}/members (the recipe of each: "
            f"`inception-eval model --checkpoint {assets.name}/members/<name>.pt`; trained by "
            f"examples/train_demo_members.py on 2,000 photos of the 10-class Imagenette subset), scored on "
            f"the {n_photos} photos of {assets.name}/photos. The photos are 224 px squares, so the three "
            f"squares of paper144 coincide: its 144 views are 48 distinct ones, each weighted 3. Read every "
            f"error with its 95% interval: on {n_photos} images one image is {100 / max(n_photos, 1):g} points. "
            f"The paper's points in the plot are ImageNet figures, shown for scale only.")


def _compare_and_write(ckpts: list[str], photos, out: Path, *, cfg, title: str, note: str, progress: bool,
                       t0: float, log: Callable[[str], None] | None, show: bool, **timing: float):
    """The common end of both demos: compare every configuration with ``DEMO_PROTOCOLS`` x
    ``DEMO_CLASSIFIERS`` (plus greedy selection), write the outputs and ``timing.json`` under ``out``."""
    import torch

    from inception_eval.comparison import print_outputs, run_comparison

    res = run_comparison(ckpts, photos, protocols=list(DEMO_PROTOCOLS), classifier_sets=list(DEMO_CLASSIFIERS),
                         out_dir=out, cache_dir=out / "cache", greedy=True, title=title, note=note, log=log,
                         progress=progress, workers=cfg.workers)
    total = time.perf_counter() - t0
    (out / "timing.json").write_text(json.dumps({"total_seconds": round(total, 1),
                                                  **{k: round(v, 1) for k, v in timing.items()},
                                                  "torch_threads": torch.get_num_threads(),
                                                  "config": asdict(cfg)}, indent=1))
    res.files["timing"] = out / "timing.json"
    if log:
        log(f"demo finished in {total:.0f} s" + "".join(f" ({k.replace('_', ' ')} {v:.0f})" for k, v in timing.items()))
    if show:
        print_outputs(res)
    return res


def run_bundled_demo(cfg: BundledDemo, *, log: Callable[[str], None] | None = print, show: bool = False):
    """Compare every configuration of the bundled members on the bundled photos; returns
    ``comparison.CompareOutputs`` (report.md, configurations.csv, comparison.json, cost_vs_top5.png
    and timing.json under ``cfg.out``). Raises :class:`DemoDataMissing` when the assets are absent."""
    import torch

    from inception_eval.data import image_folder

    t0 = time.perf_counter()
    assets = find_demo_assets(cfg.assets)
    members = sorted((assets / "members").glob("*.pt"))
    photos = image_folder(assets / "photos")
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if log:
        log(f"comparing {len(members)} bundled members on {len(photos)} photos ({assets}) with "
            f"{', '.join(DEMO_PROTOCOLS)}; classifiers {', '.join(DEMO_CLASSIFIERS)}")
    return _compare_and_write([str(m) for m in members], photos, out, cfg=cfg,
                              title="Demo: Table 3 for seven bundled members",
                              note=_bundled_note(assets, len(members), len(photos)), progress=cfg.progress,
                              t0=t0, log=log, show=show)


@dataclass
class DemoConfig:
    """Demo settings (defaults sized for about 4 minutes on 2 CPU cores).

    Differences from the paper's recipe, each because the demo trains for minutes, not weeks:
    64 px instead of 224 (views of every protocol scale with the crop side; ~12x cheaper per image
    than 224), width x0.25, the BatchNorm variant (the LRN variant stays at chance in short runs),
    crops of 25-100% of the area instead of 8-100% and no photometrics, and a linear warm-up (1
    epoch) + cosine decay at lr 0.1 instead of the paper's x0.96 every 8 epochs (which is flat over
    a 10-epoch run). Decoded training images are cached in memory (shorter side 128 px).
    """

    out: str = "demo-out"
    data: str | None = None
    members: int = 3
    epochs: int = 10
    train_per_class: int = 200
    val_per_class: int = 20
    width_mult: float = 0.25
    size: int = 64
    batch_size: int = 32
    lr: float = 0.1
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    variant: str = "torchvision"
    crop_scale: tuple[float, float] = (0.25, 1.0)
    photometric: str = "none"
    cache_decoded: bool = True
    # One torch thread: on this shared 2-core machine 2 threads were not faster (measured).
    threads: int | None = 1
    workers: int = 0


def per_class_subset(ds, per_class: int):
    """The first ``per_class`` images of every class, in dataset order (a stratified, fixed subset)."""
    seen: dict[int, int] = {}
    keep = []
    for i, y in enumerate(ds.labels.tolist()):
        if seen.get(y, 0) < per_class:
            keep.append(i)
            seen[y] = seen.get(y, 0) + 1
    return ds.subset(keep)


def _train_members(cfg: DemoConfig, root: Path, out: Path, log) -> tuple[list[str], float]:
    """Train (or reuse, when trained with the same settings) every member; (checkpoints, seconds)."""
    from inception_eval.train import TrainConfig, train

    ckpts = []
    train_seconds = 0.0
    for k in range(cfg.members):
        tc = TrainConfig(data=str(root / "train"), out=str(out / "members" / f"member{k}.pt"),
                         width_mult=cfg.width_mult, size=cfg.size, epochs=cfg.epochs, batch_size=cfg.batch_size,
                         lr=cfg.lr, seed=k, workers=cfg.workers, threads=cfg.threads,
                         limit_per_class=cfg.train_per_class, variant=cfg.variant,
                         crop_scale=tuple(cfg.crop_scale), photometric=cfg.photometric,
                         schedule=cfg.schedule, warmup_epochs=cfg.warmup_epochs,
                         cache_decoded=cfg.cache_decoded, cache_side=2 * cfg.size if cfg.cache_decoded else None)
        stamp = Path(tc.out + ".json")
        want = {k_: v for k_, v in asdict(tc).items()
                if k_ not in ("out", "threads", "workers", "cache_decoded")}
        if Path(tc.out).is_file() and stamp.is_file() and json.loads(stamp.read_text()) == json.loads(json.dumps(want)):
            if log:
                log(f"member {k}: reusing {tc.out} (same settings)")
        else:
            if log:
                log(f"member {k}: training (seed {k}, {cfg.epochs} epochs, {cfg.train_per_class} images per class)")
            res = train(tc, log=log)
            train_seconds += res.seconds
            stamp.write_text(json.dumps(want))
        ckpts.append(tc.out)
    return ckpts, train_seconds


def _note(cfg: DemoConfig, root: Path, n_val: int) -> str:
    return (f"Demo: {cfg.members} GoogLeNets ({cfg.variant} variant, width x{cfg.width_mult}, {cfg.size} px, "
            f"crops {cfg.crop_scale[0]:g}-{cfg.crop_scale[1]:g} of the area, photometrics {cfg.photometric}, "
            f"{cfg.schedule} lr {cfg.lr:g}) each trained {cfg.epochs} epochs on {cfg.train_per_class} images per "
            f"class of {root.name}/train, scored on {n_val} images of {root.name}/val (10 classes). These "
            f"accuracies are a demo's (minutes of CPU training), not a result: read them with their 95% "
            f"intervals, which on {n_val} images are several points wide; the paper's points in the plot "
            f"are ImageNet figures.")


def run_demo(cfg: DemoConfig, *, log: Callable[[str], None] | None = print, show: bool = False):
    """Train, score, compare; returns ``comparison.CompareOutputs`` (files under ``cfg.out``).

    ``show`` prints the report and the files written (the command line's output). Raises
    :class:`DemoDataMissing` / :class:`UsageError` for missing data or bad settings.
    """
    import torch

    from inception_eval.data import image_folder

    if cfg.members < 1:
        raise UsageError(f"--members must be >= 1, got {cfg.members}")
    t0 = time.perf_counter()
    root = find_demo_data(cfg.data)
    out = Path(cfg.out)
    (out / "members").mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    ckpts, train_seconds = _train_members(cfg, root, out, log)
    val = per_class_subset(image_folder(root / "val"), cfg.val_per_class)
    if log:
        log(f"scoring {len(ckpts)} members on {len(val)} val images ({cfg.val_per_class} per class) "
            f"with {', '.join(DEMO_PROTOCOLS)}")
    return _compare_and_write(ckpts, val, out, cfg=cfg, title="Demo ensemble comparison",
                              note=_note(cfg, root, len(val)), progress=False, t0=t0, log=log, show=show,
                              training_seconds=train_seconds)
