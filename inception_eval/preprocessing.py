"""The preprocessing a model expects, where each value came from, and sidecar files.

Fields that change the numbers: ``input_size`` (crop side, px), ``mean`` and ``std`` (RGB on the
[0, 1] scale), ``transform_input`` (torchvision GoogLeNet only) and ``class_names`` (index ->
name). Each is taken from the first of: a flag (``source="flag"``), the model file's own metadata
(``"file"``), a sidecar ``<model file>.json`` (``"sidecar"``), else a default (``"inferred"``: a
warning line names the assumption and the flag that sets it).

A sidecar is JSON ``{"format": "inception-toolkit/sidecar", "format_version": 1, "input_size": 224,
"mean": [...], "std": [...], "class_names": [...], "transform_input": false}``; every key but ``format``
is optional (``transform_input`` applies to torchvision GoogLeNet state_dicts only).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from inception_aug.errors import InputError, UsageError

__all__ = ["FIELDS", "SOURCES", "SIDECAR_FORMAT", "FLAGS", "Preprocessing", "parse_triple", "check_triple",
           "read_class_names", "sidecar_path", "read_sidecar", "write_sidecar", "pick", "warning_lines"]

#: The fields whose provenance is recorded, in report order.
FIELDS = ("input_size", "mean", "std", "transform_input", "class_names")
SOURCES = ("flag", "file", "sidecar", "inferred")
SIDECAR_FORMAT = "inception-toolkit/sidecar"
#: The command-line flag that sets each field.
FLAGS = {"input_size": "--input-size", "mean": "--mean", "std": "--std",
         "transform_input": "--transform-input / --no-transform-input", "class_names": "--class-names FILE"}


@dataclass(frozen=True)
class Preprocessing:
    """Values the caller states (None: not stated). ``class_names`` is a list of names (see
    :func:`read_class_names` for a file); ``num_classes`` and ``variant`` are checked against the
    model; ``weights`` and ``factory_kwargs`` feed a ``module:factory`` model."""

    input_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    transform_input: bool | None = None
    class_names: tuple[str, ...] | None = None
    num_classes: int | None = None
    variant: str | None = None
    weights: str | None = None
    factory_kwargs: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.input_size is not None and int(self.input_size) < 1:
            raise UsageError(f"--input-size must be a positive number of px, got {self.input_size}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_triple(value, f"--{name}", positive=name == "std"))
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(str(n) for n in self.class_names))
        if self.num_classes is not None and int(self.num_classes) < 1:
            raise UsageError(f"--num-classes must be >= 1, got {self.num_classes}")


def check_triple(values: Sequence[float], what: str, *, positive: bool = False,
                 error: type[ValueError] = UsageError) -> tuple[float, float, float]:
    """Three finite floats (RGB), all > 0 when ``positive``; ``error`` names ``what`` otherwise."""
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise error(f"{what} needs 3 numbers (R G B), got {values!r}") from None
    if len(out) != 3 or any(v != v or v in (float("inf"), float("-inf")) for v in out):
        raise error(f"{what} needs 3 finite numbers (R G B), got {len(out)}: {list(out)}")
    if positive and min(out) <= 0:
        raise error(f"{what} values must be > 0, got {list(out)}")
    return out  # type: ignore[return-value]


def parse_triple(tokens: Sequence[str] | str | None, what: str, *, positive: bool = False) -> tuple[float, ...] | None:
    """``"0.5 0.5 0.5"``, ``["0.5,0.5,0.5"]`` or three tokens -> three floats (None stays None)."""
    if tokens is None:
        return None
    text = " ".join([tokens] if isinstance(tokens, str) else tokens)
    parts = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    return check_triple(parts, what, positive=positive)


def read_class_names(path: str | os.PathLike) -> tuple[str, ...]:
    """One class name per line (blank lines and surrounding spaces ignored); UsageError when the
    file is missing or empty."""
    p = Path(path)
    try:
        names = tuple(ln.strip() for ln in p.read_text().splitlines() if ln.strip())
    except OSError as e:
        raise UsageError(f"--class-names {p}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise UsageError(f"--class-names {p}: not a text file (one class name per line)") from None
    if not names:
        raise UsageError(f"--class-names {p}: the file lists no names (one name per line)")
    return names


def sidecar_path(model_file: str | os.PathLike) -> Path:
    """``<model file>.json``."""
    return Path(os.fspath(model_file) + ".json")


def _check_sidecar(data: Any, path: Path) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise InputError(f"bad sidecar {path}: expected a JSON object with \"format\": \"{SIDECAR_FORMAT}\"; "
                         "fix it or rewrite it with inception-eval stamp --force")
    out: dict[str, Any] = {}
    try:
        if data.get("input_size") is not None:
            out["input_size"] = int(data["input_size"])
        for key in ("mean", "std"):
            if data.get(key) is not None:
                out[key] = check_triple(data[key], f"{key!r}", positive=key == "std", error=InputError)
        if data.get("class_names") is not None:
            out["class_names"] = tuple(str(n) for n in data["class_names"])
        if data.get("transform_input") is not None:
            if not isinstance(data["transform_input"], bool):
                raise ValueError("'transform_input' must be true or false")
            out["transform_input"] = data["transform_input"]
    except (TypeError, ValueError) as e:
        raise InputError(f"bad sidecar {path}: {e}; fix it or rewrite it with inception-eval stamp --force") from None
    return out


def read_sidecar(model_file: str | os.PathLike) -> dict[str, Any]:
    """The checked fields of ``<model file>.json`` ({} when there is none); InputError (exit 1)
    naming the sidecar for bad JSON or bad values."""
    path = sidecar_path(model_file)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"bad sidecar {path}: not valid JSON ({e}); fix it or delete it") from None
    return _check_sidecar(data, path)


def write_sidecar(model_file: str | os.PathLike, values: Mapping[str, Any]) -> Path:
    """Write ``values`` (input_size, mean, std, class_names) as ``<model file>.json``, atomically."""
    path = sidecar_path(model_file)
    data = {"format": SIDECAR_FORMAT, "format_version": 1}
    data.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items() if v is not None})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def pick(flag: Any, file_value: Any, sidecar: Mapping[str, Any], name: str, default: Any) -> tuple[Any, str]:
    """``(value, source)`` by the precedence flag > file > sidecar > inferred default (None: absent)."""
    if flag is not None:
        return flag, "flag"
    if file_value is not None:
        return file_value, "file"
    if sidecar.get(name) is not None:
        return sidecar[name], "sidecar"
    return default, "inferred"


def _assumed(name: str, value: Any) -> str:
    if name == "input_size":
        return f"{value} px"
    if name == "class_names":
        return "class index i is the data's i-th class (the data's own class order)"
    if name == "transform_input":
        return f"{value} (torchvision's released ImageNet weights need True)" if value else str(value)
    return str(list(value))


def warning_lines(provenance: Mapping[str, Mapping[str, Any]], source: str) -> list[str]:
    """One ``warning:`` line per field whose source is ``inferred``: what was assumed, and the flag."""
    out = []
    for name in FIELDS:
        entry = provenance.get(name)
        if entry is not None and entry.get("source") == "inferred":
            out.append(f"warning: {source}: {name} not stated; assuming {_assumed(name, entry.get('value'))} "
                       f"(set {FLAGS[name]}, or write it once with inception-eval stamp)")
    return out
