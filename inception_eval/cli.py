"""``inception-eval`` command line: dispatches to the modules in ``inception_eval.commands``."""
from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines register(subparsers) which adds its parser and sets ``func(args) -> int``.
COMMANDS = ("model", "protocol", "score", "compare", "train", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inception-eval", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"inception_eval.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"inception_eval.commands.{name}":
                raise
            continue  # not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
