"""``inception-eval compare``: the paper's Table 3 for your checkpoints (score once, compare every configuration)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _csv_list(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="compare ensembles of checkpoints x test protocols (the paper's Table 3)",
        description=(
            "Scores each member once over the union of the protocols' views (cached per checkpoint "
            "sha256: a rerun with one more member scores only that member), then evaluates every subset "
            "of members (all subsets up to --max-exhaustive members; beyond that, per size the greedy "
            "prefix plus --per-size random subsets) x protocol x classifier set from the stored "
            "probabilities. Prints a Markdown table and writes report.md, configurations.csv, "
            "comparison.json and cost_vs_top5.png into --out."))
    p.add_argument("--members", nargs="+", required=True, metavar="CKPT", help="member checkpoints (.pt)")
    p.add_argument("--data", required=True, help="dataset: ImageFolder tree, folder with labels.csv, or .csv")
    p.add_argument("--labels", default=None, help="labels file for a flat ImageNet validation folder")
    p.add_argument("--protocols", type=_csv_list, default=["center", "ten", "paper144"],
                   help="comma-separated test protocols (default: center,ten,paper144)")
    p.add_argument("--classifiers", type=_csv_list, default=["main"],
                   help="comma-separated classifier sets: main, main+aux (aux heads weighted --aux-weight), "
                        "main+aux:W, or heads joined by + (default: main)")
    p.add_argument("--aux-weight", type=float, default=None,
                   help="weight of each aux head in main+aux relative to main (default 0.3)")
    p.add_argument("--baseline", default=None,
                   help="baseline member (file, name or index); default: lowest top-1 error at center")
    p.add_argument("--greedy", action="store_true", help="also run greedy forward selection of members")
    p.add_argument("--rank-by", choices=("top1", "top5"), default="top5",
                   help="error used for 'best subset' and greedy selection (default: top5, as Table 3)")
    p.add_argument("--member-weights", type=_csv_list, default=None,
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
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    p.add_argument("--workers", type=int, default=None, help="decode workers (default: engine's)")
    p.add_argument("--max-batch", type=int, default=None, help="most views per forward pass")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inception_eval.comparison import print_outputs, run_compare
    from inception_eval.store import default_cache_dir

    missing = [m for m in args.members if not Path(m).is_file()]
    if missing:
        print(f"error: member checkpoint(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    if len(set(map(str, args.members))) != len(args.members):
        print("error: a member is listed twice", file=sys.stderr)
        return 2
    weights = None
    if args.member_weights:
        try:
            weights = [float(w) for w in args.member_weights]
        except ValueError:
            print(f"error: --member-weights must be numbers, got {args.member_weights}", file=sys.stderr)
            return 2
    data = args.data
    if args.labels:
        from inception_eval.data import open_dataset

        data = open_dataset(args.data, labels=args.labels)
    kw = {"device": args.device, "precision": args.precision, "progress": not args.quiet, "limit": args.limit}
    if args.workers is not None:
        kw["workers"] = args.workers
    if args.max_batch is not None:
        kw["max_batch"] = args.max_batch
    baseline = args.baseline
    if baseline is not None:
        same = [i for i, m in enumerate(args.members) if Path(m).resolve() == Path(baseline).resolve()]
        baseline = same[0] if same else (int(baseline) if baseline.isdigit() else baseline)
    cache = None if args.no_cache else (args.cache_dir or default_cache_dir())
    try:
        res = run_compare(
            args.members, data, protocols=args.protocols, classifier_sets=args.classifiers,
            out_dir=args.out, cache_dir=cache, baseline=baseline, greedy=args.greedy, rank_by=args.rank_by,
            aux_weight=args.aux_weight, member_weights=weights, max_exhaustive=args.max_exhaustive,
            per_size=args.per_size, seed=args.seed, plot=not args.no_plot,
            log=(lambda s: print(s, file=sys.stderr)), **kw)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_outputs(res)
    return 0
