"""Text and JSON listings of test protocols: the views for one image size, and the cost over a folder.

:func:`views_report` lists every view of each protocol for a ``width x height`` photo (table or
JSON) with nominal and unique view counts; :func:`folder_cost` / :func:`folder_cost_report` sum
nominal views and unique forward passes over the photos of a folder, reading only file headers.
These are what ``inception-eval protocol`` prints.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from inception_aug.errors import InputError
from inception_eval.protocols import Protocol, union_cost, union_views

__all__ = ["IMAGE_SUFFIXES", "views_document", "views_report", "folder_cost", "folder_cost_report"]

#: File name endings counted as photos by :func:`folder_cost`.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def views_document(protos: Sequence[Protocol], width: int, height: int, crop_size: int) -> dict[str, Any]:
    """Every view of each protocol for a ``width`` x ``height`` px photo, plus the union's counts."""
    unique, uses = union_views(protos, width, height)
    return {
        "size": [width, height],
        "crop_size": crop_size,
        "protocols": {
            p.name: {"signature": p.signature(), "nominal_views": p.nominal_views,
                     "unique_views": len(uses[p.name]), "views": [v.to_dict() for v in p.views(width, height)]}
            for p in protos
        },
        "union": {"nominal_views": sum(p.nominal_views for p in protos), "unique_views": len(unique),
                  "uses": {k: [[i, n] for i, n in v] for k, v in uses.items()}},
    }


def _fmt_box(b) -> str:
    return "whole square" if b is None else f"{b[0]},{b[1]} {b[2]}x{b[3]}"


def views_report(protos: Sequence[Protocol], width: int, height: int, crop_size: int = 224,
                 as_json: bool = False) -> str:
    """:func:`views_document` as JSON, or one table per protocol (view, scale, resized size, square,
    crop, mirror, index of its unique forward pass) with the counts."""
    if as_json:
        return json.dumps(views_document(protos, width, height, crop_size), indent=1)
    unique, uses = union_views(protos, width, height)
    index = {v.pixel_key(): i for i, v in enumerate(unique)}
    lines = []
    for p in protos:
        lines.append(f"{p.name} for {width}x{height} ({p.signature()})")
        lines.append(f"{'#':>4} {'tag':<22} {'scale':>5} {'resized':>9} {'square':>18} {'crop':>18} "
                     f"{'mirror':>6} {'unique':>6}")
        for i, v in enumerate(p.views(width, height)):
            lines.append(f"{i:>4} {v.tag:<22} {v.scale:>5} {v.resized[0]:>4}x{v.resized[1]:<4} "
                         f"{_fmt_box(v.square):>18} {_fmt_box(v.crop):>18} {'yes' if v.mirror else 'no':>6} "
                         f"{index[v.pixel_key()]:>6}")
        lines.append(f"{p.name}: {p.nominal_views} nominal views, {len(uses[p.name])} unique (forward passes)\n")
    if len(protos) > 1:
        lines.append(f"union of {', '.join(p.name for p in protos)}: {sum(p.nominal_views for p in protos)} "
                     f"nominal views, {len(unique)} unique forward passes")
    return "\n".join(lines)


def folder_cost(folder: str | os.PathLike, protos: Sequence[Protocol]) -> dict[str, Any]:
    """Nominal views and unique forward passes summed over the photos under ``folder`` (header
    sizes only; unreadable headers are listed under ``skipped``, not fatal). Raises InputError
    when the folder holds no image file."""
    from inception_aug.decode import image_size

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no image files in {folder}")
    nominal = {p.name: 0 for p in protos}
    unique_own = {p.name: 0 for p in protos}
    unique, skipped = 0, []
    for f in files:
        try:
            w, h = image_size(f)
        except Exception as e:  # any unreadable header: listed, the others still count
            skipped.append((str(f), str(e)))
            continue
        cost = union_cost(protos, w, h)
        unique += cost["unique"]
        for name, n in cost["nominal"].items():
            nominal[name] += n
            unique_own[name] += cost["unique_per_protocol"][name]
    return {"folder": str(folder), "images": len(files) - len(skipped), "skipped": skipped,
            "nominal_views": nominal, "unique_views_per_protocol": unique_own,
            "nominal_total": sum(nominal.values()), "unique_total": unique}


def folder_cost_report(folder: str | os.PathLike, protos: Sequence[Protocol], as_json: bool = False) -> str:
    """:func:`folder_cost` as JSON or as a Markdown table (per protocol alone, then their union)."""
    doc = folder_cost(folder, protos)
    if as_json:
        return json.dumps(doc, indent=1)
    skipped = f" ({len(doc['skipped'])} unreadable skipped)" if doc["skipped"] else ""
    lines = [f"{doc['images']} photos in {doc['folder']}{skipped}",
             "| protocol | nominal views | unique forward passes alone |", "| --- | --- | --- |"]
    for name, n in doc["nominal_views"].items():
        lines.append(f"| {name} | {n} | {doc['unique_views_per_protocol'][name]} |")
    lines.append(f"| union (one pass) | {doc['nominal_total']} | {doc['unique_total']} |")
    return "\n".join(lines)
