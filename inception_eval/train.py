"""A small, honest training recipe for the bundled GoogLeNet on an ImageFolder tree.

The paper's recipe, scaled down: SGD with momentum 0.9; a step schedule that multiplies the
learning rate by ``lr_step_factor`` (0.96: "decreasing the learning rate by 4%") every
``lr_step_epochs`` (8) epochs; the two auxiliary losses added with weight 0.3; the paper's
augmentation from :class:`inception_aug.transforms.InceptionTrainTransform` (area 8-100%, aspect
3/4-4/3, Howard photometrics, random interpolation, mirroring), drawn per (seed, epoch, index)
through :class:`inception_aug.seeding.AugmentedDataset`.

Not reproduced: asynchronous multi-replica SGD and Polyak averaging (the paper's DistBelief set-up),
hundreds of epochs on 1.2M images. Meant for demos, tests and users with small data: a tiny
``width_mult`` at 112 px trains on a laptop CPU. The checkpoint (``models.save_checkpoint``)
carries the class names, mean/std, input size and the training settings and per-epoch losses.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from inception_aug.decode import ImageDecodeError, decode_image


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
    lr_step_epochs: float = 8.0
    lr_step_factor: float = 0.96
    # "step": the paper's (x lr_step_factor every lr_step_epochs). "cosine": linear warm-up over
    # warmup_epochs, then half a cosine down to 0 at the last step (for short runs, e.g. the demo).
    schedule: str = "step"
    warmup_epochs: float = 0.0
    aux_weight: float = 0.3
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
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass
class TrainResult:
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
        raise ValueError(f"unknown schedule {cfg.schedule!r}; expected one of {SCHEDULES}")
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

    def __init__(self, paths: Sequence[str], labels: Sequence[int], decode: bool = False) -> None:
        self.paths, self.labels = list(paths), [int(x) for x in labels]
        self.decode = decode

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return (decode_image(self.paths[i]) if self.decode else self.paths[i]), self.labels[i]


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


class _FallbackTransform:
    """FALLBACK until ``inception_aug.transforms`` lands: paper crop + random interpolation + flip +
    normalise, no photometrics. Same call shape as ``InceptionTrainTransform``."""

    def __init__(self, size: int, sampler: str, mean, std, scale=None) -> None:
        self.size, self.sampler, self.scale = size, sampler, scale
        self.mean = np.asarray(mean, np.float32) * 255
        self.std = np.asarray(std, np.float32) * 255

    def __call__(self, img: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        from inception_aug.resize import INTERPOLATIONS, resized_crop
        from inception_aug.sampling import sample_crop, sample_flip, sample_interpolation

        rng = rng or np.random.default_rng()
        h, w = img.shape[:2]
        box = sample_crop(w, h, rng, method=self.sampler, scale=self.scale)
        out = resized_crop(img, (box.x, box.y, box.w, box.h), (self.size, self.size),
                           sample_interpolation(rng, INTERPOLATIONS))
        if sample_flip(rng):
            out = out[:, ::-1]
        x = (out.astype(np.float32) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def make_transform(cfg: TrainConfig):
    """The paper's training transform at ``cfg.size`` px (fallback while the module is missing)."""
    try:
        from inception_aug.transforms import InceptionTrainTransform
    except ImportError:
        return _FallbackTransform(cfg.size, cfg.sampler, cfg.mean, cfg.std, cfg.crop_scale)
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


