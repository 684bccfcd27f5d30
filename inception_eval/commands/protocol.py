"""``inception-eval protocol``: show the views of test protocols for an image size, or draw them.

Examples::

    inception-eval protocol --name paper144 --size 500x375            # table + counts
    inception-eval protocol --name center --name ten --name paper144 --size 500x500 --json
    inception-eval protocol --name paper144 --draw photo.jpg --out views.png
    inception-eval protocol --compare-interpolation ../shared/data/imagenet-samples
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from inception_eval.protocols import PROTOCOL_NAMES, Protocol, View, get_protocol, union_views

# One colour per crop position (RGB); the whole square is drawn as the square outline in cyan.
CROP_COLOURS = {
    "tl": (255, 64, 64),
    "tr": (64, 220, 64),
    "bl": (80, 140, 255),
    "br": (255, 220, 0),
    "center": (255, 64, 255),
    "whole": (0, 230, 230),
}


def register(subparsers) -> None:
    """Add the ``protocol`` sub-command."""
    p = subparsers.add_parser(
        "protocol",
        help="list or draw the views of a test protocol",
        description="List the views of one or more test protocols for an image size (table or JSON), "
        "with nominal and unique view counts, or draw them on a photo.",
    )
    p.add_argument(
        "--name", action="append", default=None, metavar="PROTOCOL",
        help=f"protocol name, repeatable: {', '.join(PROTOCOL_NAMES)} or custom:scales=256/288,squares=3,"
        "crops=tl/tr/bl/br/center/whole,mirror=1 (default paper144)",
    )
    p.add_argument("--size", help="image size WIDTHxHEIGHT in pixels, e.g. 500x375")
    p.add_argument(
        "--images", metavar="DIR",
        help="instead of --size: total nominal views and unique forward passes over the photos in DIR "
        "(sizes read from the file headers)",
    )
    p.add_argument("--crop-size", type=int, default=224, help="model input size in px (default 224)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--draw", metavar="IMAGE", help="draw the views of the first --name on this photo")
    p.add_argument("--out", metavar="PNG", help="where --draw writes its picture (default views.png)")
    p.add_argument("--panel-height", type=int, default=200, help="--draw: height of one panel in px")
    p.add_argument(
        "--compare-interpolation", metavar="DIR",
        help="measure OpenCV area/bilinear against PIL's antialiased bilinear when resizing the photos "
        "in DIR to shorter side --scale, and print the mean absolute differences",
    )
    p.add_argument("--scale", type=int, default=256, help="--compare-interpolation: shorter side in px")
    p.set_defaults(func=run)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"inception-eval protocol: --size must look like 500x375, got {text!r}") from None
    if w < 1 or h < 1:
        raise SystemExit(f"inception-eval protocol: --size must be positive, got {text!r}")
    return w, h


def _fmt_box(b) -> str:
    return "whole square" if b is None else f"{b[0]},{b[1]} {b[2]}x{b[3]}"


def run(args: argparse.Namespace) -> int:
    """Entry point of ``inception-eval protocol``; returns the exit status."""
    if args.compare_interpolation:
        return _compare_interpolation(Path(args.compare_interpolation), args.scale)
    names = args.name or ["paper144"]
    try:
        protos = [get_protocol(n, args.crop_size) for n in names]
    except ValueError as e:
        print(f"inception-eval protocol: {e}", file=sys.stderr)
        return 2
    if args.draw:
        return _draw(args, protos[0])
    if args.images:
        return _folder_cost(Path(args.images), protos, args.json)
    if not args.size:
        print("inception-eval protocol: --size WIDTHxHEIGHT is required (or --draw IMAGE)", file=sys.stderr)
        return 2
    w, h = _parse_size(args.size)
    unique, uses = union_views(protos, w, h)
    if args.json:
        doc = {
            "size": [w, h],
            "crop_size": args.crop_size,
            "protocols": {
                p.name: {
                    "signature": p.signature(),
                    "nominal_views": p.nominal_views,
                    "unique_views": len(uses[p.name]),
                    "views": [v.to_dict() for v in p.views(w, h)],
                }
                for p in protos
            },
            "union": {
                "nominal_views": sum(p.nominal_views for p in protos),
                "unique_views": len(unique),
                "uses": {k: [[i, n] for i, n in v] for k, v in uses.items()},
            },
        }
        print(json.dumps(doc, indent=1))
        return 0
    index = {v.pixel_key(): i for i, v in enumerate(unique)}
    for p in protos:
        views = p.views(w, h)
        print(f"{p.name} for {w}x{h} ({p.signature()})")
        print(f"{'#':>4} {'tag':<22} {'scale':>5} {'resized':>9} {'square':>18} {'crop':>18} {'mirror':>6} {'unique':>6}")
        for i, v in enumerate(views):
            print(
                f"{i:>4} {v.tag:<22} {v.scale:>5} {v.resized[0]:>4}x{v.resized[1]:<4} {_fmt_box(v.square):>18} "
                f"{_fmt_box(v.crop):>18} {'yes' if v.mirror else 'no':>6} {index[v.pixel_key()]:>6}"
            )
        print(f"{p.name}: {p.nominal_views} nominal views, {len(uses[p.name])} unique (forward passes)\n")
    if len(protos) > 1:
        print(
            f"union of {', '.join(p.name for p in protos)}: {sum(p.nominal_views for p in protos)} nominal views, "
            f"{len(unique)} unique forward passes"
        )
    return 0


# ----------------------------------------------------------------------------------------- draw
def _load_rgb(path: str) -> np.ndarray:
    try:
        from inception_aug.decode import decode_image

        return decode_image(path)
    except ImportError:  # pragma: no cover - decode.py is part of the package
        from PIL import Image, ImageOps

        return np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


def _crop_name(v: View) -> str:
    """Crop position from a tag: ``s256/left/tl/m`` -> tl, ``tv256/center_flip`` -> center."""
    parts = v.tag.split("/")
    if parts[-1] == "m":
        parts = parts[:-1]
    return parts[-1].replace("_flip", "")


def draw_views(img: np.ndarray, protocol: Protocol, panel_height: int = 200):
    """A PIL image: one panel per (scale, square) with that square's boxes, on a dimmed photo.

    Every panel shows the whole photo at the same display size, so larger scales show as smaller
    boxes. Mirrored views share their un-mirrored boxes (except torchvision's mirrored centre, which
    is drawn too); the title says how many views each panel stands for.
    """
    from PIL import Image, ImageDraw

    h, w = img.shape[:2]
    views = protocol.views(w, h)
    dw = max(1, round(panel_height * w / h))
    base = Image.fromarray(img).resize((dw, panel_height), Image.Resampling.LANCZOS)
    grey = Image.new("RGB", base.size, (40, 40, 40))
    base = Image.blend(base, grey, 0.45)  # dim the photo so the boxes stand out
    # Group views into panels: (scale, square) for paper style, scale for torchvision style.
    panels: dict[tuple, list[View]] = {}
    for v in views:
        key = (v.scale, v.square)
        panels.setdefault(key, []).append(v)
    scales = sorted({k[0] for k in panels})
    cols = max(sum(1 for k in panels if k[0] == s) for s in scales)
    title_h, pad = 16, 6
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def title(key: tuple, group: list[View]) -> str:
        square_name = group[0].tag.split("/")[1] if protocol.style == "paper" else "whole photo"
        return f"s{key[0]} {square_name}: {len(group)} views"

    # A slot is as wide as the panel or its title, whichever is wider (tall photos, narrow panels).
    slot = max([dw] + [int(probe.textlength(title(k, g))) + 4 for k, g in panels.items()])
    caption = f"{protocol.name} on {w}x{h}: {len(views)} views (mirrors share boxes)."
    names = [k for k in CROP_COLOURS if k in {_crop_name(v) for v in views}]
    legend_w = int(probe.textlength("Crops:")) + sum(24 + int(probe.textlength(k)) for k in names) + 2 * pad
    width = max(cols * (slot + pad) + pad, int(probe.textlength(caption)) + 2 * pad, legend_w)
    canvas = Image.new("RGB", (width, len(scales) * (panel_height + title_h + pad) + pad + 34), "white")
    draw = ImageDraw.Draw(canvas)
    for r, s in enumerate(scales):
        keys = [k for k in panels if k[0] == s]
        for c, key in enumerate(keys):
            group = panels[key]
            x0 = pad + c * (slot + pad)
            y0 = pad + r * (panel_height + title_h + pad) + title_h
            canvas.paste(base, (x0, y0))
            v0 = group[0]
            fx, fy = dw / v0.resized[0], panel_height / v0.resized[1]

            def rect(box, colour, width):
                bx, by, bw, bh = box
                draw.rectangle(
                    [x0 + bx * fx, y0 + by * fy, x0 + (bx + bw) * fx - 1, y0 + (by + bh) * fy - 1],
                    outline=colour, width=width,
                )

            if protocol.style == "paper":
                rect(v0.square, (255, 255, 255), 1)
            seen = set()
            for v in group:
                if v.box in seen:
                    continue
                seen.add(v.box)
                name = _crop_name(v)
                rect(v.box, CROP_COLOURS.get(name, (255, 255, 255)), 3 if name == "whole" else 2)
            draw.text((x0, y0 - title_h + 2), title(key, group), fill=(0, 0, 0))
    ly = canvas.size[1] - 32
    draw.text((pad, ly), caption, fill=(0, 0, 0))
    ly += 16
    draw.text((pad, ly), "Crops:", fill=(0, 0, 0))
    lx = pad + int(draw.textlength("Crops:")) + 8
    for k in names:
        draw.rectangle([lx, ly + 2, lx + 10, ly + 10], fill=CROP_COLOURS[k])
        draw.text((lx + 14, ly), k, fill=(0, 0, 0))
        lx += 24 + int(draw.textlength(k))
    return canvas


def _draw(args: argparse.Namespace, protocol: Protocol) -> int:
    try:
        img = _load_rgb(args.draw)
    except Exception as e:  # decode errors name the file already
        print(f"inception-eval protocol: {e}", file=sys.stderr)
        return 1
    canvas = draw_views(img, protocol, args.panel_height)
    out = Path(args.out or "views.png")
    # A 64-colour palette keeps the PNG small; the boxes use few, saturated colours.
    canvas.quantize(colors=64).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB, {protocol.name}, {len(protocol.views(img.shape[1], img.shape[0]))} views)")
    return 0


# ------------------------------------------------------------------------------- folder cost
def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp"))


def _folder_cost(folder: Path, protos: list[Protocol], as_json: bool) -> int:
    """Nominal views vs unique forward passes summed over a folder of photos (header sizes only)."""
    from inception_aug.decode import image_size

    from inception_eval.protocols import union_cost

    files = _image_files(folder)
    if not files:
        print(f"inception-eval protocol: no image files in {folder}", file=sys.stderr)
        return 1
    nominal = {p.name: 0 for p in protos}
    unique_own = {p.name: 0 for p in protos}
    unique, skipped = 0, []
    for f in files:
        try:
            w, h = image_size(f)
        except Exception as e:  # unreadable header: listed, not fatal
            skipped.append((str(f), str(e)))
            continue
        cost = union_cost(protos, w, h)
        unique += cost["unique"]
        for name, n in cost["nominal"].items():
            nominal[name] += n
            unique_own[name] += cost["unique_per_protocol"][name]
    n_ok = len(files) - len(skipped)
    doc = {"folder": str(folder), "images": n_ok, "skipped": skipped, "nominal_views": nominal,
           "unique_views_per_protocol": unique_own, "nominal_total": sum(nominal.values()), "unique_total": unique}
    if as_json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{n_ok} photos in {folder}" + (f" ({len(skipped)} unreadable skipped)" if skipped else ""))
    print("| protocol | nominal views | unique forward passes alone |")
    print("| --- | --- | --- |")
    for name in nominal:
        print(f"| {name} | {nominal[name]} | {unique_own[name]} |")
    print(f"| union (one pass) | {doc['nominal_total']} | {unique} |")
    return 0


# ------------------------------------------------------------------------ interpolation check
def _compare_interpolation(folder: Path, scale: int) -> int:
    """Mean |difference| (0..255) of OpenCV kernels vs PIL's antialiased bilinear, at shorter side ``scale``."""
    from PIL import Image

    from inception_aug.resize import resize
    from inception_eval.protocols import resized_size

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        print(f"inception-eval protocol: no .jpg/.jpeg/.png files in {folder}", file=sys.stderr)
        return 1
    from inception_eval.views import kernel_for

    kernels = ("area", "bilinear", "auto")
    rows = {k: {"down": [], "up": []} for k in kernels}
    for f in files:
        img = _load_rgb(str(f))
        size = resized_size(img.shape[1], img.shape[0], scale)
        ref = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR), dtype=np.float64)
        kind = "down" if min(img.shape[:2]) > scale else "up"
        for k in kernels:
            kernel = kernel_for((img.shape[1], img.shape[0]), size, k)
            rows[k][kind].append(np.abs(resize(img, size, kernel).astype(np.float64) - ref).mean())
    n_down, n_up = len(rows["area"]["down"]), len(rows["area"]["up"])
    print(f"mean |cv2 - PIL bilinear (antialiased)| in 0..255 levels, shorter side {scale}, {len(files)} photos in {folder}")
    print("| kernel | shrunk photos (n=%d) | enlarged photos (n=%d) |" % (n_down, n_up))
    print("| --- | --- | --- |")
    for k in kernels:
        d = f"{np.mean(rows[k]['down']):.2f}" if n_down else "-"
        u = f"{np.mean(rows[k]['up']):.2f}" if n_up else "-"
        print(f"| {k} | {d} | {u} |")
    return 0
