"""``inception-eval cache``: list the score result stores, or remove some by key or age.

Argument parsing only: :func:`inception_eval.store.manage_cache` does the work.
"""
from __future__ import annotations

import argparse

__all__ = ["register", "run", "parse_age"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``"90s"``, ``"30m"``, ``"12h"``, ``"7d"``, ``"2w"`` (or bare seconds) -> seconds."""
    t = text.strip().lower()
    unit = _UNITS.get(t[-1:], None)
    try:
        value = float(t[:-1] if unit else t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an age like 90s, 30m, 12h, 7d or 2w, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"age must be >= 0, got {text!r}")
    return value * (unit or 1)


def register(subparsers) -> None:
    """Add the ``cache`` sub-command."""
    p = subparsers.add_parser(
        "cache", help="list or remove stored per-image scores",
        description="The per-image result stores that score and compare keep for resume and reuse: list "
        "them (checkpoint, data, settings, rows done, size, age) or remove some by key prefix or age. "
        "Stores a running job holds are kept.")
    p.add_argument("--cache-dir", help="the stores' folder (default: $INCEPTION_EVAL_CACHE or "
                   "~/.cache/inception-eval/scores)")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="list the stores, newest first")
    ls.add_argument("--json", action="store_true", help="as JSON")
    rm = sub.add_parser("remove", help="remove stores by key prefix and/or age")
    rm.add_argument("keys", nargs="*", metavar="KEY", help="key (folder name) or a unique prefix of it")
    rm.add_argument("--older-than", type=parse_age, metavar="AGE",
                    help="also remove stores last written more than AGE ago (90s, 30m, 12h, 7d, 2w)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List or remove as the parsed ``args`` say; exit status 0."""
    from inception_eval.store import manage_cache

    manage_cache(args.action, args.cache_dir, keys=getattr(args, "keys", ()) or (),
                 older_than=getattr(args, "older_than", None), as_json=getattr(args, "json", False))
    return 0
