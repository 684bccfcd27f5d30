"""``inception-aug`` command line: see what training sees.

- ``inception-aug preview IMAGE --n 16 --preset paper --out grid.png [--seed 0]``: a grid of
  augmented samples of one image, each captioned with its crop area (fraction of the image), aspect
  ratio (w/h), interpolation and flip; the first panel is the input with every crop box drawn.
  The draws are printed as JSON lines (``--quiet`` to skip).
- ``inception-aug hist --sampler paper --size 500x375 --n 100000 --out hist.png [--compare]``:
  histograms of the sampled crop area and log aspect ratio for one sampler (or all three with
  ``--compare``), with summary statistics printed as JSON. Needs matplotlib (``[plot]`` extra).
- ``inception-aug speed [--quick]``: per-image time of each photometric preset on 224x224 uint8
  crops of the shared photos (one thread), printed as JSON and a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

SAMPLER_NAMES = ("paper", "torchvision", "tf-slim")


# ----------------------------------------------------------------------------------------------
# preview
# ----------------------------------------------------------------------------------------------

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
        info["photometric"] = params.photometric.as_dict()
    return info


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable default font (Pillow >= 10.1 with FreeType)
    except TypeError:  # older Pillow: fixed bitmap font
        return ImageFont.load_default()


def render_preview(image, *, n: int = 16, preset: str = "paper", seed: Optional[int] = None, size: int = 224,
                   cols: Optional[int] = None, show_input: bool = True, sampler: Optional[str] = None,
                   photometric: Optional[str] = None):
    """Build the preview grid. Returns (PIL image, list of per-sample draw dicts).

    ``image``: anything ``InceptionTrainTransform`` accepts (path, bytes, array, PIL image).
    ``size``: side of each augmented tile in pixels."""
    from PIL import Image, ImageDraw

    from inception_aug.transforms import InceptionTrainTransform, input_size, load_input

    overrides = {"size": size, "output": "numpy"}
    if sampler:
        overrides["sampler"] = sampler
    if photometric:
        overrides["photometric"] = photometric
    t = InceptionTrainTransform.from_preset(preset, **overrides)
    src = load_input(image)
    width, height = input_size(src)
    rng = np.random.default_rng(seed)
    draws = [t.sample(width, height, rng) for _ in range(n)]
    tiles = [t.apply(src, p) for p in draws]

    panels: list[tuple[np.ndarray, list[str]]] = []
    if show_input:
        full = _full_image(src)
        panels.append((_input_panel(full, draws, size), [f"input {width}x{height}", f"{preset}: {n} crops"]))
    panels += [(tile, _caption(p, width, height)) for tile, p in zip(tiles, draws)]

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
    return grid, [_draw_info(p, width, height) for p in draws]


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


def cmd_preview(args: argparse.Namespace) -> int:
    from inception_aug.decode import ImageDecodeError

    try:
        grid, draws = render_preview(args.image, n=args.n, preset=args.preset, seed=args.seed, size=args.size,
                                     cols=args.cols, show_input=not args.no_input, sampler=args.sampler,
                                     photometric=args.photometric)
    except ImageDecodeError as e:
        print(f"inception-aug preview: error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"inception-aug preview: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.colors:  # palette PNG: about 3x smaller, for committing previews
        grid = grid.quantize(colors=min(256, max(2, args.colors)))
    grid.save(out, optimize=True)
    if not args.quiet:
        for d in draws:
            print(json.dumps(d))
    print(f"wrote {out} ({grid.width}x{grid.height}, {len(draws)} samples)", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------------------------
# hist
# ----------------------------------------------------------------------------------------------

def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 500x375 (width x height), got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return w, h


def sample_stats(sampler: str, width: int, height: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` crops from ``sampler``: (area fractions, aspect ratios w/h) as float arrays."""
    from inception_aug.sampling import sample_crop

    rng = np.random.default_rng(seed)
    area = np.empty(n)
    ratio = np.empty(n)
    for i in range(n):
        b = sample_crop(width, height, rng, method=sampler)
        area[i] = b.w * b.h / (width * height)
        ratio[i] = b.w / b.h
    return area, ratio


