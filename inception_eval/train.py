"""A small, honest training recipe for the bundled GoogLeNet on an ImageFolder tree.

The paper's recipe, scaled down: SGD with momentum 0.9; a step schedule that multiplies the
learning rate by ``lr_step_factor`` (0.96: "decreasing the learning rate by 4%") every
``lr_step_epochs`` (8) epochs; the two auxiliary losses added with weight 0.3 (``AUX_WEIGHT``);
the paper's augmentation from :class:`inception_aug.transforms.InceptionTrainTransform` (area 8-100%, aspect
3/4-4/3, Howard photometrics, random interpolation, mirroring), drawn per (seed, epoch, index)
through :class:`inception_aug.seeding.AugmentedDataset`.

Optional: Polyak averaging of the weights (``polyak_decay``, an exponential moving average) and
Caffe's rule of no weight decay on biases (``weight_decay_rule="caffe"``); runs can be resumed from
a per-epoch state file (``save_every_epoch`` / ``resume``). Not reproduced: asynchronous
multi-replica SGD (the paper's DistBelief set-up) and hundreds of epochs on 1.2M images.

Meant for demos, tests and users with small data: a tiny ``width_mult`` at 112 px trains on a
laptop CPU. The checkpoint (``models.save_checkpoint``)
carries the class names, mean/std, input size and the training settings and per-epoch losses.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD
from inception_aug.decode import ImageDecodeError, decode_image
from inception_aug.errors import InputError, UsageError
from inception_aug.plain import to_plain
from inception_aug.transforms import InceptionTrainTransform
from inception_eval.constants import AUX_WEIGHT

__all__ = [
    "TrainConfig", "TrainResult", "TrainingDivergedError", "WEIGHT_DECAY_RULES", "SCHEDULES", "PolyakAverage",
    "train", "lr_at", "make_transform", "param_groups", "training_loss", "fixed_batch_loss", "resume_path",
]

#: Which parameters weight decay applies to. "all": every parameter (torch.optim's default).
#: "caffe": weights of convolutions and linear layers only; biases and BatchNorm scale/shift get
#: none (the BVLC GoogLeNet replica's ``decay_mult: 0`` on every bias; it has no BatchNorm).
WEIGHT_DECAY_RULES = ("all", "caffe")


class TrainingDivergedError(UsageError, FloatingPointError):
    """The loss stopped being finite: the settings (usually the learning rate) must change (exit 2)."""


@dataclass
class TrainConfig:
    """Settings of one run. Units: ``size`` px (square crop side), learning rates per step,
    ``lr_step_epochs`` in epochs, ``limit_per_class`` images (None: all)."""

    data: str
    out: str
    width_mult: float = 0.25
    size: int = 112
    epochs: int = 2
    batch_size: int = 32
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 2e-4
    # "all" (default): every parameter decays, torch.optim's convention and that of torchvision's
    # reference training scripts, so a run without the flag is the plain PyTorch recipe. "caffe":
    # biases and BatchNorm parameters get no decay, the BVLC replica's rule (WEIGHT_DECAY_RULES).
    # The paper states no weight decay at all.
    weight_decay_rule: str = "all"
    lr_step_epochs: float = 8.0
    lr_step_factor: float = 0.96
    # "step": the paper's (x lr_step_factor every lr_step_epochs). "cosine": linear warm-up over
    # warmup_epochs, then half a cosine down to 0 at the last step (for short runs, e.g. the demo).
    schedule: str = "step"
    warmup_epochs: float = 0.0
    aux_weight: float = AUX_WEIGHT
    variant: str = "paper"
    sampler: str = "paper"
    photometric: str = "howard"
    crop_scale: tuple[float, float] | None = None  # crop area range; None: the sampler's (paper: 0.08-1)
    seed: int = 0
    workers: int = 0
    threads: int | None = None
    limit_per_class: int | None = None
    # Decode every training image once and keep the uint8 RGB array in memory (shorter side resized
    # to cache_side px when set, e.g. 2x size, so crops resample from a smaller array). Memory:
    # images x side^2 x 3 bytes (2000 x 224^2 x 3 = 0.3 GB). Off: decode per sample (the paper's way).
    cache_decoded: bool = False
    cache_side: int | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # Polyak averaging as an exponential moving average of the weights, updated after every step:
    # avg = d * avg + (1 - d) * w. None: off. BatchNorm running statistics are not averaged: the
    # averaged model takes the raw model's buffers. When on, cfg.out holds the averaged weights;
    # keep_raw also writes the raw ones to <out stem>.raw.pt.
    polyak_decay: float | None = None
    keep_raw: bool = False
    # save_every_epoch: write the resume state (weights, optimizer, averages, RNG states, history)
    # to resume_path(cfg) after each epoch. resume: continue from that file when it exists (and
    # keep writing it); the settings must be the run's own, except epochs, threads, workers and keep_raw.
    save_every_epoch: bool = False
    resume: bool = False


@dataclass
class TrainResult:
    """What :func:`train` did: the checkpoint written, per-epoch history, wall seconds, images used
    and the unreadable files it skipped (path, reason)."""

    checkpoint: str
    epoch_losses: list[float]  # mean total loss (main + aux_weight * aux) per epoch
    epoch_main_losses: list[float]  # mean main-head cross-entropy per epoch
    epoch_train_top1: list[float]  # fraction of augmented training samples classified right
    seconds: float
    images: int
    skipped: list[tuple[str, str]] = field(default_factory=list)


SCHEDULES = ("step", "cosine")


def lr_at(epoch: float, cfg: TrainConfig) -> float:
    """Learning rate at (fractional) ``epoch`` in [0, cfg.epochs].

    ``schedule="step"`` (default, the paper's): ``lr * factor ** floor(epoch / lr_step_epochs)``.
    ``schedule="cosine"``: ``lr * epoch / warmup_epochs`` during the warm-up, then
    ``lr * (1 + cos(pi * t)) / 2`` with ``t`` the fraction of the remaining epochs done (0 at the end).
    """
    if cfg.schedule not in SCHEDULES:
        raise UsageError(f"unknown schedule {cfg.schedule!r}; expected one of {SCHEDULES}")
    if cfg.schedule == "cosine":
        w = max(0.0, float(cfg.warmup_epochs))
        if epoch < w:
            return cfg.lr * epoch / w
        span = max(float(cfg.epochs) - w, 1e-9)
        t = min(max((epoch - w) / span, 0.0), 1.0)
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * t))
    if cfg.lr_step_epochs <= 0:
        return cfg.lr
    return cfg.lr * cfg.lr_step_factor ** math.floor(epoch / cfg.lr_step_epochs + 1e-9)


class _FileList(torch.utils.data.Dataset):
    """(path, label) per file: the transform decodes (InceptionTrainTransform takes paths and may use
    DCT-reduced JPEG decoding when the crop allows); unreadable files raise ImageDecodeError."""

    def __init__(self, paths: Sequence[str], labels: Sequence[int]) -> None:
        self.paths, self.labels = list(paths), [int(x) for x in labels]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.paths[i], self.labels[i]


class _DecodedList(torch.utils.data.Dataset):
    """(uint8 HWC RGB array, label) per image, all decoded once up front (see ``cache_decoded``)."""

    def __init__(self, paths: Sequence[str], labels: Sequence[int], side: int | None = None) -> None:
        self.images = [_decode_for_cache(p, side) for p in paths]
        self.labels = [int(x) for x in labels]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


def _decode_for_cache(path: str, side: int | None) -> np.ndarray:
    """Decode ``path``; with ``side``, shrink (never enlarge) so the shorter side is ``side`` px."""
    img = decode_image(path)
    if side:
        h, w = img.shape[:2]
        if min(h, w) > side:
            from inception_aug.resize import resize

            k = side / min(h, w)
            img = resize(img, (max(1, round(w * k)), max(1, round(h * k))), "area")  # anti-aliased shrink
    return np.ascontiguousarray(img)


def make_transform(cfg: TrainConfig) -> InceptionTrainTransform:
    """The paper's training transform at ``cfg.size`` px: ``cfg.sampler`` crops over ``cfg.crop_scale``,
    ``cfg.photometric`` colour changes, random interpolation, mirroring; output a normalised tensor."""
    return InceptionTrainTransform(size=cfg.size, sampler=cfg.sampler, photometric=cfg.photometric,
                                   output="tensor", mean=cfg.mean, std=cfg.std, scale=cfg.crop_scale)


def _to_tensor(x) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.dtype == torch.uint8:  # HWC uint8 from an array-output transform: should not happen here
        raise TypeError("the training transform must output a normalised float tensor")
    return t.float()


def _collate(batch):
    xs, ys = zip(*batch)
    return torch.stack([_to_tensor(x) for x in xs]), torch.tensor(ys, dtype=torch.int64)


def _check_readable(paths: Sequence[str]) -> list[tuple[str, str]]:
    """Paths whose header cannot be read, with the reason (checked before a long run starts)."""
    from inception_aug.decode import image_size

    bad = []
    for p in paths:
        try:
            image_size(p)
        except (ImageDecodeError, OSError, ValueError) as e:
            bad.append((p, str(getattr(e, "reason", e))))
    return bad


def _check_config(cfg: TrainConfig) -> None:
    """Raise UsageError for a setting that cannot work, before any file is read."""
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise UsageError("epochs and batch_size must be >= 1")
    if cfg.weight_decay_rule not in WEIGHT_DECAY_RULES:
        raise UsageError(f"unknown weight_decay_rule {cfg.weight_decay_rule!r}; expected one of {WEIGHT_DECAY_RULES}")
    lr_at(0.0, cfg)  # an unknown schedule fails here
    if not Path(cfg.data).is_dir():
        raise UsageError(f"training data {cfg.data}: no such folder")


def _training_files(cfg: TrainConfig, log: Callable[[str], None] | None
                    ) -> tuple[list[str], list[int], list[str], list[tuple[str, str]]]:
    """(paths, labels, class names, skipped (path, reason)) of the ImageFolder ``cfg.data``:
    at most ``limit_per_class`` images per class, files whose header cannot be read left out."""
    from inception_eval.data import image_folder

    ds = image_folder(cfg.data)
    paths, labels = list(ds.paths), [int(v) for v in ds.labels]
    names = list(ds.class_names) if getattr(ds, "class_names", None) else sorted({str(v) for v in labels})
    if cfg.limit_per_class is not None:
        keep, seen = [], {}
        for i, y in enumerate(labels):
            if seen.get(y, 0) < cfg.limit_per_class:
                keep.append(i)
                seen[y] = seen.get(y, 0) + 1
        paths, labels = [paths[i] for i in keep], [labels[i] for i in keep]
    skipped = _check_readable(paths)
    if skipped:
        bad = {p for p, _ in skipped}
        for p, why in skipped:
            if log:
                log(f"skipping unreadable training image {p}: {why}")
        keep = [i for i, p in enumerate(paths) if p not in bad]
        paths, labels = [paths[i] for i in keep], [labels[i] for i in keep]
    if not paths:
        raise InputError(f"no readable training images under {cfg.data}")
    return paths, labels, names, skipped


def _make_loader(cfg: TrainConfig, paths: list[str], labels: list[int], log: Callable[[str], None] | None
                 ) -> tuple[Any, torch.utils.data.DataLoader, torch.Generator]:
    """(augmented dataset, shuffling loader, the loader's generator): draws per (seed, epoch, index)."""
    from inception_aug.seeding import AugmentedDataset

    if cfg.cache_decoded:
        t_dec = time.perf_counter()
        base: torch.utils.data.Dataset = _DecodedList(paths, labels, cfg.cache_side)
        if log:
            mb = sum(a.nbytes for a in base.images) / 2 ** 20
            log(f"decoded {len(paths)} training images into memory ({mb:.0f} MiB, "
                f"{time.perf_counter() - t_dec:.1f} s)")
    else:
        base = _FileList(paths, labels)
    data = AugmentedDataset(base, make_transform(cfg), seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                                         num_workers=cfg.workers, collate_fn=_collate, drop_last=False,
                                         persistent_workers=cfg.workers > 0)
    return data, loader, gen


def training_loss(out: Any, y: torch.Tensor, aux_weight: float = AUX_WEIGHT) -> tuple[torch.Tensor, torch.Tensor]:
    """(total, main) loss of a train-mode ``GoogLeNetOutputs``: main cross-entropy plus
    ``aux_weight`` x each auxiliary head's cross-entropy (the paper's 0.3)."""
    main = F.cross_entropy(out.logits, y)
    loss = main
    for aux in (out.aux1, out.aux2):
        if aux is not None:
            loss = loss + aux_weight * F.cross_entropy(aux, y)
    return loss, main


def _train_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, loader: torch.utils.data.DataLoader,
                 cfg: TrainConfig, epoch: int, average: PolyakAverage | None) -> tuple[float, float, float]:
    """One pass over ``loader``; returns (mean total loss, mean main loss, train top-1 fraction)."""
    tot = main_tot = 0.0
    correct = seen = 0
    steps = len(loader)
    for step, (x, y) in enumerate(loader):
        for g in opt.param_groups:
            g["lr"] = lr_at(epoch + step / steps, cfg)
        out = model(x)
        loss, main = training_loss(out, y, cfg.aux_weight)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(f"loss became {loss.item()} at epoch {epoch}, step {step}; "
                                        f"lower --lr (now {cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if average is not None:
            average.update(model)
        tot += loss.item() * len(y)
        main_tot += main.item() * len(y)
        # The tie rule of inception_eval.metrics.beats_true: top-1 only when no other class scores >= the true one.
        true = out.logits.detach().gather(1, y[:, None])
        correct += int(((out.logits.detach() >= true).sum(1) == 1).sum())
        seen += len(y)
    return tot / seen, main_tot / seen, correct / seen


def param_groups(model: torch.nn.Module, weight_decay: float, rule: str = "all") -> list[dict[str, Any]]:
    """SGD parameter groups under a weight-decay ``rule`` (see :data:`WEIGHT_DECAY_RULES`).

    ``"all"``: one group, every parameter with ``weight_decay``. ``"caffe"``: two groups, first
    the convolution / linear weights with ``weight_decay``, then every bias and every BatchNorm
    parameter with 0. Each parameter is in exactly one group, in ``model.parameters()`` order.
    """
    if rule not in WEIGHT_DECAY_RULES:
        raise UsageError(f"unknown weight_decay_rule {rule!r}; expected one of {WEIGHT_DECAY_RULES}")
    if rule == "all":
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    exempt: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) or name == "bias":
                exempt.add(id(param))
    params = list(model.parameters())
    return [{"params": [p for p in params if id(p) not in exempt], "weight_decay": weight_decay},
            {"params": [p for p in params if id(p) in exempt], "weight_decay": 0.0}]


class PolyakAverage:
    """Exponential moving average of a model's parameters (Polyak averaging as TensorFlow's
    ``ExponentialMovingAverage`` does it): after each :meth:`update`,
    ``avg = decay * avg + (1 - decay) * param``, starting from the model's weights at construction.

    Buffers (BatchNorm running mean / variance, counters) are not averaged: each update copies the
    raw model's, so the averaged model normalises with the statistics the raw model collected.
    ``decay`` in [0, 1); 0 tracks the raw weights exactly.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 <= float(decay) < 1.0:
            raise UsageError(f"polyak_decay must be in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.params = [p.detach().clone() for p in model.parameters()]
        self.buffers = [b.detach().clone() for b in model.buffers()]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current parameters into the average and copy its buffers."""
        for avg, p in zip(self.params, model.parameters()):
            avg.mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)
        for avg, b in zip(self.buffers, model.buffers()):
            avg.copy_(b)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Write the averaged parameters and the copied buffers into ``model`` (same layout)."""
        for avg, p in zip(self.params, model.parameters()):
            p.copy_(avg)
        for avg, b in zip(self.buffers, model.buffers()):
            b.copy_(avg)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "params": list(self.params), "buffers": list(self.buffers)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.params = [t.clone() for t in state["params"]]
        self.buffers = [t.clone() for t in state["buffers"]]


@dataclass
class _RunState:
    """Per-epoch history of a run (what the resume file carries besides tensors)."""

    losses: list[float] = field(default_factory=list)
    main_losses: list[float] = field(default_factory=list)
    accs: list[float] = field(default_factory=list)
    seconds: float = 0.0


# Settings a resumed run may change: they do not alter what is computed.
_RESUME_FREE = ("epochs", "threads", "workers", "resume", "save_every_epoch", "out", "keep_raw")


def resume_path(cfg: TrainConfig) -> Path:
    """Where the resume state of a run writing ``cfg.out`` lives: ``<out stem>.resume.pt``."""
    out = Path(cfg.out)
    return out.with_name(out.stem + ".resume.pt")


def _fixed_settings(cfg: TrainConfig) -> dict[str, Any]:
    return to_plain({k: v for k, v in asdict(cfg).items() if k not in _RESUME_FREE})


def _save_resume_state(cfg: TrainConfig, model: torch.nn.Module, opt: torch.optim.Optimizer,
                       average: PolyakAverage | None, gen: torch.Generator, run: _RunState, epochs_done: int) -> None:
    """Write everything needed to continue after ``epochs_done`` epochs (atomically)."""
    state = {"epochs_done": epochs_done, "settings": _fixed_settings(cfg), "model": model.state_dict(),
             "optimizer": opt.state_dict(), "average": None if average is None else average.state_dict(),
             "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "history": asdict(run)}
    from inception_eval.models.checkpoint import atomic_save

    atomic_save(state, resume_path(cfg))


def _resume(cfg: TrainConfig, model: torch.nn.Module, opt: torch.optim.Optimizer, average: PolyakAverage | None,
            gen: torch.Generator, run: _RunState, log: Callable[[str], None] | None) -> int:
    """Load the resume state if there is one; returns the number of epochs already done (0 if none)."""
    path = resume_path(cfg)
    if not path.is_file():
        return 0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on a truncated or foreign file
        raise InputError(f"cannot resume from {path}: unreadable ({type(e).__name__}); delete it to start over") from None
    if state["settings"] != _fixed_settings(cfg):
        changed = sorted(k for k, v in _fixed_settings(cfg).items() if state["settings"].get(k) != v)
        raise UsageError(f"cannot resume from {path}: settings differ from that run's ({', '.join(changed)})")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if average is not None:
        average.load_state_dict(state["average"])
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    for k, v in state["history"].items():
        setattr(run, k, v)
    if log:
        log(f"resumed from {path} after epoch {state['epochs_done']}")
    return int(state["epochs_done"])


def _save_trained(cfg: TrainConfig, model: torch.nn.Module, average: PolyakAverage | None,
                  opt: torch.optim.Optimizer, names: list[str], images: int, run: _RunState,
                  log: Callable[[str], None] | None) -> None:
    """Write ``cfg.out`` (the averaged weights when Polyak averaging is on; the raw ones too, to
    ``<stem>.raw.pt``, with ``keep_raw``), with the settings and history as training metadata."""
    from inception_eval.models import save_checkpoint

    info = {k: v for k, v in asdict(cfg).items() if k not in ("out", "mean", "std")}
    info.update(recipe=f"inception_eval.train (SGD momentum, {cfg.schedule} lr, aux losses, InceptionTrainTransform)",
                images=images, epoch_losses=run.losses, epoch_main_losses=run.main_losses,
                epoch_train_top1=run.accs, seconds=round(run.seconds, 2), torch_threads=torch.get_num_threads(),
                weight_decay_groups=[{"parameters": sum(p.numel() for p in g["params"]),
                                      "weight_decay": g["weight_decay"]} for g in opt.param_groups])
    model.eval()
    common = dict(input_size=cfg.size, mean=tuple(cfg.mean), std=tuple(cfg.std), class_names=names)
    if average is not None and cfg.keep_raw:
        raw = Path(cfg.out).with_name(Path(cfg.out).stem + ".raw.pt")
        save_checkpoint(raw, model, training=dict(info, weights="raw"), **common)
    if average is not None:
        average.copy_to(model)
    weights = "raw" if average is None else f"polyak average (decay {cfg.polyak_decay})"
    save_checkpoint(cfg.out, model, training=dict(info, weights=weights), **common)
    if log:
        log(f"saved {cfg.out} ({images} images, {cfg.epochs} epochs, {run.seconds:.0f} s)")


def train(cfg: TrainConfig, *, log: Callable[[str], None] | None = print) -> TrainResult:
    """Train a GoogLeNet on the ImageFolder ``cfg.data`` and save the checkpoint to ``cfg.out``.

    Raises UsageError for unusable settings (including a missing data folder), InputError
    (``DatasetError``, ``ImageDecodeError``) for data that cannot be used (no class folders, no
    readable image), and TrainingDivergedError (a UsageError) when the loss stops being finite.
    """
    from inception_eval.models import googlenet

    _check_config(cfg)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    paths, labels, names, skipped = _training_files(cfg, log)
    torch.manual_seed(cfg.seed)
    model = googlenet(cfg.variant, num_classes=len(names), aux_logits=True, width_mult=cfg.width_mult)
    model.train()
    opt = torch.optim.SGD(param_groups(model, cfg.weight_decay, cfg.weight_decay_rule), lr=cfg.lr,
                          momentum=cfg.momentum)
    average = PolyakAverage(model, cfg.polyak_decay) if cfg.polyak_decay is not None else None
    data, loader, gen = _make_loader(cfg, paths, labels, log)
    run = _RunState()
    start = _resume(cfg, model, opt, average, gen, run, log) if cfg.resume else 0
    t0 = time.perf_counter() - run.seconds
    for epoch in range(start, cfg.epochs):
        data.set_epoch(epoch)
        for history, value in zip((run.losses, run.main_losses, run.accs),
                                  _train_epoch(model, opt, loader, cfg, epoch, average)):
            history.append(value)
        run.seconds = time.perf_counter() - t0
        if cfg.save_every_epoch or cfg.resume:
            _save_resume_state(cfg, model, opt, average, gen, run, epoch + 1)
        if log:
            log(f"epoch {epoch + 1}/{cfg.epochs}: loss {run.losses[-1]:.4f} (main {run.main_losses[-1]:.4f}), "
                f"train top-1 {100 * run.accs[-1]:.1f}% (augmented), lr {lr_at(epoch, cfg):.4g}, "
                f"{run.seconds:.0f} s")
    _save_trained(cfg, model, average, opt, names, len(paths), run, log)
    return TrainResult(str(cfg.out), run.losses, run.main_losses, run.accs, run.seconds, len(paths), skipped)


def fixed_batch_loss(model: torch.nn.Module, paths: Sequence[str], labels: Sequence[int], *, size: int,
                     mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                     aux_weight: float = AUX_WEIGHT,
                     train_mode: bool = False, seed: int = 0) -> float:
    """The training objective on whole images resized to ``size``: a deterministic yardstick for
    "training lowered the loss". Eval mode: main-head cross-entropy. ``train_mode``: main + aux_weight
    x each aux loss with dropout on, its masks drawn from ``torch.manual_seed(seed)`` (the same
    masks before and after training, for a like-for-like comparison)."""
    from inception_aug.normalize import normalize_batch
    from inception_aug.resize import resize

    u8 = np.stack([resize(decode_image(p), (size, size)) for p in paths])  # (B, H, W, 3) uint8
    x = normalize_batch(torch.from_numpy(u8).permute(0, 3, 1, 2), mean, std)
    y = torch.as_tensor(list(labels), dtype=torch.int64)
    was = model.training
    model.train(train_mode)
    with torch.no_grad():
        if train_mode:
            torch.manual_seed(seed)
            loss = training_loss(model(x), y, aux_weight)[0].item()
        else:
            loss = F.cross_entropy(model(x), y).item()
    model.train(was)
    return loss

