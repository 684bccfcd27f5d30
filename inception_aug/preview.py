"""Preview grids: what training sees for one image (library side of ``inception-aug preview``).

:func:`render_preview` draws ``n`` augmented samples of one image and captions each with its crop
area (fraction of the image), aspect ratio (w/h), interpolation and flip; the first panel is the
input with every crop box drawn. :func:`write_preview` renders and saves the PNG.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from inception_aug.errors import UsageError

__all__ = ["render_preview", "write_preview"]


def _caption(params, width: int, height: int) -> list[str]:
    box = params.crop
    line1 = f"area {box.area_fraction(width, height):.2f}  ratio {box.ratio:.2f}"
    line2 = f"{params.interpolation}{'  flip' if params.flip else ''}"
    return [line1, line2]


def _draw_info(params, width: int, height: int) -> dict:
    box = params.crop
    info = {"crop": [box.x, box.y, box.w, box.h], "area": round(box.area_fraction(width, height), 4),
            "ratio": round(box.ratio, 4), "interpolation": params.interpolation, "flip": bool(params.flip)}
    if params.photometric is not None:
        info["photometric"] = params.photometric.to_dict()
    return info


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable default font (Pillow >= 10.1 with FreeType)
    except TypeError:  # older Pillow: fixed bitmap font
        return ImageFont.load_default()


def render_preview(image: Any, *, n: int = 16, preset: str = "paper", seed: Optional[int] = None, size: int = 224,
                   cols: Optional[int] = None, show_input: bool = True, sampler: Optional[str] = None,
                   photometric: Optional[str] = None):
    """Build the preview grid. Returns (PIL image, list of per-sample draw dicts).

    ``image``: anything ``InceptionTrainTransform`` accepts (path, bytes, array, PIL image).
    ``n``: samples (>= 1). ``size``: side of each augmented tile in pixels (>= 1). ``cols``: grid
    columns (default: square-ish). ``sampler`` / ``photometric`` override the preset's. Bad
    settings raise ``UsageError``; unreadable images ``ImageDecodeError``."""
    from inception_aug.convert import input_size, load_input
    from inception_aug.transforms import InceptionTrainTransform

    if n < 1 or size < 1 or (cols is not None and cols < 1):
        raise UsageError(f"n, size and cols must be >= 1, got n={n}, size={size}, cols={cols}")
    overrides: dict[str, Any] = {"size": size, "output": "numpy"}
    if sampler:
        overrides["sampler"] = sampler
    if photometric:
        overrides["photometric"] = photometric
    t = InceptionTrainTransform.from_preset(preset, **overrides)
    src = load_input(image)
    width, height = input_size(src)
    rng = np.random.default_rng(seed)
    draws = [t.sample(width, height, rng) for _ in range(n)]
    panels: list[tuple[np.ndarray, list[str]]] = []
    if show_input:
        full = _full_image(src)
        panels.append((_input_panel(full, draws, size), [f"input {width}x{height}", f"{preset}: {n} crops"]))
    panels += [(t.apply(src, p), _caption(p, width, height)) for p in draws]
    return _grid(panels, size, cols), [_draw_info(p, width, height) for p in draws]


def _grid(panels: list, size: int, cols: Optional[int]):
    """Tiles of ``size`` px (centred) with their caption lines underneath, on white."""
    from PIL import Image, ImageDraw

    cols = cols or int(math.ceil(math.sqrt(len(panels))))
    rows = int(math.ceil(len(panels) / cols))
    font_px = max(10, size // 14)
    cap_h = 2 * font_px + 8
    pad = 4
    grid = Image.new("RGB", (cols * (size + pad) + pad, rows * (size + cap_h + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    font = _font(font_px)
    for k, (pix, lines) in enumerate(panels):
        r, c = divmod(k, cols)
        x0, y0 = pad + c * (size + pad), pad + r * (size + cap_h + pad)
        grid.paste(Image.fromarray(pix), (x0 + (size - pix.shape[1]) // 2, y0 + (size - pix.shape[0]) // 2))
        for j, line in enumerate(lines):
            draw.text((x0 + 2, y0 + size + 2 + j * (font_px + 2)), line, fill=(0, 0, 0), font=font)
    return grid


def _full_image(src) -> np.ndarray:
    """The decoded, EXIF-oriented input as (H, W, 3) uint8 (``src`` from ``transforms.load_input``)."""
    from inception_aug.decode import decode_image

    if isinstance(src, np.ndarray):
        return src
    return decode_image(src.name, data=src.data, header=src.header)


def _input_panel(full: np.ndarray, draws, size: int) -> np.ndarray:
    """The input scaled to fit ``size`` x ``size`` with every crop box outlined."""
    import cv2

    h, w = full.shape[:2]
    s = size / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    panel = cv2.resize(full, (nw, nh), interpolation=cv2.INTER_AREA).copy()
    colours = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
               (70, 240, 240), (240, 50, 230)]
    for k, p in enumerate(draws):
        b = p.crop
        cv2.rectangle(panel, (int(b.x * s), int(b.y * s)), (int((b.x + b.w) * s) - 1, int((b.y + b.h) * s) - 1),
                      colours[k % len(colours)], 1)
    return panel


def write_preview(image: Any, out: Union[str, Path], *, colors: int = 0, **options: Any) -> tuple[list[dict], tuple[int, int]]:
    """Render (``options`` as :func:`render_preview`) and save the grid as a PNG at ``out`` (parent
    folders created). ``colors`` > 0 quantises to that many colours (2..256; a palette PNG about 3x
    smaller, for committing previews). Returns (the draw dicts, the grid's (width, height))."""
    grid, draws = render_preview(image, **options)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if colors:
        grid = grid.quantize(colors=min(256, max(2, colors)))
    grid.save(out, optimize=True)
    return draws, (grid.width, grid.height)