def train(cfg: TrainConfig, *, log: Callable[[str], None] | None = print) -> TrainResult:
    """Train a GoogLeNet on the ImageFolder ``cfg.data`` and save the checkpoint to ``cfg.out``."""
    from inception_aug.seeding import AugmentedDataset
    from inception_eval.data import image_folder
    from inception_eval.models import googlenet, save_checkpoint

    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ValueError("epochs and batch_size must be >= 1")
    lr_at(0.0, cfg)  # unknown schedule: fail before any work
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
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
        if log:
            for p, why in skipped:
                log(f"skipping unreadable training image {p}: {why}")
        keep = [i for i, p in enumerate(paths) if p not in bad]
        paths, labels = [paths[i] for i in keep], [labels[i] for i in keep]
    if not paths:
        raise ValueError(f"no readable training images under {cfg.data}")

    torch.manual_seed(cfg.seed)
    model = googlenet(cfg.variant, num_classes=len(names), aux_logits=True, width_mult=cfg.width_mult)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    transform = make_transform(cfg)
    if cfg.cache_decoded:
        t_dec = time.perf_counter()
        base = _DecodedList(paths, labels, cfg.cache_side)
        if log:
            mb = sum(a.nbytes for a in base.images) / 2 ** 20
            log(f"decoded {len(paths)} training images into memory ({mb:.0f} MiB, "
                f"{time.perf_counter() - t_dec:.1f} s)")
    else:
        base = _FileList(paths, labels, decode=isinstance(transform, _FallbackTransform))
    data = AugmentedDataset(base, transform, seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                                         num_workers=cfg.workers, collate_fn=_collate, drop_last=False,
                                         persistent_workers=cfg.workers > 0)
    steps_per_epoch = len(loader)
    t0 = time.perf_counter()
    losses, main_losses, accs = [], [], []
    for epoch in range(cfg.epochs):
        data.set_epoch(epoch)
        tot = main_tot = 0.0
        correct = seen = 0
        for step, (x, y) in enumerate(loader):
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch + step / steps_per_epoch, cfg)
            out = model(x)
            main = F.cross_entropy(out.logits, y)
            loss = main
            for aux in (out.aux1, out.aux2):
                if aux is not None:
                    loss = loss + cfg.aux_weight * F.cross_entropy(aux, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}, step {step}; "
                                         f"lower --lr (now {cfg.lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item() * len(y)
            main_tot += main.item() * len(y)
            correct += int((out.logits.argmax(1) == y).sum())
            seen += len(y)
        losses.append(tot / seen)
        main_losses.append(main_tot / seen)
        accs.append(correct / seen)
        if log:
            log(f"epoch {epoch + 1}/{cfg.epochs}: loss {losses[-1]:.4f} (main {main_losses[-1]:.4f}), "
                f"train top-1 {100 * accs[-1]:.1f}% (augmented), lr {lr_at(epoch, cfg):.4g}, "
                f"{time.perf_counter() - t0:.0f} s")
    seconds = time.perf_counter() - t0
    info = {k: v for k, v in asdict(cfg).items() if k not in ("out", "mean", "std")}
    info.update(recipe=f"inception_eval.train (SGD momentum, {cfg.schedule} lr, aux losses, InceptionTrainTransform)",
                images=len(paths), epoch_losses=losses, epoch_main_losses=main_losses,
                epoch_train_top1=accs, seconds=round(seconds, 2), torch_threads=torch.get_num_threads())
    model.eval()
    save_checkpoint(cfg.out, model, input_size=cfg.size, mean=tuple(cfg.mean), std=tuple(cfg.std),
                    class_names=names, training=info)
    if log:
        log(f"saved {cfg.out} ({len(paths)} images, {cfg.epochs} epochs, {seconds:.0f} s)")
    return TrainResult(str(cfg.out), losses, main_losses, accs, seconds, len(paths), skipped)


def fixed_batch_loss(model: torch.nn.Module, paths: Sequence[str], labels: Sequence[int], *, size: int,
                     mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), aux_weight: float = 0.3,
                     train_mode: bool = False, seed: int = 0) -> float:
    """The training objective on whole images resized to ``size``: a deterministic yardstick for
    "training lowered the loss". Eval mode: main-head cross-entropy. ``train_mode``: main + aux_weight
    x each aux loss with dropout on, its masks drawn from ``torch.manual_seed(seed)`` (the same
    masks before and after training, for a like-for-like comparison)."""
    from inception_aug.resize import resize

    m = np.asarray(mean, np.float32) * 255
    s = np.asarray(std, np.float32) * 255
    xs = [((resize(decode_image(p), (size, size)).astype(np.float32) - m) / s).transpose(2, 0, 1) for p in paths]
    x = torch.from_numpy(np.stack(xs))
    y = torch.as_tensor(list(labels), dtype=torch.int64)
    was = model.training
    model.train(train_mode)
    with torch.no_grad():
        if train_mode:
            torch.manual_seed(seed)
            out = model(x)
            loss = F.cross_entropy(out.logits, y)
            for aux in (out.aux1, out.aux2):
                if aux is not None:
                    loss = loss + aux_weight * F.cross_entropy(aux, y)
            loss = loss.item()
        else:
            loss = F.cross_entropy(model(x), y).item()
    model.train(was)
    return loss


__all__ = ["TrainConfig", "TrainResult", "train", "lr_at", "make_transform", "fixed_batch_loss"]
