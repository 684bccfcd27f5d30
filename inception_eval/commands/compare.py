"""``inception-eval compare``: the paper's Table 3 for your checkpoints (score once, compare every configuration)."""
from __future__ import annotations

import argparse
import sys

from inception_eval.commands import add_command
from inception_eval.commands.model_flags import (
    add_compile_flags, add_model_flags, add_precision_flag, add_preprocessing_flags, preprocessing_from,
)
from inception_eval.constants import AUX_WEIGHT
from inception_eval.views import DEFAULT_INTERPOLATION, VIEW_INTERPOLATIONS

__all__ = ["register", "run"]


def _csv_list(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in _csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def register(subparsers) -> None:
    """Add the ``compare`` sub-command."""
    p = add_command(
        subparsers, "compare", func=run,
        help="compare ensembles of checkpoints x test protocols (the paper's Table 3)",
        description=(
            "Scores each member once over the union of the protocols' views (cached per checkpoint "
            "sha256: a rerun with one more member scores only that member), then evaluates every subset "
            "of members (all subsets up to --max-exhaustive members; beyond that, per size the greedy "
            "prefix plus --per-size random subsets) x protocol x classifier set from the stored "
            "probabilities. Errors come with 95% Wilson intervals, changes vs the baseline with 95% "
            "paired intervals (Newcombe, method 10), plus ties and calibration (NLL, ECE, Brier). Prints "
            "a Markdown table and writes report.md, configurations.csv, comparison.json and "
            "cost_vs_top5.png into --out."))
    p.add_argument("--members", nargs="+", required=True, metavar="MODEL",
                   help="members: GoogLeNet checkpoints, TorchScript files, torch.export programs (.pt2) or "
                   "module.path:factory specs, of any kinds and input sizes (each file's metadata or sidecar gives "
                   "its own preprocessing; the preprocessing flags apply to every member)")
    p.add_argument("--data", required=True, help="dataset: ImageFolder tree, folder with labels.csv, or .csv")
    p.add_argument("--labels", default=None, help="labels file for a flat ImageNet validation folder")
    p.add_argument("--protocols", type=_csv_list, default=["center", "ten", "paper144"],
                   help="comma-separated test protocols (default: center,ten,paper144)")
    p.add_argument("--classifiers", type=_csv_list, default=["main"],
                   help="comma-separated classifier sets: main, main+aux (aux heads weighted --aux-weight), "
                        "main+aux:W, or heads joined by + (default: main)")
    p.add_argument("--aux-weight", type=float, default=None,
                   help=f"weight of each aux head in main+aux relative to main (default {AUX_WEIGHT:g})")
    p.add_argument("--baseline", default=None,
                   help="baseline member (file, name or index); default: lowest top-1 error at center")
    p.add_argument("--greedy", action="store_true", help="also run greedy forward selection of members")
    p.add_argument("--rank-by", choices=("top1", "top5"), default="top5",
                   help="error used for 'best subset' and greedy selection (default: top5, as Table 3)")
    p.add_argument("--member-weights", type=_float_list, default=None,
                   help="comma-separated positive weights for averaging members (default: equal)")
    p.add_argument("--max-exhaustive", type=int, default=10, help="all subsets up to this many members")
    p.add_argument("--per-size", type=int, default=64, help="random subsets per size beyond --max-exhaustive")
    p.add_argument("--seed", type=int, default=0, help="seed of that random sample")
    p.add_argument("--out", default="compare-out", help="output folder (default: compare-out)")
    p.add_argument("--cache-dir", default=None,
                   help="score cache (default: $INCEPTION_EVAL_CACHE or ~/.cache/inception-eval/scores)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the score cache")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument("--limit", type=int, default=None, help="score only the first N images")
    p.add_argument("--device", default="cpu")
    add_precision_flag(p)
    add_compile_flags(p)
    p.add_argument("--workers", type=int, default=None, help="decode workers (default: engine's)")
    p.add_argument("--max-batch", type=int, default=None, help="most views per forward pass")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--interpolation", default=None, metavar="NAME",
                   help=f"resize kernel of the views: {', '.join(VIEW_INTERPOLATIONS)} (default {DEFAULT_INTERPOLATION})")
    add_preprocessing_flags(p)
    add_model_flags(p)


def run(args: argparse.Namespace) -> int:
    """Score the members, compare, print and write the report; bad settings raise UsageError."""
    from inception_eval.comparison import compare_checkpoints

    engine_kw = {k: v for k, v in (("workers", args.workers), ("max_batch", args.max_batch),
                                   ("interpolation", args.interpolation)) if v is not None}
    compare_checkpoints(
        args.members, args.data, labels=args.labels, cache_dir=args.cache_dir, no_cache=args.no_cache,
        baseline=args.baseline, protocols=args.protocols, classifier_sets=args.classifiers, out_dir=args.out,
        greedy=args.greedy, rank_by=args.rank_by, aux_weight=args.aux_weight, member_weights=args.member_weights,
        max_exhaustive=args.max_exhaustive, per_size=args.per_size, seed=args.seed, plot=not args.no_plot,
        log=lambda s: print(s, file=sys.stderr), device=args.device, precision=args.precision,
        progress=not args.quiet, limit=args.limit, compile=args.compile, model_options=preprocessing_from(args),
        **engine_kw)
    return 0
