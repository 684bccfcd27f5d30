"""``inception-eval demo``: the main job (logic in ``inception_eval.demo``)."""
from __future__ import annotations

import argparse
import sys

from inception_eval.commands import add_command

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``demo`` sub-command."""
    from inception_eval.demo import DEMO_ASSETS, DEMO_DATA, DemoConfig

    d = DemoConfig()
    p = add_command(
        subparsers, "demo", func=run,
        help="the paper's Table 3 for 7 bundled members: 1/10/144 crops, every ensemble (under 2 minutes)",
        description=(f"Compares every ensemble of the 7 GoogLeNets bundled in {DEMO_ASSETS}/members on the 100 "
                     f"photos in {DEMO_ASSETS}/photos (found under the repository root, or --assets) with center, "
                     "ten and paper144 crops and the main and main+aux classifiers; writes report.md, "
                     "configurations.csv, comparison.json, cost_vs_top5.png and timing.json to --out. "
                     f"With --train: trains tiny members on {DEMO_DATA}/train (or --data) first and compares "
                     "those instead (minutes; the --members ... --lr flags apply to it)."))
    p.add_argument("--out", default=d.out, help="output folder (default: demo-out)")
    p.add_argument("--assets", default=None,
                   help=f"folder with members/*.pt and photos/ (default: {DEMO_ASSETS} under the repository root)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--train", action="store_true", help="train the members first (the whole recipe) instead")
    p.add_argument("--data", default=None, help=f"--train: ImageFolder root with train/ and val/ (default: {DEMO_DATA})")
    p.add_argument("--members", type=int, default=d.members, help="--train: members to train")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--train-per-class", type=int, default=d.train_per_class)
    p.add_argument("--val-per-class", type=int, default=d.val_per_class)
    p.add_argument("--width-mult", type=float, default=d.width_mult)
    p.add_argument("--size", type=int, default=d.size, help="--train: training and test crop side in px (default 64)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="--train: peak learning rate of the warm-up + cosine schedule")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; --train: 1)")
    p.add_argument("--workers", type=int, default=d.workers, help="decode workers for training and scoring")


def run(args: argparse.Namespace) -> int:
    """Run the demo with the parsed settings; missing assets or bad settings raise UsageError."""
    from inception_eval.demo import BundledDemo, DemoConfig, run_bundled_demo, run_demo

    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    if not args.train:
        run_bundled_demo(BundledDemo(out=args.out, assets=args.assets, workers=args.workers, threads=args.threads,
                                     progress=not args.no_progress), log=log, show=True)
        return 0
    cfg = DemoConfig(out=args.out, data=args.data, members=args.members, epochs=args.epochs,
                     train_per_class=args.train_per_class, val_per_class=args.val_per_class,
                     width_mult=args.width_mult, size=args.size, batch_size=args.batch_size, lr=args.lr,
                     threads=args.threads or DemoConfig.threads, workers=args.workers)
    run_demo(cfg, log=log, show=True)
    return 0
