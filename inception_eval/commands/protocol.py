"""``inception-eval protocol``: show the views of test protocols for an image size, or draw them.

Examples::

    inception-eval protocol --name paper144 --size 500x375            # table + counts
    inception-eval protocol --name center --name ten --name paper144 --size 500x500 --json
    inception-eval protocol --name paper144 --draw photo.jpg --out views.png
    inception-eval protocol --compare-interpolation ../shared/data/imagenet-samples
"""
from __future__ import annotations

import argparse

from inception_aug.errors import UsageError
from inception_aug.plain import parse_wxh
from inception_eval.commands import add_command
from inception_eval.protocols import PROTOCOL_NAMES

__all__ = ["register", "run"]


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_wxh(text, "size")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(subparsers) -> None:
    """Add the ``protocol`` sub-command."""
    p = add_command(
        subparsers, "protocol", func=run, help="list or draw the views of a test protocol",
        description="List the views of one or more test protocols for an image size (table or JSON), "
        "with nominal and unique view counts, or draw them on a photo.")
    p.add_argument(
        "--name", action="append", default=None, metavar="PROTOCOL",
        help=f"protocol name, repeatable: {', '.join(PROTOCOL_NAMES)} or custom:scales=256/288,squares=3,"
        "crops=tl/tr/bl/br/center/whole,mirror=1 (default paper144)")
    p.add_argument("--size", type=_size, help="image size WIDTHxHEIGHT in pixels, e.g. 500x375")
    p.add_argument(
        "--images", metavar="DIR",
        help="instead of --size: total nominal views and unique forward passes over the photos in DIR "
        "(sizes read from the file headers)")
    p.add_argument("--crop-size", type=int, default=224, help="model input size in px (default 224)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--draw", metavar="IMAGE", help="draw the views of the first --name on this photo")
    p.add_argument("--out", metavar="PNG", default="views.png", help="where --draw writes its picture (default views.png)")
    p.add_argument("--panel-height", type=int, default=200, help="--draw: height of one panel in px")
    p.add_argument(
        "--compare-interpolation", metavar="DIR",
        help="measure OpenCV area/bilinear against PIL's antialiased bilinear when resizing the photos "
        "in DIR to shorter side --scale, and print the mean absolute differences")
    p.add_argument("--scale", type=int, default=256, help="--compare-interpolation: shorter side in px")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``inception-eval protocol``: one library call per mode, its text printed."""
    from inception_eval.protocols import get_protocol

    if args.compare_interpolation:
        from inception_eval.interpolation_study import interpolation_report

        print(interpolation_report(args.compare_interpolation, args.scale))
        return 0
    try:
        protos = [get_protocol(n, args.crop_size) for n in (args.name or ["paper144"])]
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.draw:
        from inception_eval.protocol_figures import save_views_figure

        out, n_views = save_views_figure(args.draw, protos[0], args.out, args.panel_height)
        print(f"wrote {out} ({out.stat().st_size // 1024} KB, {protos[0].name}, {n_views} views)")
        return 0
    from inception_eval.protocol_listing import folder_cost_report, views_report

    if args.images:
        print(folder_cost_report(args.images, protos, args.json))
        return 0
    if not args.size:
        raise UsageError("--size WIDTHxHEIGHT is required (or --draw IMAGE)")
    print(views_report(protos, *args.size, crop_size=args.crop_size, as_json=args.json))
    return 0
