"""``inception-eval model``: the Table 1 style summary of the bundled GoogLeNet, or what a checkpoint holds."""
from __future__ import annotations

import argparse

from inception_aug.errors import UsageError
from inception_eval.commands import add_command
from inception_eval.commands.model_flags import add_model_flags, add_preprocessing_flags, preprocessing_from

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``model`` sub-command."""
    p = add_command(
        subparsers, "model", func=run,
        help="GoogLeNet per-layer summary (the paper's Table 1) or a checkpoint's contents",
        description=(
            "--summary prints the paper's Table 1 columns (output size, #1x1, #3x3 reduce, #3x3, #5x5 reduce, "
            "#5x5, pool proj, params, ops) measured on the model for any variant, input size and width; "
            "--compare-paper adds our ops against the printed Table 1. --checkpoint FILE loads a checkpoint "
            "(weights_only) and prints its variant, classes and metadata."))
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--summary", action="store_true", help="print the Table 1 style summary")
    what.add_argument("--checkpoint", metavar="MODEL",
                      help="describe a model: a GoogLeNet checkpoint, TorchScript file, torch.export program or "
                      "module.path:factory, with each preprocessing value and where it came from")
    p.add_argument("--variant", choices=("paper", "torchvision"), default="paper")
    p.add_argument("--size", type=int, default=224, help="input side in px (default 224)")
    p.add_argument("--width-mult", type=float, default=1.0, help="channel multiplier (default 1.0)")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--compare-paper", action="store_true",
                   help="with --summary: also print ours vs the paper's printed params/ops (paper variant, 224, width 1)")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown / text")
    add_preprocessing_flags(p)
    add_model_flags(p, expectations=False)
    p.set_defaults(expect_model=False)


def run(args: argparse.Namespace) -> int:
    """Print the summary or the checkpoint description; flag errors raise UsageError."""
    from inception_eval.models import MIN_INPUT_SIZE, summary_report
    from inception_eval.resolve import describe_model

    if args.checkpoint:
        print(describe_model(args.checkpoint, preprocessing_from(args), as_json=args.json))
        return 0
    low = MIN_INPUT_SIZE[args.variant]
    if args.size < low:
        raise UsageError(f"--size {args.size} is below the {args.variant} GoogLeNet minimum of {low} px")
    if args.width_mult <= 0 or args.num_classes < 1:
        raise UsageError("--width-mult must be > 0 and --num-classes >= 1")
    if args.compare_paper and (args.variant, args.size, args.width_mult, args.num_classes) != ("paper", 224, 1.0, 1000):
        raise UsageError("--compare-paper needs the paper variant at --size 224, --width-mult 1, --num-classes 1000")
    print(summary_report(args.variant, args.size, args.width_mult, args.num_classes,
                         compare_paper=args.compare_paper, as_json=args.json))
    return 0
