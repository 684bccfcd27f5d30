"""``inception-eval stamp``: write a model's preprocessing into its file (or a sidecar) once.

Argument parsing only: :func:`inception_eval.stamping.stamp` does the work.
"""
from __future__ import annotations

import argparse

from inception_eval.commands import add_command
from inception_eval.commands.model_flags import add_model_flags, add_preprocessing_flags, preprocessing_from

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``stamp`` sub-command."""
    p = add_command(
        subparsers, "stamp", func=run,
        help="record a model's input size, mean/std, transform_input and class names in its file",
        description=(
            "Writes the preprocessing flags given into the model's file, so that later score, compare and "
            "model runs read them instead of assuming defaults: our GoogLeNet checkpoints get them in their "
            "metadata, a plain GoogLeNet state_dict is rewritten into our format, any other model file "
            "(TorchScript, torch.export program, a factory's --weights) gets a sidecar <file>.json. Each value is "
            "checked on the model first (a dummy forward at the input size, one class name per output). "
            "Values already recorded are kept unless --force."))
    p.add_argument("--checkpoint", required=True, metavar="MODEL",
                   help="the model file, or module.path:factory with --weights")
    p.add_argument("--force", action="store_true", help="overwrite values the file or sidecar already records")
    add_preprocessing_flags(p)
    add_model_flags(p)


def run(args: argparse.Namespace) -> int:
    """Stamp as the parsed ``args`` say and print what was written; exit status 0."""
    from inception_eval.stamping import stamp

    print(stamp(args.checkpoint, preprocessing_from(args), force=args.force))
    return 0
