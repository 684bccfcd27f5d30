"""``inception-eval score``: top-1/top-5 of a checkpoint under one or more test protocols."""
from __future__ import annotations

import argparse
import os
import sys



def register(subparsers) -> None:
    """Add the ``score`` sub-command."""
    from inception_eval.protocols import PROTOCOL_NAMES

    p = subparsers.add_parser(
        "score",
        help="score a checkpoint on labelled images (1, 10, 144 crops), with resume",
        description="Score a checkpoint: per-image probabilities averaged over each protocol's views, then "
        "top-1/top-5 accuracy and error. Several --protocol share one pass over the union of their views. "
        "Per-image results are stored as they are computed (--cache-dir), so an interrupted run resumes. "
        "Run under torchrun --nproc_per_node N to shard images across processes.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint file (inception_eval.models format or a state dict)")
    p.add_argument("--data", required=True,
                   help="ImageFolder tree, flat ImageNet val folder (LOC_val_solution.csv or devkit ground "
                   "truth + meta.mat), folder with labels.csv, or a CSV of path,label")
    p.add_argument("--labels", help="label file for --data (LOC_val_solution.csv, devkit ground truth, or CSV)")
    p.add_argument("--meta", help="devkit meta.mat (maps ILSVRC2012_IDs to wnids)")
    p.add_argument("--protocol", action="append", default=None, metavar="NAME",
                   help=f"repeatable: {', '.join(PROTOCOL_NAMES)} or custom:scales=...,squares=...,crops=...,"
                   "mirror=... (default paper144)")
    p.add_argument("--heads", default="main", help="comma-separated heads: main, aux1, aux2 (default main)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    p.add_argument("--max-batch", type=int, default=None,
                   help="most views per forward pass (default 16 on CPU, where small batches are faster, 256 on CUDA)")
    p.add_argument("--workers", type=int, default=2, help="decode/cut worker processes (default 2; 0: inline)")
    p.add_argument("--interpolation", default=None, help="resize kernel for the views (default: views' default)")
    p.add_argument("--averaging", default="softmax_mean",
                   help="average over views: softmax_mean (paper), logit_mean, geometric, max")
    p.add_argument("--class-map", choices=("name", "index"), default="name",
                   help="name: map the data's class names onto the checkpoint's (error on mismatch); "
                   "index: use the data's own class indices unchecked")
    p.add_argument("--out", help="write the summary as JSON here")
    p.add_argument("--predictions", help="write per-image predictions (CSV) here")
    p.add_argument("--probs", help="write per-image probabilities (.npz) here")
    p.add_argument("--strict", action="store_true", help="fail on the first unreadable image instead of skipping it")
    p.add_argument("--cache-dir",
                   help="where per-image results are stored for resume and reuse, shared with `compare` "
                   "(default: $INCEPTION_EVAL_CACHE or ~/.cache/inception-eval/scores)")
    p.add_argument("--no-cache", action="store_true", help="keep results in memory only (no resume)")
    p.add_argument("--limit", type=int, help="score only the first N images")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model: a one-time compile (about 20-50 s for GoogLeNet on a CPU), "
                   "then faster batches; agrees with eager mode to float rounding")
    p.add_argument("--threads", type=int, help="torch intra-op threads for the model (default: torch's choice)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inception_aug.decode import ImageDecodeError
    from inception_eval import engine, report
    from inception_eval.data import DatasetError, open_dataset
    from inception_eval.views import DEFAULT_INTERPOLATION

    try:
        from inception_eval.models.checkpoint import CheckpointError
    except ImportError:  # pragma: no cover
        CheckpointError = ValueError  # type: ignore[misc,assignment]

    from inception_eval.store import default_cache_dir

    heads = tuple(h.strip() for h in args.heads.split(",") if h.strip())
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        dataset = open_dataset(args.data, labels=args.labels, meta=args.meta)
        result = engine.score(
            args.checkpoint, dataset, args.protocol or ["paper144"], heads=heads, precision=args.precision,
            device=args.device, max_batch=args.max_batch, workers=args.workers,
            cache_dir=cache_dir, progress=not args.no_progress,
            interpolation=args.interpolation or DEFAULT_INTERPOLATION, averaging=args.averaging,
            strict=args.strict, limit=args.limit, class_map=args.class_map, compile=args.compile)
    except (DatasetError, CheckpointError, engine.StrictModeError, engine.NonFiniteOutputError,
            ImageDecodeError, ValueError, FileNotFoundError) as e:
        print(f"inception-eval score: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        where = "" if args.no_cache else f" (finished images are stored under {cache_dir}; rerun to resume)"
        print(f"inception-eval score: interrupted{where}", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # every rank holds the full result; one prints and writes
    print(report.format_table(result))
    if args.out:
        report.write_json(result, args.out)
        print(f"wrote {args.out}")
    if args.predictions:
        report.write_predictions(result, args.predictions)
        print(f"wrote {args.predictions}")
    if args.probs:
        report.write_probs(result, args.probs)
        print(f"wrote {args.probs}")
    return 0
