"""Score ensemble members once, compare every configuration, write the report (Markdown, CSV, JSON, PNG).

Orchestration behind ``inception-eval compare`` and ``inception-eval demo``: each member is scored
through :func:`inception_eval.engine.score` over the union of the protocols' views (one pass per
member, cached per checkpoint sha256, so a rerun with one more member computes only that member);
the comparison itself (:func:`inception_eval.ensemble.compare_configurations`) reads the stored
probabilities in row chunks. Every reported error carries a 95% Wilson interval, every change vs
the baseline a 95% paired interval (Newcombe 1998, method 10, on the same images).
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

from inception_aug.errors import InputError, UsageError
from inception_aug.plain import to_plain
from inception_eval.constants import AUX_WEIGHT
from inception_eval.ensemble import (Comparison, Config, MemberScores, RawArrayFile, compare_configurations,
                                     parse_classifiers)
from inception_eval.report import CALIBRATION_DEFINITION, TIES_DEFINITION

__all__ = ["DEFAULT_PROTOCOLS", "member_names", "member_from_result", "MemberRun", "score_members",
           "markdown_table", "markdown_report", "CSV_FIELDS", "write_csv", "comparison_dict", "CompareOutputs",
           "print_outputs", "write_outputs", "run_comparison", "compare_checkpoints"]

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
            from inception_eval.store import stored_prob_files

            for entry, (f, shape) in stored_prob_files(cache).items():
                if entry in probs:
                    probs[entry] = RawArrayFile(f, shape)
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
    kind: str = "googlenet"
    preprocessing: dict = field(default_factory=dict)


def score_members(checkpoints: Sequence[str | os.PathLike], data: Any, protocols: Sequence[str], *,
                  heads: Sequence[str] = ("main",), cache_dir: str | os.PathLike | None = None,
                  log: Callable[[str], None] | None = print, **score_kwargs: Any
                  ) -> tuple[list[MemberScores], list[MemberRun]]:
    """Score every checkpoint (file or ``module:factory`` spec) once over the union of ``protocols``
    (engine cache reused); each member's assumed preprocessing is reported through ``log``."""
    from inception_eval import engine
    from inception_eval.models.foreign import is_factory_spec

    names = member_names(checkpoints)
    members, runs = [], []
    for name, ckpt in zip(names, checkpoints):
        if not (Path(ckpt).is_file() or is_factory_spec(ckpt)):
            raise FileNotFoundError(f"member checkpoint {ckpt} does not exist")
        res = engine.score(str(ckpt), data, list(protocols), heads=tuple(heads), cache_dir=cache_dir,
                           **{"warn": log, **score_kwargs})
        members.append(member_from_result(name, res))
        run = MemberRun(name, str(ckpt), int(res.images_computed), int(getattr(res, "images_cached", 0)),
                        int(res.forward_views), float(res.seconds), float(getattr(res, "stored_seconds", 0.0)),
                        len(res.skipped), getattr(res, "cache_path", None),
                        kind=(getattr(res, "settings", None) or {}).get("model_kind", "googlenet"),
                        preprocessing=(getattr(res, "settings", None) or {}).get("preprocessing", {}))
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


def _err_ci(err: float, ci: tuple[float, float]) -> str:
    """``7.12% [6.50, 7.80]``: the error and its 95% Wilson interval, in %."""
    return f"{_pct(err)} [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" if not math.isnan(err) else "-"


def _change_ci(d: float, ci: tuple[float, float], sig: bool) -> str:
    """``-1.20 [-1.90, -0.50]*``: a change in percentage points, its paired interval, ``*`` when
    the interval excludes 0."""
    if math.isnan(d):
        return "-"
    return f"{_dpct(d)} [{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]" + ("*" if sig else "")


def _calib(c: Config) -> list[str]:
    return [("-" if math.isnan(v) else f"{v:.3f}") for v in (c.nll, c.ece, c.brier)] + [f"{c.ties_top1}/{c.ties_top5}"]


