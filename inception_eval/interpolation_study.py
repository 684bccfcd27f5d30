"""How far OpenCV's resize kernels are from PIL's antialiased bilinear on real photos.

:func:`compare_interpolation` resizes every photo of a folder to a shorter side (the first step of
the test protocols) with the ``area``, ``bilinear`` and ``auto`` kernels and measures the mean
absolute difference, in 0..255 levels, to PIL's ``BILINEAR`` (which antialiases when shrinking),
separately for photos that shrink and photos that grow. :func:`interpolation_report` is the same as
a Markdown table (what ``inception-eval protocol --compare-interpolation`` prints).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from inception_aug.errors import InputError

__all__ = ["KERNELS", "compare_interpolation", "interpolation_report"]

#: The kernels compared (names of ``inception_eval.views.kernel_for``).
KERNELS: tuple[str, ...] = ("area", "bilinear", "auto")


def _photos(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise InputError(f"no .jpg/.jpeg/.png files in {folder}")
    return files


def compare_interpolation(folder: str | os.PathLike, scale: int = 256) -> dict[str, dict[str, list[float]]]:
    """kernel -> {"down": [...], "up": [...]}: per photo in ``folder`` (shrunk or enlarged to
    shorter side ``scale`` px), the mean |kernel - PIL antialiased bilinear| in 0..255 levels.
    Raises InputError when the folder has no .jpg/.jpeg/.png file."""
    from PIL import Image

    from inception_aug.decode import decode_image
    from inception_aug.resize import resize
    from inception_eval.protocols import resized_size
    from inception_eval.views import kernel_for

    rows: dict[str, dict[str, list[float]]] = {k: {"down": [], "up": []} for k in KERNELS}
    for f in _photos(Path(folder)):
        img = decode_image(f)
        size = resized_size(img.shape[1], img.shape[0], scale)
        ref = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR), dtype=np.float64)
        kind = "down" if min(img.shape[:2]) > scale else "up"
        for k in KERNELS:
            kernel = kernel_for((img.shape[1], img.shape[0]), size, k)
            rows[k][kind].append(float(np.abs(resize(img, size, kernel).astype(np.float64) - ref).mean()))
    return rows


def interpolation_report(folder: str | os.PathLike, scale: int = 256) -> str:
    """:func:`compare_interpolation` as a Markdown table of means over the shrunk / enlarged photos."""
    rows = compare_interpolation(folder, scale)
    n_down, n_up = len(rows["area"]["down"]), len(rows["area"]["up"])
    lines = [f"mean |cv2 - PIL bilinear (antialiased)| in 0..255 levels, shorter side {scale}, "
             f"{n_down + n_up} photos in {folder}",
             f"| kernel | shrunk photos (n={n_down}) | enlarged photos (n={n_up}) |", "| --- | --- | --- |"]
    for k in KERNELS:
        d = f"{np.mean(rows[k]['down']):.2f}" if n_down else "-"
        u = f"{np.mean(rows[k]['up']):.2f}" if n_up else "-"
        lines.append(f"| {k} | {d} | {u} |")
    return "\n".join(lines)
