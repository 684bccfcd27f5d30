"""One error convention for every command of both command lines.

Exit codes: 0 success, 1 a data or model error (a missing or unreadable image, checkpoint or data
folder, a dataset that does not match the model), 2 a usage error (a bad flag value or combination,
a command run where its bundled assets cannot be found), 130 interrupted (Ctrl-C). Messages are
one line, ``<prog>: error: <what and what to change>``.

Library code raises :class:`UsageError` for a bad setting a user passed and :class:`InputError`
(or a subclass: ``ImageDecodeError``, ``CheckpointError``, ``DatasetError``) for data or models
that cannot be used. :func:`run_command` maps them to exit codes; anything else is a bug and keeps
its traceback.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

__all__ = ["EXIT_OK", "EXIT_DATA", "EXIT_USAGE", "EXIT_INTERRUPT", "UsageError", "InputError", "run_command"]

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_INTERRUPT = 130


class UsageError(ValueError):
    """A setting the user passed cannot be used (exit code 2). The message says what to change."""


class InputError(ValueError):
    """Data or a model that cannot be used (exit code 1). The message names the file and the reason."""


def run_command(prog: str, func: Callable[[Any], int | None], args: Any) -> int:
    """Run ``func(args)`` and return its exit status under the convention above, printing one
    ``prog: error: ...`` line to stderr for a usage, data or model error and a short line on Ctrl-C."""
    try:
        return int(func(args) or 0)
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except InputError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_DATA
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
