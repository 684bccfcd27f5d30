"""``inception-eval`` command line: dispatches to the modules in ``inception_eval.commands``.

Every sub-command runs under :func:`inception_aug.errors.run_command`: exit 0 on success, 1 for a
data or model error (``InputError``: an unreadable image, a bad checkpoint, a dataset that does
not match), 2 for a usage error (``UsageError``: a bad flag value), 130 on Ctrl-C, with one
``inception-eval <command>: error: ...`` line on stderr.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from inception_aug.errors import EXIT_USAGE, run_command

__all__ = ["COMMANDS", "build_parser", "main"]

#: Sub-command modules; each defines ``register(subparsers)``, which adds its parser and sets
#: ``func(args) -> int``.
COMMANDS = ("model", "protocol", "score", "compare", "stamp", "cache", "train", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The ``inception-eval`` parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="inception-eval", description="The GoogLeNet paper's test protocols, scoring, ensemble "
        "comparison and a small training recipe. Exit status: 0 done, 1 unusable data or model, "
        "2 usage error, 130 interrupted.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"inception_eval.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the sub-command, return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    return run_command(f"inception-eval {args.command}", args.func, args)


if __name__ == "__main__":
    sys.exit(main())