def markdown_table(comp: Comparison) -> str:
    """The report table: one row per (classifier set, models, protocol), the paper's columns.

    Errors in % with 95% Wilson intervals; changes in percentage points vs the baseline with 95%
    paired (Newcombe) intervals, ``*`` where the interval excludes 0; "best" is the subset of that
    size with the lowest ``rank_by`` error, "mean" the plain mean over the evaluated subsets of that
    size; NLL, ECE, Brier and ties (top-1/top-5) are the best subset's.
    """
    multi_cls = len(comp.classifier_sets) > 1
    head = (["classifiers"] if multi_cls else []) + [
        "models", "crops", "cost", "seconds", "top-1 err", "top-5 err", "vs base top-1 (pp)", "vs base top-5 (pp)",
        "mean top-1", "mean top-5", "mean vs base (pp)", "subsets", "best subset", "NLL", "ECE", "Brier", "ties"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    order = {p: i for i, p in enumerate(comp.protocols)}
    rows = sorted(comp.rows, key=lambda r: (comp.classifier_sets.index(r.classifiers), r.n_models,
                                             order[r.protocol]))
    for r in rows:
        b = r.best
        cells = ([r.classifiers] if multi_cls else []) + [
            str(r.n_models), f"{r.n_crops} ({r.protocol})", str(r.cost), _secs(b.seconds),
            _err_ci(b.top1, b.top1_ci), _err_ci(b.top5, b.top5_ci), _change_ci(b.d_top1, b.d_top1_ci, b.d_top1_sig),
            _change_ci(b.d_top5, b.d_top5_ci, b.d_top5_sig), _pct(r.mean_top1), _pct(r.mean_top5),
            _dpct(r.d_mean_top5), str(r.n_subsets), "+".join(b.members)] + _calib(b)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _definitions(comp: Comparison) -> list[str]:
    """The report's statements of how every number was computed."""
    return [
        "- cost = models x crops (the paper's definition); seconds = measured scoring time of the members, "
        "split over protocols in proportion to their crops",
        f"- best subset = lowest {comp.rank_by} error of that size; ties: the other error, then listing order",
        f"- {TIES_DEFINITION} (the ties column: top-1/top-5)",
        "- intervals: 95% Wilson score intervals for errors; 95% paired intervals for changes vs the baseline "
        "(Newcombe 1998 method 10: same images under both configurations); * = the interval excludes 0; "
        "mean columns are plain averages over subsets, without intervals",
        f"- {CALIBRATION_DEFINITION}, of the averaged probabilities",
    ]


def markdown_report(comp: Comparison, runs: Sequence[MemberRun] = (), *, title: str = "Ensemble comparison",
                    note: str | None = None) -> str:
    """A complete Markdown report: settings, baseline, definitions, the table, greedy paths, scoring."""
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
        f"- baseline ({comp.baseline_rule}): {b.members[0]}, top-1 {_err_ci(b.top1, b.top1_ci)}, "
        f"top-5 {_err_ci(b.top5, b.top5_ci)}",
        *_definitions(comp),
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
              "top1_error", "top5_error", "change_top1", "change_top5",
              "top1_error_lo", "top1_error_hi", "top5_error_lo", "top5_error_hi",
              "change_top1_lo", "change_top1_hi", "change_top5_lo", "change_top5_hi",
              "change_top1_excludes_0", "change_top5_excludes_0", "ties_top1", "ties_top5", "nll", "ece", "brier")
"""Columns of configurations.csv: errors, changes and interval bounds are fractions; ``*_lo``/``*_hi``
are 95% intervals (errors: Wilson; changes: Newcombe paired, method 10)."""


def _csv_row(c: Config) -> list:
    f6 = lambda x: f"{x:.6f}"  # noqa: E731
    return [c.classifiers, c.protocol, "+".join(c.members), c.n_models, c.n_crops, c.cost, f"{c.seconds:.4f}",
            f6(c.top1), f6(c.top5), f6(c.d_top1), f6(c.d_top5), *map(f6, c.top1_ci), *map(f6, c.top5_ci),
            *map(f6, c.d_top1_ci), *map(f6, c.d_top5_ci), int(c.d_top1_sig), int(c.d_top5_sig),
            c.ties_top1, c.ties_top5, f6(c.nll), f6(c.ece), f6(c.brier)]


