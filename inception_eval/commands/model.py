"""``inception-eval model``: the Table 1 style summary of the bundled GoogLeNet, or what a checkpoint holds."""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "model", help="GoogLeNet per-layer summary (the paper's Table 1) or a checkpoint's contents",
        description=(
            "--summary prints the paper's Table 1 columns (output size, #1x1, #3x3 reduce, #3x3, #5x5 reduce, "
            "#5x5, pool proj, params, ops) measured on the model for any variant, input size and width; "
            "--compare-paper adds our ops against the printed Table 1. --checkpoint FILE loads a checkpoint "
            "(weights_only) and prints its variant, classes and metadata."))
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--summary", action="store_true", help="print the Table 1 style summary")
    what.add_argument("--checkpoint", metavar="FILE", help="describe a checkpoint file")
    p.add_argument("--variant", choices=("paper", "torchvision"), default="paper")
    p.add_argument("--size", type=int, default=224, help="input side in px (default 224)")
    p.add_argument("--width-mult", type=float, default=1.0, help="channel multiplier (default 1.0)")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--compare-paper", action="store_true",
                   help="with --summary: also print ours vs the paper's printed params/ops (paper variant, 224, width 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown / text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inception_eval.models import (
        MIN_INPUT_SIZE,
        CheckpointError,
        load_checkpoint,
        model_summary,
        paper_comparison,
        paper_comparison_markdown,
    )

    if args.checkpoint:
        try:
            model, info = load_checkpoint(args.checkpoint)
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        n_params = sum(p.numel() for p in model.parameters())
        if args.json:
            from dataclasses import asdict
            d = asdict(info)
            d["parameters"] = n_params
            print(json.dumps(d, indent=2, default=str))
        else:
            print(info.describe())
            print(f"parameters:      {n_params:,}")
        return 0

    low = MIN_INPUT_SIZE[args.variant]
    if args.size < low:
        print(f"error: --size {args.size} is below the {args.variant} GoogLeNet minimum of {low} px", file=sys.stderr)
        return 2
    if args.width_mult <= 0 or args.num_classes < 1:
        print("error: --width-mult must be > 0 and --num-classes >= 1", file=sys.stderr)
        return 2
    summary = model_summary(args.variant, args.size, args.width_mult, args.num_classes)
    comparable = (args.variant, args.size, args.width_mult, args.num_classes) == ("paper", 224, 1.0, 1000)
    if args.compare_paper and not comparable:
        print("error: --compare-paper needs the paper variant at --size 224, --width-mult 1, --num-classes 1000",
              file=sys.stderr)
        return 2
    if args.json:
        d = summary.to_dict()
        if args.compare_paper:
            d["paper_comparison"] = [dict(vars(r), ops_agree=r.ops_agree) for r in paper_comparison(summary)]
        print(json.dumps(d, indent=2))
        return 0
    print(summary.to_markdown())
    if args.compare_paper:
        print()
        print(paper_comparison_markdown(paper_comparison(summary)))
    return 0
