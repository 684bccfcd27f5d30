"""``inception-eval demo``: the main job on bundled defaults (logic in ``inception_eval.demo``)."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    from inception_eval.demo import DemoConfig

    d = DemoConfig()
    p = subparsers.add_parser(
        "demo", help="train 3 tiny members, score them with 1/10/144 crops, write the ensemble comparison",
        description=("On ../shared/data/small-classification: trains tiny GoogLeNets (different seeds), "
                     "scores them on a per-class subset of val/ with center, ten and paper144 through the "
                     "scoring engine, compares every ensemble configuration and writes report.md, "
                     "configurations.csv, comparison.json and cost_vs_top5.png. About 4 minutes on 2 cores; "
                     "the accuracies are a demo's, not a result."))
    p.add_argument("--out", default=d.out, help="output folder (default: demo-out)")
    p.add_argument("--data", default=None, help="ImageFolder root with train/ and val/ (default: the shared data)")
    p.add_argument("--members", type=int, default=d.members)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--train-per-class", type=int, default=d.train_per_class)
    p.add_argument("--val-per-class", type=int, default=d.val_per_class)
    p.add_argument("--width-mult", type=float, default=d.width_mult)
    p.add_argument("--size", type=int, default=d.size, help="training and test crop side in px (default 64)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate of the warm-up + cosine schedule")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="torch CPU threads (default 1: fastest when other jobs share the cores)")
    p.add_argument("--workers", type=int, default=d.workers, help="decode workers for training and scoring")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inception_eval.comparison import print_outputs
    from inception_eval.demo import DemoConfig, DemoDataMissing, run_demo

    cfg = DemoConfig(out=args.out, data=args.data, members=args.members, epochs=args.epochs,
                     train_per_class=args.train_per_class, val_per_class=args.val_per_class,
                     width_mult=args.width_mult, size=args.size, batch_size=args.batch_size, lr=args.lr,
                     threads=args.threads, workers=args.workers)
    if cfg.members < 1:
        print("error: --members must be >= 1", file=sys.stderr)
        return 2
    try:
        res = run_demo(cfg, log=lambda s: print(s, file=sys.stderr))
    except DemoDataMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_outputs(res)
    return 0
