"""``inception-aug`` command line: see what training sees. Argument parsing only; each command
calls one library function.

- ``inception-aug preview IMAGE --n 16 --preset paper --out grid.png [--seed 0]``: a grid of
  augmented samples of one image (:func:`inception_aug.preview.write_preview`). The draws are
  printed as JSON lines (``--quiet`` to skip).
- ``inception-aug hist --sampler paper --size 500x375 --n 100000 --out hist.png [--compare]``:
  histograms of the sampled crop area and log aspect ratio for one sampler (or all three with
  ``--compare``), summary statistics printed as JSON
  (:func:`inception_aug.sampler_plot.plot_sampler_histograms`). Needs matplotlib (``[plot]`` extra).

The per-preset speed table is a benchmark: ``python benchmarks/aug_throughput.py --presets``.
Exit codes follow :mod:`inception_aug.errors` (2 usage, 1 data, 130 interrupted).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from inception_aug.errors import EXIT_USAGE, run_command
from inception_aug.plain import parse_wxh
from inception_aug.sampling import SAMPLERS

__all__ = ["build_parser", "main"]


def cmd_preview(args: argparse.Namespace) -> int:
    from inception_aug.preview import write_preview

    draws, (w, h) = write_preview(args.image, args.out, colors=args.colors, n=args.n, preset=args.preset,
                                  seed=args.seed, size=args.size, cols=args.cols, show_input=not args.no_input,
                                  sampler=args.sampler, photometric=args.photometric)
    if not args.quiet:
        for d in draws:
            print(json.dumps(d))
    print(f"wrote {args.out} ({w}x{h}, {len(draws)} samples)", file=sys.stderr)
    return 0


def cmd_hist(args: argparse.Namespace) -> int:
    from inception_aug.sampler_plot import plot_sampler_histograms

    width, height = args.size
    rows = plot_sampler_histograms(SAMPLERS if args.compare else (args.sampler,), width, height, args.n, args.out,
                                   seed=args.seed, dpi=args.dpi)
    for row in rows:
        print(json.dumps(row))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` -> (width, height) in pixels (the image size of ``hist``)."""
    try:
        return parse_wxh(text, "size")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    """The ``inception-aug`` parser with its ``preview`` and ``hist`` subcommands."""
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
    h.add_argument("--sampler", default="paper", choices=SAMPLERS)
    h.add_argument("--compare", action="store_true", help="plot all three samplers in one figure")
    h.add_argument("--size", type=_parse_size, default=(500, 375), help="image WIDTHxHEIGHT (default 500x375)")
    h.add_argument("--n", type=int, default=100000, help="draws per sampler (default 100000)")
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--dpi", type=int, default=100)
    h.add_argument("--out", default="hist.png")
    h.set_defaults(func=cmd_hist)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    if getattr(args, "n", 1) < 1:
        parser.error("--n must be >= 1")
    return run_command(f"inception-aug {args.command}", args.func, args)


if __name__ == "__main__":
    sys.exit(main())
