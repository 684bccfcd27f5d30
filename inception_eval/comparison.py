"""Score ensemble members once, compare every configuration, write the report (Markdown, CSV, JSON, PNG).

Orchestration behind ``inception-eval compare`` and ``inception-eval demo``: each member is scored
through :func:`inception_eval.engine.score` over the union of the protocols' views (one pass per
member, cached per checkpoint sha256, so a rerun with one more member computes only that member);
the comparison itself (:func:`inception_eval.ensemble.compare`) reads the stored probabilities
in row chunks.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from inception_eval.ensemble import Comparison, MemberScores, RawArrayFile, compare

DEFAULT_PROTOCOLS = ("center", "ten", "paper144")


def member_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Short unique names for checkpoints: the file stem, or the path when stems collide."""
    stems = [Path(p).stem for p in paths]
    return [s if stems.count(s) == 1 else str(p) for s, p in zip(stems, paths)]


def member_from_result(name: str, result: Any) -> MemberScores:
    """Adapt an ``engine.ScoreResult``. When the result lives in a store folder (``cache_path``),
    the member reads the store's files in chunks instead of holding the arrays in memory.

    Seconds: ``stored_seconds`` (compute time of the stored rows, also for cached results) when the
    engine reports it, else the call's ``seconds``.
    """
    probs: dict[tuple[str, str], Any] = dict(result.probs)
    cache = getattr(result, "cache_path", None)
    if cache:
        try:
            meta = json.loads((Path(cache) / "key.json").read_text())
            n, c = int(meta["num_images"]), int(meta["num_classes"])
            for k, entry in enumerate(meta["entries"]):
                proto, head = entry.split("|", 1)
                f = Path(cache) / f"probs.{k}.f32"
                if (proto, head) in probs and f.is_file():
                    probs[(proto, head)] = RawArrayFile(str(f), (n, c))
        except (OSError, ValueError, KeyError):
            probs = dict(result.probs)  # unreadable folder: use the arrays in memory
    seconds = float(getattr(result, "stored_seconds", 0.0) or 0.0) or float(result.seconds)
    return MemberScores(name=name, probs=probs, labels=np.asarray(result.labels), valid=np.asarray(result.valid),
                        seconds=seconds, nominal_views=dict(result.nominal_views))


@dataclass
class MemberRun:
    """How scoring one member went (for the report and for checking reuse of the cache)."""

    name: str
    checkpoint: str
    images_computed: int
    images_cached: int
    forward_views: int
    seconds_this_call: float
    seconds_stored: float
    skipped: int
    cache_path: str | None


def score_members(checkpoints: Sequence[str | os.PathLike], data: Any, protocols: Sequence[str], *,
                  heads: Sequence[str] = ("main",), cache_dir: str | os.PathLike | None = None,
                  log: Callable[[str], None] | None = print, **score_kwargs: Any
                  ) -> tuple[list[MemberScores], list[MemberRun]]:
    """Score every checkpoint once over the union of ``protocols`` (engine cache reused)."""
    from inception_eval import engine

    names = member_names(checkpoints)
    members, runs = [], []
    for name, ckpt in zip(names, checkpoints):
        if not Path(ckpt).is_file():
            raise FileNotFoundError(f"member checkpoint {ckpt} does not exist")
        res = engine.score(str(ckpt), data, list(protocols), heads=tuple(heads), cache_dir=cache_dir,
                           **score_kwargs)
        members.append(member_from_result(name, res))
        run = MemberRun(name, str(ckpt), int(res.images_computed), int(getattr(res, "images_cached", 0)),
                        int(res.forward_views), float(res.seconds), float(getattr(res, "stored_seconds", 0.0)),
                        len(res.skipped), getattr(res, "cache_path", None))
        runs.append(run)
        if log:
            log(f"scored {name}: {run.images_computed} images computed, {run.images_cached} from cache, "
                f"{run.forward_views} forward views, {run.seconds_this_call:.1f} s"
                + (f", {run.skipped} unreadable" if run.skipped else ""))
        if cache_dir is not None:
            del res  # the member reads the store files; drop the in-memory copy
    return members, runs


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def _dpct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.2f}"


def _secs(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.1f}"


