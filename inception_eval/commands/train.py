"""``inception-eval train``: the paper's recipe, scaled down, on an ImageFolder (see ``inception_eval.train``)."""
from __future__ import annotations

import argparse
import sys

from inception_eval.commands import add_command

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``train`` sub-command (defaults are ``TrainConfig``'s)."""
    from inception_eval.train import SCHEDULES, WEIGHT_DECAY_RULES, TrainConfig

    d = TrainConfig(data="", out="")
    p = add_command(
        subparsers, "train", func=run,
        help="train a (tiny) GoogLeNet on an ImageFolder with the paper's recipe",
        description=("SGD momentum 0.9, learning rate x0.96 every 8 epochs (both parameters), aux losses "
                     f"weighted {d.aux_weight:g}, the paper's augmentation (InceptionTrainTransform). Saves a "
                     "checkpoint with class names, mean/std, input size and training info. CPU-friendly "
                     "defaults: width x0.25 at 112 px."))
    p.add_argument("--data", required=True, help="ImageFolder training tree (DIR/<class>/*.jpg)")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--width-mult", type=float, default=d.width_mult, help="channel multiplier (default 0.25)")
    p.add_argument("--size", type=int, default=d.size, help="training crop side in px (default 112)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="initial learning rate (default 0.02)")
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--weight-decay-rule", choices=WEIGHT_DECAY_RULES, default=d.weight_decay_rule,
                   help="all: decay every parameter (default); caffe: no decay on biases and BatchNorm "
                        "parameters, as the BVLC GoogLeNet replica")
    p.add_argument("--lr-step-epochs", type=float, default=d.lr_step_epochs,
                   help="epochs between learning-rate steps (default 8, the paper's)")
    p.add_argument("--lr-step-factor", type=float, default=d.lr_step_factor,
                   help="learning-rate multiplier per step (default 0.96: -4%%)")
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help="step (default, the paper's) or cosine (linear warm-up, then cosine to 0: short runs)")
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs, help="cosine schedule warm-up (epochs)")
    p.add_argument("--polyak-decay", type=float, default=d.polyak_decay, metavar="D",
                   help="Polyak averaging: keep an exponential moving average of the weights with this decay "
                        "per step (e.g. 0.999) and save it as --out (default off)")
    p.add_argument("--keep-raw", action="store_true",
                   help="with --polyak-decay: also save the raw weights as <out stem>.raw.pt")
    p.add_argument("--save-every-epoch", action="store_true",
                   help="write the resume state <out stem>.resume.pt after every epoch")
    p.add_argument("--resume", action="store_true",
                   help="continue from <out stem>.resume.pt when it exists (and keep writing it)")
    p.add_argument("--cache-decoded", action="store_true",
                   help="decode every training image once and keep it in memory (images x side^2 x 3 bytes)")
    p.add_argument("--cache-side", type=int, default=None,
                   help="with --cache-decoded: shrink cached images so the shorter side is this many px")
    p.add_argument("--aux-weight", type=float, default=d.aux_weight, help=f"aux loss weight (default {d.aux_weight:g})")
    p.add_argument("--variant", choices=("paper", "torchvision"), default=d.variant)
    p.add_argument("--sampler", default=d.sampler, help="crop sampler: paper, torchvision, tf-slim")
    p.add_argument("--photometric", default=d.photometric, help="howard, tf-slim, colorjitter or none")
    p.add_argument("--crop-scale", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="crop area range as fractions of the image (default: the sampler's; paper 0.08 1)")
    p.add_argument("--limit-per-class", type=int, default=None, help="use only the first N images per class")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--workers", type=int, default=d.workers, help="DataLoader workers (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    """Build the TrainConfig from the flags, train, print the checkpoint path."""
    from inception_eval.train import TrainConfig, train

    cfg = TrainConfig(
        data=args.data, out=args.out, width_mult=args.width_mult, size=args.size, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
        weight_decay_rule=args.weight_decay_rule, lr_step_epochs=args.lr_step_epochs,
        lr_step_factor=args.lr_step_factor, aux_weight=args.aux_weight, schedule=args.schedule,
        warmup_epochs=args.warmup_epochs, cache_decoded=args.cache_decoded, cache_side=args.cache_side,
        variant=args.variant, sampler=args.sampler, photometric=args.photometric, seed=args.seed,
        crop_scale=tuple(args.crop_scale) if args.crop_scale else None, polyak_decay=args.polyak_decay,
        keep_raw=args.keep_raw, save_every_epoch=args.save_every_epoch, resume=args.resume,
        workers=args.workers, threads=args.threads, limit_per_class=args.limit_per_class)
    train(cfg, log=lambda s: print(s, file=sys.stderr))
    print(args.out)
    return 0
