"""Small conversions shared by both packages: plain (JSON-ready) values and output sizes."""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any, Sequence, Union

import numpy as np

__all__ = ["to_plain", "size_hw", "parse_wxh"]


def to_plain(value: Any, *, keep: tuple[type, ...] = (), nan_as_none: bool = False) -> Any:
    """``value`` as plain Python data: mappings become dicts with string keys, lists/tuples/sets
    become lists, numpy scalars and arrays Python numbers and lists, paths their string, other
    objects their ``str``. Instances of ``keep`` (e.g. ``torch.Tensor`` for checkpoint metadata)
    pass through unchanged. ``nan_as_none`` turns float NaN into ``None`` (JSON has no NaN)."""
    if keep and isinstance(value, keep):
        return value
    if isinstance(value, float):
        return None if nan_as_none and math.isnan(value) else value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, keep=keep, nan_as_none=nan_as_none) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v, keep=keep, nan_as_none=nan_as_none) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return to_plain(value.tolist(), keep=keep, nan_as_none=nan_as_none)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(dataclasses.asdict(value), keep=keep, nan_as_none=nan_as_none)
    return str(value)


def size_hw(size: Union[int, Sequence[int]], what: str = "size") -> tuple[int, int]:
    """An output size as ``(height, width)`` in pixels: an int is a square, a pair is read as
    (height, width) (the torchvision / albumentations convention). Raises ``ValueError`` for
    anything else or a non-positive side."""
    ints = (int, np.integer)
    if isinstance(size, bool):
        raise ValueError(f"{what} must be an int or (height, width), got {size!r}")
    if isinstance(size, ints):
        hw = (int(size), int(size))
    else:
        try:
            items = list(size)
        except TypeError:
            raise ValueError(f"{what} must be an int or (height, width), got {size!r}") from None
        if len(items) != 2 or not all(isinstance(v, ints) and not isinstance(v, bool) for v in items):
            raise ValueError(f"{what} must be an int or (height, width), got {size!r}")
        hw = (int(items[0]), int(items[1]))
    if min(hw) <= 0:
        raise ValueError(f"{what} must be positive, got {size!r}")
    return hw


def parse_wxh(text: str, what: str = "size") -> tuple[int, int]:
    """``"500x375"`` (width x height, px, ``x`` in either case) as ``(500, 375)``. Raises
    ``ValueError`` for other text or a non-positive side."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"{what} must look like 500x375 (width x height), got {text!r}") from None
    if w < 1 or h < 1:
        raise ValueError(f"{what} must be positive, got {text!r}")
    return w, h