def markdown_table(comp: Comparison) -> str:
    """The report table: one row per (classifier set, models, protocol), the paper's columns.

    Errors in %, changes in percentage points vs the baseline; "best" is the subset of that size
    with the lowest ``rank_by`` error, "mean" the mean over the evaluated subsets of that size.
    """
    multi_cls = len(comp.classifier_sets) > 1
    head = (["classifiers"] if multi_cls else []) + [
        "models", "crops", "cost", "seconds", "top-1 err", "top-5 err", "vs base top-5 (pp)",
        "mean top-1", "mean top-5", "mean vs base (pp)", "subsets", "best subset"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    order = {p: i for i, p in enumerate(comp.protocols)}
    rows = sorted(comp.rows, key=lambda r: (comp.classifier_sets.index(r.classifiers), r.n_models,
                                             order[r.protocol]))
    for r in rows:
        cells = ([r.classifiers] if multi_cls else []) + [
            str(r.n_models), f"{r.n_crops} ({r.protocol})", str(r.cost), _secs(r.best.seconds),
            _pct(r.best.top1), _pct(r.best.top5), _dpct(r.best.d_top5),
            _pct(r.mean_top1), _pct(r.mean_top5), _dpct(r.d_mean_top5), str(r.n_subsets),
            "+".join(r.best.members)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(comp: Comparison, runs: Sequence[MemberRun] = (), *, title: str = "Ensemble comparison",
                    note: str | None = None) -> str:
    """A complete Markdown report: settings, baseline, the table, greedy paths, scoring summary."""
    b = comp.baseline
    out = [f"# {title}", ""]
    if note:
        out += [note, ""]
    out += [
        f"- images evaluated: {comp.n_images}" + (f" ({comp.n_excluded} excluded: unreadable or unlabelled)"
                                                  if comp.n_excluded else ""),
        f"- members: {', '.join(comp.member_names)}",
        f"- protocols: {', '.join(comp.protocols)}; classifier sets: {', '.join(comp.classifier_sets)}",
        f"- configurations: {comp.subset_rule}; {len(comp.configs)} in all (full list in the CSV/JSON)",
        f"- baseline ({comp.baseline_rule}): {b.members[0]}, top-1 {_pct(b.top1)}, top-5 {_pct(b.top5)}",
        "- cost = models x crops (the paper's definition); seconds = measured scoring time of the members, "
        "split over protocols in proportion to their crops",
        f"- best subset = lowest {comp.rank_by} error of that size; ties: the other error, then listing order",
        "",
        markdown_table(comp),
    ]
    if comp.greedy:
        out += ["", f"Greedy forward selection (by {comp.rank_by} error; stops when no member lowers it):", ""]
        for (cls, proto), steps in comp.greedy.items():
            path = " -> ".join(f"{'+'.join(s.members)} ({_pct(s.top5)} top-5, {_pct(s.top1)} top-1)" for s in steps)
            out.append(f"- {proto}, {cls}: {path}")
    if runs:
        out += ["", "Scoring (one pass per member over the union of the protocols' views):", ""]
        for r in runs:
            out.append(f"- {r.name}: {r.images_computed} images computed, {r.images_cached} from cache, "
                       f"{r.forward_views} forward views, {r.seconds_this_call:.1f} s this run"
                       + (f", {r.skipped} unreadable" if r.skipped else ""))
    return "\n".join(out) + "\n"


CSV_FIELDS = ("classifiers", "protocol", "members", "n_models", "n_crops", "cost", "seconds",
              "top1_error", "top5_error", "change_top1", "change_top5")


def write_csv(comp: Comparison, path: str | os.PathLike) -> Path:
    """Every configuration, one line each; errors and changes are fractions (0.0712 = 7.12%)."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for c in comp.configs:
            w.writerow([c.classifiers, c.protocol, "+".join(c.members), c.n_models, c.n_crops, c.cost,
                        f"{c.seconds:.4f}", f"{c.top1:.6f}", f"{c.top5:.6f}", f"{c.d_top1:.6f}", f"{c.d_top5:.6f}"])
    return path


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def comparison_dict(comp: Comparison, runs: Sequence[MemberRun] = ()) -> dict:
    """Everything in plain JSON types (errors as fractions; NaN seconds as null)."""
    from inception_eval.plots import PAPER_TABLE3

    return _jsonable({
        "members": comp.member_names, "protocols": comp.protocols, "classifier_sets": comp.classifier_sets,
        "n_images": comp.n_images, "n_excluded": comp.n_excluded,
        "baseline": asdict(comp.baseline), "baseline_rule": comp.baseline_rule,
        "subset_rule": comp.subset_rule, "rank_by": comp.rank_by, "units": "errors are fractions in [0, 1]",
        "rows": [asdict(r) for r in comp.rows],
        "configs": [asdict(c) for c in comp.configs],
        "greedy": [{"classifiers": c, "protocol": p, "steps": [asdict(s) for s in steps]}
                   for (c, p), steps in comp.greedy.items()],
        "scoring": [asdict(r) for r in runs],
        "paper_table3_imagenet": [{"models": m, "crops": cr, "cost": co, "top5_error": e / 100}
                                  for m, cr, co, e in PAPER_TABLE3],
    })


@dataclass
class CompareOutputs:
    comparison: Comparison
    runs: list[MemberRun]
    markdown: str
    files: dict[str, Path] = field(default_factory=dict)
    plot_error: str | None = None


def print_outputs(res: CompareOutputs) -> None:
    """The terminal end of ``compare`` and ``demo``: the table on stdout, the files written, and
    why there is no plot (stderr) when matplotlib is missing."""
    import sys

    print(res.markdown)
    for kind, path in res.files.items():
        print(f"wrote {kind}: {path}")
    if res.plot_error:
        print(f"note: no plot: {res.plot_error}", file=sys.stderr)


def write_outputs(comp: Comparison, out_dir: str | os.PathLike, runs: Sequence[MemberRun] = (), *,
                  plot: bool = True, title: str = "Ensemble comparison", note: str | None = None) -> CompareOutputs:
    """Write report.md, configurations.csv, comparison.json and (matplotlib permitting) cost_vs_top5.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = markdown_report(comp, runs, title=title, note=note)
    files = {"report": out / "report.md", "csv": out / "configurations.csv", "json": out / "comparison.json"}
    files["report"].write_text(md)
    write_csv(comp, files["csv"])
    files["json"].write_text(json.dumps(comparison_dict(comp, runs), indent=1))
    plot_error = None
    if plot:
        from inception_eval.plots import PlotUnavailable, plot_cost_vs_error

        try:
            files["plot"] = plot_cost_vs_error(comp, out / "cost_vs_top5.png", title=title)
        except PlotUnavailable as e:
            plot_error = str(e)
    return CompareOutputs(comp, list(runs), md, files, plot_error)


def run_compare(checkpoints: Sequence[str | os.PathLike], data: Any, *,
                protocols: Sequence[str] = DEFAULT_PROTOCOLS, classifier_sets: Sequence[str] = ("main",),
                out_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                baseline: str | int | None = None, greedy: bool = False, rank_by: str = "top5",
                aux_weight: float | None = None, member_weights: Sequence[float] | None = None,
                max_exhaustive: int = 10, per_size: int = 64, seed: int = 0, plot: bool = True,
                title: str = "Ensemble comparison", note: str | None = None,
                log: Callable[[str], None] | None = print, **score_kwargs: Any) -> CompareOutputs:
    """Score the members (cached), compare every configuration, and write the outputs to ``out_dir``."""
    from inception_eval.ensemble import DEFAULT_AUX_WEIGHT, parse_classifiers

    aux_w = DEFAULT_AUX_WEIGHT if aux_weight is None else aux_weight
    heads: list[str] = []
    for c in classifier_sets:
        for h in parse_classifiers(c, aux_weight=aux_w):
            if h not in heads:
                heads.append(h)
    members, runs = score_members(checkpoints, data, protocols, heads=heads, cache_dir=cache_dir, log=log,
                                  **score_kwargs)
    comp = compare(members, protocols, classifier_sets, baseline=baseline, member_weights=member_weights,
                   aux_weight=aux_w, greedy=greedy, rank_by=rank_by, max_exhaustive=max_exhaustive,
                   per_size=per_size, seed=seed)
    if out_dir is None:
        md = markdown_report(comp, runs, title=title, note=note)
        return CompareOutputs(comp, runs, md)
    return write_outputs(comp, out_dir, runs, plot=plot, title=title, note=note)