def summarize(area: np.ndarray, ratio: np.ndarray) -> dict:
    return {"n": int(area.size), "area_mean": round(float(area.mean()), 4),
            "area_min": round(float(area.min()), 4), "area_max": round(float(area.max()), 4),
            "area_gt_0.9": round(float((area > 0.9).mean()), 4),
            "ratio_min": round(float(ratio.min()), 4), "ratio_max": round(float(ratio.max()), 4),
            "ratio_out_of_[3/4,4/3]": round(float(((ratio < 0.75 - 1e-9) | (ratio > 4 / 3 + 1e-9)).mean()), 4)}


def cmd_hist(args: argparse.Namespace) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("inception-aug hist: error: matplotlib is needed for plots; install it with "
              "pip install 'inception-toolkit[plot]' (or pip install matplotlib)", file=sys.stderr)
        return 2
    width, height = args.size
    samplers = SAMPLER_NAMES if args.compare else (args.sampler,)
    results = {}
    for s in samplers:
        area, ratio = sample_stats(s, width, height, args.n, args.seed)
        results[s] = (area, ratio)
        print(json.dumps({"sampler": s, "size": f"{width}x{height}", **summarize(area, ratio)}))
    fig, (ax_a, ax_r) = plt.subplots(1, 2, figsize=(10, 3.6))
    bins_a = np.linspace(0, 1, 51)
    bins_r = np.linspace(math.log(0.5), math.log(2.0), 61)
    for s, (area, ratio) in results.items():
        ax_a.hist(area, bins=bins_a, density=True, histtype="step", linewidth=1.5, label=s)
        ax_r.hist(np.log(ratio), bins=bins_r, density=True, histtype="step", linewidth=1.5, label=s)
    ax_a.set_xlabel("crop area / image area")
    ax_a.set_ylabel("density")
    ax_r.set_xlabel("aspect ratio w/h (log scale)")
    ticks = [0.5, 0.75, 1.0, 4 / 3, 2.0]
    ax_r.set_xticks([math.log(t) for t in ticks], ["1/2", "3/4", "1", "4/3", "2"])
    for ax in (ax_a, ax_r):
        ax.legend(fontsize=8)
    fig.suptitle(f"crop samplers on a {width}x{height} image, {args.n} draws each")
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=args.dpi)
    plt.close(fig)
    print(f"wrote {out}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------------------------
# speed
# ----------------------------------------------------------------------------------------------

def cmd_speed(args: argparse.Namespace) -> int:
    import cv2

    from inception_aug.color import apply_photometric, sample_photometric
    from inception_aug.decode import decode_image

    cv2.setNumThreads(0)
    folder = Path(args.data)
    files = sorted(folder.glob("*.JPEG"))[: (8 if args.quick else 32)]
    if not files:
        print(f"inception-aug speed: error: no *.JPEG files in {folder}", file=sys.stderr)
        return 1
    crops = [cv2.resize(decode_image(f), (args.size, args.size), interpolation=cv2.INTER_AREA) for f in files]
    cases = [("howard", {}), ("colorjitter", {}), ("colorjitter", {"hue": 0.1}), ("tf-slim", {"fast_mode": True}),
             ("tf-slim", {})]
    repeats = 3 if args.quick else 7
    per = 100 if args.quick else 400
    rng = np.random.default_rng(0)
    rows = []
    for preset, opts in cases:
        draws = [sample_photometric(preset, rng, **opts) for _ in range(per)]
        for p, im in zip(draws[:10], crops * 10):
            apply_photometric(im, p)  # warm-up
        wall, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            for i, p in enumerate(draws):
                apply_photometric(crops[i % len(crops)], p)
            wall.append((time.perf_counter() - t0) / per)
            cpu.append((time.process_time() - c0) / per)
        name = preset + ("" if not opts else " " + ",".join(f"{k}={v}" for k, v in opts.items()))
        # CPU time is reported next to wall time: on a shared machine it is the steadier number
        rows.append({"preset": name, "wall_ms": round(1e3 * float(np.median(wall)), 4),
                     "cpu_ms": round(1e3 * float(np.median(cpu)), 4)})
    if args.batch:
        rows += _batch_speed(crops, args, repeats)
    print(json.dumps({"size": args.size, "images": len(crops), "repeats": repeats, "per_repeat": per,
                      "results": rows}))
    print(f"\n| preset ({args.size}x{args.size} uint8, 1 thread) | wall ms / image | CPU ms / image |\n|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['wall_ms']:.3f} | {r['cpu_ms']:.3f} |")
    return 0


def _batch_speed(crops: list, args: argparse.Namespace, repeats: int) -> list[dict]:
    """Per-image time of ``batch.apply_photometric_batch`` on a (B, 3, S, S) uint8 tensor."""
    import torch

    from inception_aug.batch import apply_photometric_batch, sample_batch_photometric

    torch.set_num_threads(1)
    device = torch.device(args.device)
    b = int(args.batch)
    x = torch.from_numpy(np.stack([crops[i % len(crops)] for i in range(b)])).permute(0, 3, 1, 2).contiguous()
    x = x.to(device)
    g = torch.Generator(device=device).manual_seed(0)
    rows = []
    for preset, opts in (("howard", {}), ("tf-slim", {})):
        params = sample_batch_photometric(preset, b, g, device=device, **opts)
        apply_photometric_batch(x, params)  # warm-up
        wall, cpu = [], []
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            apply_photometric_batch(x, params)
            if device.type == "cuda":
                torch.cuda.synchronize()
            wall.append((time.perf_counter() - t0) / b)
            cpu.append((time.process_time() - c0) / b)
        rows.append({"preset": f"{preset} batch={b} {device.type}", "wall_ms": round(1e3 * float(np.median(wall)), 4),
                     "cpu_ms": round(1e3 * float(np.median(cpu)), 4)})
    return rows


# ----------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inception-aug", description="Look at the Inception training augmentation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("preview", help="grid of augmented samples of one image, captioned")
    p.add_argument("image", help="image file (any format PIL reads; JPEG EXIF orientation honoured)")
    p.add_argument("--n", type=int, default=16, help="number of samples (default 16)")
    p.add_argument("--preset", default="paper", help="paper, torchvision or tf-slim (default paper)")
    p.add_argument("--sampler", default=None, help="override the preset's crop sampler")
    p.add_argument("--photometric", default=None, help="override the photometric preset (howard, tf-slim, "
                                                        "colorjitter, none)")
    p.add_argument("--out", default="grid.png", help="output PNG (default grid.png)")
    p.add_argument("--seed", type=int, default=None, help="seed for the draws (default: fresh entropy)")
    p.add_argument("--size", type=int, default=224, help="tile side in pixels (default 224)")
    p.add_argument("--cols", type=int, default=None, help="grid columns (default: square-ish)")
    p.add_argument("--no-input", action="store_true", help="leave out the first panel (input with crop boxes)")
    p.add_argument("--colors", type=int, default=0, help="quantise the PNG to this many colours (smaller file)")
    p.add_argument("--quiet", action="store_true", help="do not print the draws as JSON lines")
    p.set_defaults(func=cmd_preview)

    h = sub.add_parser("hist", help="histograms of sampled crop area and aspect ratio")
    h.add_argument("--sampler", default="paper", choices=SAMPLER_NAMES)
    h.add_argument("--compare", action="store_true", help="plot all three samplers in one figure")
    h.add_argument("--size", type=_parse_size, default=(500, 375), help="image WIDTHxHEIGHT (default 500x375)")
    h.add_argument("--n", type=int, default=100000, help="draws per sampler (default 100000)")
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--dpi", type=int, default=100)
    h.add_argument("--out", default="hist.png")
    h.set_defaults(func=cmd_hist)

    s = sub.add_parser("speed", help="time the photometric presets on 224x224 crops (one thread)")
    s.add_argument("--data", default="../shared/data/imagenet-samples", help="folder of *.JPEG photos")
    s.add_argument("--size", type=int, default=224)
    s.add_argument("--quick", action="store_true", help="fewer images and repeats")
    s.add_argument("--batch", type=int, default=0, help="also time inception_aug.batch on a batch of this size")
    s.add_argument("--device", default="cpu", help="device for --batch (cpu, cuda, ...)")
    s.set_defaults(func=cmd_speed)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "n", 1) < 1:
        parser.error("--n must be >= 1")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
