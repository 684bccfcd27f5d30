"""Sub-commands of ``inception-eval``. Each module defines ``register(subparsers)``."""
from __future__ import annotations

import argparse
from typing import Any, Callable

__all__ = ["add_command"]


def add_command(subparsers: Any, name: str, *, help: str, description: str,
                func: Callable[[argparse.Namespace], int | None]) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` whose ``args.func`` is ``func``; returns its parser for the flags."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.set_defaults(func=func)
    return parser