def write_csv(comp: Comparison, path: str | os.PathLike) -> Path:
    """Every configuration, one line each (columns: :data:`CSV_FIELDS`)."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for c in comp.configs:
            w.writerow(_csv_row(c))
    return path


def comparison_dict(comp: Comparison, runs: Sequence[MemberRun] = ()) -> dict:
    """Everything in plain JSON types (errors as fractions; NaN as null)."""
    from inception_eval.plots import PAPER_TABLE3

    return to_plain({
        "members": comp.member_names, "protocols": comp.protocols, "classifier_sets": comp.classifier_sets,
        "n_images": comp.n_images, "n_excluded": comp.n_excluded,
        "baseline": asdict(comp.baseline), "baseline_rule": comp.baseline_rule,
        "subset_rule": comp.subset_rule, "rank_by": comp.rank_by, "units": "errors are fractions in [0, 1]",
        "definitions": [d[2:] for d in _definitions(comp)],
        "rows": [asdict(r) for r in comp.rows],
        "configs": [asdict(c) for c in comp.configs],
        "greedy": [{"classifiers": c, "protocol": p, "steps": [asdict(s) for s in steps]}
                   for (c, p), steps in comp.greedy.items()],
        "scoring": [asdict(r) for r in runs],
        "paper_table3_imagenet": [{"models": m, "crops": cr, "cost": co, "top5_error": e / 100}
                                  for m, cr, co, e in PAPER_TABLE3],
    }, nan_as_none=True)


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


def run_comparison(checkpoints: Sequence[str | os.PathLike], data: Any, *,
                   protocols: Sequence[str] = DEFAULT_PROTOCOLS, classifier_sets: Sequence[str] = ("main",),
                   out_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                   baseline: str | int | None = None, greedy: bool = False, rank_by: str = "top5",
                   aux_weight: float | None = None, member_weights: Sequence[float] | None = None,
                   max_exhaustive: int = 10, per_size: int = 64, seed: int = 0, plot: bool = True,
                   title: str = "Ensemble comparison", note: str | None = None,
                   log: Callable[[str], None] | None = print, **score_kwargs: Any) -> CompareOutputs:
    """Score the members (cached), compare every configuration, and write the outputs to ``out_dir``."""
    aux_w = AUX_WEIGHT if aux_weight is None else aux_weight
    heads: list[str] = []
    for c in classifier_sets:
        for h in parse_classifiers(c, aux_weight=aux_w):
            if h not in heads:
                heads.append(h)
    members, runs = score_members(checkpoints, data, protocols, heads=heads, cache_dir=cache_dir, log=log,
                                  **score_kwargs)
    comp = compare_configurations(members, protocols, classifier_sets, baseline=baseline,
                                  member_weights=member_weights, aux_weight=aux_w, greedy=greedy, rank_by=rank_by,
                                  max_exhaustive=max_exhaustive, per_size=per_size, seed=seed)
    if out_dir is None:
        md = markdown_report(comp, runs, title=title, note=note)
        return CompareOutputs(comp, runs, md)
    return write_outputs(comp, out_dir, runs, plot=plot, title=title, note=note)


def _baseline_arg(checkpoints: Sequence[str | os.PathLike], baseline: str | int | None) -> str | int | None:
    """A baseline given as a member's path becomes its index; other values pass through."""
    if baseline is None or isinstance(baseline, int):
        return baseline
    same = [i for i, m in enumerate(checkpoints) if Path(m).resolve() == Path(baseline).resolve()]
    return same[0] if same else (int(baseline) if baseline.isdigit() else baseline)


def compare_checkpoints(checkpoints: Sequence[str | os.PathLike], data: Any, *, labels: str | None = None,
                        cache_dir: str | os.PathLike | None = None, no_cache: bool = False,
                        baseline: str | int | None = None, show: bool = True,
                        log: Callable[[str], None] | None = print, **kwargs: Any) -> CompareOutputs:
    """``inception-eval compare``: check the named checkpoints, open ``data`` (with ``labels``),
    use the default score cache unless ``no_cache``, resolve a baseline given as a path, then
    :func:`run_comparison` (``kwargs``) and, with ``show``, print the report and the files written.

    Raises :class:`UsageError` for missing or repeated checkpoints and bad settings.
    """
    from inception_eval.models.foreign import is_factory_spec
    from inception_eval.store import default_cache_dir

    missing = [str(m) for m in checkpoints if not (Path(m).is_file() or is_factory_spec(m))]
    if missing:
        raise InputError(f"member checkpoint(s) not found: {', '.join(missing)}")
    if len(set(map(str, checkpoints))) != len(checkpoints):
        raise UsageError("a member is listed twice")
    if labels:
        from inception_eval.data import open_dataset

        data = open_dataset(data, labels=labels)
    cache = None if no_cache else (cache_dir or default_cache_dir())
    res = run_comparison(checkpoints, data, cache_dir=cache, baseline=_baseline_arg(checkpoints, baseline),
                         log=log, **kwargs)
    if show:
        print_outputs(res)
    return res
