"""``inception-eval score``: top-1/top-5 of a checkpoint under one or more test protocols.

Argument parsing only: :func:`inception_eval.scoring.score_and_report` does the work; errors and
Ctrl-C are turned into exit codes by the dispatcher (``inception_aug.errors.run_command``).
"""
from __future__ import annotations

import argparse

from inception_eval.commands.model_flags import (
    add_compile_flags, add_model_flags, add_precision_flag, add_preprocessing_flags, preprocessing_from,
)

__all__ = ["register", "run"]


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
    p.add_argument("--checkpoint", required=True,
                   help="the model: a GoogLeNet checkpoint (our format or a state_dict), a TorchScript file, a "
                   "torch.export program (.pt2), or module.path:factory (runs your own code; see the model flags)")
    p.add_argument("--data", required=True,
                   help="ImageFolder tree, flat ImageNet val folder (LOC_val_solution.csv or devkit ground "
                   "truth + meta.mat), folder with labels.csv, or a CSV of path,label")
    p.add_argument("--labels", help="label file for --data (LOC_val_solution.csv, devkit ground truth, or CSV)")
    p.add_argument("--meta", help="devkit meta.mat (maps ILSVRC2012_IDs to wnids)")
    p.add_argument("--protocol", action="append", default=None, metavar="NAME",
                   help=f"repeatable: {', '.join(PROTOCOL_NAMES)} or custom:scales=...,squares=...,crops=...,"
                   "mirror=... (default paper144)")
    _add_run_flags(p)
    _add_output_flags(p)
    add_preprocessing_flags(p)
    add_model_flags(p)
    p.set_defaults(func=run)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """How to score: heads, precision, device, batching, resizing, averaging, class mapping."""
    from inception_eval.engine import DEFAULT_MAX_BATCH, DEFAULT_WORKERS
    from inception_eval.views import DEFAULT_INTERPOLATION, VIEW_INTERPOLATIONS

    p.add_argument("--heads", default="main", help="comma-separated heads: main, aux1, aux2 (default main)")
    add_precision_flag(p)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    p.add_argument("--max-batch", type=int, default=None,
                   help=f"most views per forward pass (default {DEFAULT_MAX_BATCH['cpu']} on CPU, where small batches "
                   f"are faster, {DEFAULT_MAX_BATCH['cuda']} on CUDA)")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help=f"decode/cut worker processes (default {DEFAULT_WORKERS}; 0: inline)")
    p.add_argument("--interpolation", default=None, metavar="NAME",
                   help=f"resize kernel of the views: {', '.join(VIEW_INTERPOLATIONS)} (default {DEFAULT_INTERPOLATION}: area when shrinking, bilinear "
                   "when enlarging; pil-bilinear / pil-bicubic equal PIL's antialiased resampling, what torchvision's "
                   "and timm's published ImageNet numbers used)")
    p.add_argument("--averaging", default="softmax_mean",
                   help="average over views: softmax_mean (paper), logit_mean, geometric, max")
    p.add_argument("--class-map", choices=("name", "index"), default="name",
                   help="name: map the data's class names onto the checkpoint's (error on mismatch); "
                   "index: use the data's own class indices unchecked")


def _add_output_flags(p: argparse.ArgumentParser) -> None:
    """What to write, and the cache, progress and compute settings of the run."""
    p.add_argument("--out", help="write the summary as JSON here")
    p.add_argument("--predictions", help="write per-image predictions (CSV) here")
    p.add_argument("--probs", help="write per-image probabilities (.npz) here")
    p.add_argument("--per-class", metavar="CSV",
                   help="write images and top-1/top-5 accuracy per class (one row per protocol, head, class) here; "
                   "the 20 most frequent confusions are printed with the table")
    p.add_argument("--plots", metavar="DIR",
                   help="write a reliability diagram (PNG, 15 equal-width confidence bins) per protocol and head "
                   "into DIR (needs the plot extra: pip install -e \".[plot]\")")
    p.add_argument("--strict", action="store_true", help="fail on the first unreadable image instead of skipping it")
    p.add_argument("--cache-dir",
                   help="where per-image results are stored for resume and reuse, shared with `compare` "
                   "(default: $INCEPTION_EVAL_CACHE or ~/.cache/inception-eval/scores)")
    p.add_argument("--no-cache", action="store_true", help="keep results in memory only (no resume)")
    p.add_argument("--limit", type=int, help="score only the first N images")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_compile_flags(p)
    p.add_argument("--threads", type=int, help="torch intra-op threads for the model (default: torch's choice)")


def run(args: argparse.Namespace) -> int:
    """Score as the parsed ``args`` say; exit status 0 (errors propagate to the dispatcher)."""
    from inception_aug.errors import UsageError
    from inception_eval.models.foreign import is_factory_spec
    from inception_eval.scoring import score_and_report

    if (args.weights or args.factory_kwargs) and not is_factory_spec(args.checkpoint):
        raise UsageError(f"--weights and --factory-kwargs apply to module:factory models, not to {args.checkpoint}")
    from inception_eval.views import DEFAULT_INTERPOLATION

    score_and_report(
        args.checkpoint, args.data, labels=args.labels, meta=args.meta, protocols=args.protocol,
        cache=not args.no_cache, cache_dir=args.cache_dir, threads=args.threads, out=args.out,
        predictions=args.predictions, probs=args.probs,
        per_class=args.per_class, plots=args.plots,
        heads=tuple(h.strip() for h in args.heads.split(",") if h.strip()), precision=args.precision,
        device=args.device, max_batch=args.max_batch, workers=args.workers, progress=not args.no_progress,
        interpolation=args.interpolation or DEFAULT_INTERPOLATION, averaging=args.averaging,
        strict=args.strict, limit=args.limit, class_map=args.class_map, compile=args.compile,
        model_options=preprocessing_from(args))
    return 0
