"""Pictures of a test protocol's views: every crop box drawn on the photo it is cut from.

:func:`draw_views` returns the figure as a PIL image; :func:`save_views_figure` decodes a photo,
draws it and writes a small PNG (what ``inception-eval protocol --draw`` does).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from inception_eval.protocols import Protocol, View

__all__ = ["CROP_COLOURS", "crop_name", "draw_views", "save_views_figure"]

#: One RGB colour per crop position; "whole" is the whole square resized to the crop size.
CROP_COLOURS: dict[str, tuple[int, int, int]] = {
    "tl": (255, 64, 64),
    "tr": (64, 220, 64),
    "bl": (80, 140, 255),
    "br": (255, 220, 0),
    "center": (255, 64, 255),
    "whole": (0, 230, 230),
}
_TITLE_H, _PAD = 16, 6  # px: panel title band and the gap around panels


def crop_name(view: View) -> str:
    """Crop position from a tag: ``s256/left/tl/m`` -> tl, ``tv256/center_flip`` -> center."""
    parts = view.tag.split("/")
    if parts[-1] == "m":
        parts = parts[:-1]
    return parts[-1].replace("_flip", "")


def _panels(views: tuple[View, ...]) -> dict[tuple, list[View]]:
    """Views grouped by (scale, square): one panel each."""
    panels: dict[tuple, list[View]] = {}
    for v in views:
        panels.setdefault((v.scale, v.square), []).append(v)
    return panels


def _panel_title(protocol: Protocol, key: tuple, group: list[View]) -> str:
    square_name = group[0].tag.split("/")[1] if protocol.style == "paper" else "whole photo"
    return f"s{key[0]} {square_name}: {len(group)} views"


def _draw_panel(draw, protocol: Protocol, group: list[View], x0: int, y0: int, dw: int, panel_height: int) -> None:
    """The boxes of one panel (the photo is already pasted at (x0, y0), ``dw`` x ``panel_height``)."""
    v0 = group[0]
    fx, fy = dw / v0.resized[0], panel_height / v0.resized[1]

    def rect(box, colour, width):
        bx, by, bw, bh = box
        draw.rectangle([x0 + bx * fx, y0 + by * fy, x0 + (bx + bw) * fx - 1, y0 + (by + bh) * fy - 1],
                       outline=colour, width=width)

    if protocol.style == "paper":
        rect(v0.square, (255, 255, 255), 1)
    seen = set()
    for v in group:  # mirrored views share their un-mirrored box
        if v.box in seen:
            continue
        seen.add(v.box)
        name = crop_name(v)
        rect(v.box, CROP_COLOURS.get(name, (255, 255, 255)), 3 if name == "whole" else 2)


def _draw_legend(canvas, draw, caption: str, names: list[str]) -> None:
    ly = canvas.size[1] - 32
    draw.text((_PAD, ly), caption, fill=(0, 0, 0))
    ly += 16
    draw.text((_PAD, ly), "Crops:", fill=(0, 0, 0))
    lx = _PAD + int(draw.textlength("Crops:")) + 8
    for k in names:
        draw.rectangle([lx, ly + 2, lx + 10, ly + 10], fill=CROP_COLOURS[k])
        draw.text((lx + 14, ly), k, fill=(0, 0, 0))
        lx += 24 + int(draw.textlength(k))


def draw_views(img: np.ndarray, protocol: Protocol, panel_height: int = 200):
    """A PIL image: one panel per (scale, square) with that square's boxes, on a dimmed photo.

    ``img`` is an (H, W, 3) uint8 RGB photo; ``panel_height`` the height of one panel in px. Every
    panel shows the whole photo at the same display size, so larger scales show as smaller boxes.
    Mirrored views share their un-mirrored boxes (except torchvision's mirrored centre, which is
    drawn too); the title says how many views each panel stands for.
    """
    from PIL import Image, ImageDraw

    h, w = img.shape[:2]
    views = protocol.views(w, h)
    dw = max(1, round(panel_height * w / h))
    base = Image.fromarray(img).resize((dw, panel_height), Image.Resampling.LANCZOS)
    base = Image.blend(base, Image.new("RGB", base.size, (40, 40, 40)), 0.45)  # dim: boxes stand out
    panels = _panels(views)
    scales = sorted({k[0] for k in panels})
    cols = max(sum(1 for k in panels if k[0] == s) for s in scales)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    # A slot is as wide as the panel or its title, whichever is wider (tall photos, narrow panels).
    slot = max([dw] + [int(probe.textlength(_panel_title(protocol, k, g))) + 4 for k, g in panels.items()])
    caption = f"{protocol.name} on {w}x{h}: {len(views)} views (mirrors share boxes)."
    names = [k for k in CROP_COLOURS if k in {crop_name(v) for v in views}]
    legend_w = int(probe.textlength("Crops:")) + sum(24 + int(probe.textlength(k)) for k in names) + 2 * _PAD
    width = max(cols * (slot + _PAD) + _PAD, int(probe.textlength(caption)) + 2 * _PAD, legend_w)
    canvas = Image.new("RGB", (width, len(scales) * (panel_height + _TITLE_H + _PAD) + _PAD + 34), "white")
    draw = ImageDraw.Draw(canvas)
    for r, s in enumerate(scales):
        for c, key in enumerate(k for k in panels if k[0] == s):
            x0 = _PAD + c * (slot + _PAD)
            y0 = _PAD + r * (panel_height + _TITLE_H + _PAD) + _TITLE_H
            canvas.paste(base, (x0, y0))
            _draw_panel(draw, protocol, panels[key], x0, y0, dw, panel_height)
            draw.text((x0, y0 - _TITLE_H + 2), _panel_title(protocol, key, panels[key]), fill=(0, 0, 0))
    _draw_legend(canvas, draw, caption, names)
    return canvas


def save_views_figure(image: str | os.PathLike, protocol: Protocol, out: str | os.PathLike = "views.png",
                      panel_height: int = 200) -> tuple[Path, int]:
    """Decode ``image``, draw its views (:func:`draw_views`) and write the PNG ``out``.

    Returns (the PNG's path, the number of views drawn). A 64-colour palette keeps the PNG small:
    the boxes use few, saturated colours. Raises ``ImageDecodeError`` for an unreadable photo.
    """
    from inception_aug.decode import decode_image

    img = decode_image(image)
    canvas = draw_views(img, protocol, panel_height)
    out = Path(out)
    canvas.quantize(colors=64).save(out, optimize=True)
    return out, len(protocol.views(img.shape[1], img.shape[0]))
