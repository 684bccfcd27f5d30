"""``inception-eval score`` as one library call: open the data, score, print and write the reports."""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Sequence

from inception_eval import engine, report
from inception_eval.data import open_dataset
from inception_eval.results import ScoreResult
from inception_eval.store import default_cache_dir

__all__ = ["DEFAULT_PROTOCOLS", "score_and_report"]

#: Protocols scored when none are named: the paper's 144 crops.
DEFAULT_PROTOCOLS: tuple[str, ...] = ("paper144",)


def score_and_report(checkpoint: str | os.PathLike, data: str | os.PathLike, *,
                     labels: str | os.PathLike | None = None, meta: str | os.PathLike | None = None,
                     protocols: Sequence[str] | None = None, cache: bool = True,
                     cache_dir: str | os.PathLike | None = None, threads: int | None = None,
                     out: str | os.PathLike | None = None, predictions: str | os.PathLike | None = None,
                     probs: str | os.PathLike | None = None, per_class: str | os.PathLike | None = None,
                     plots: str | os.PathLike | None = None, echo: Callable[[str], None] = print,
                     **score_kwargs: Any) -> ScoreResult:
    """Score ``checkpoint`` on ``data`` (``data.open_dataset`` with ``labels``/``meta``), then on
    rank 0 print the table and write the summary JSON (``out``), per-image CSV (``predictions``),
    probabilities (``probs``, .npz), per-class CSV (``per_class``) and reliability diagrams (one PNG
    per protocol and head under the folder ``plots``) that were asked for. ``protocols`` None or empty:
    ``DEFAULT_PROTOCOLS``.

    ``cache``: store results under ``cache_dir`` (default ``store.default_cache_dir()``) for resume
    and reuse; ``threads``: torch intra-op threads; ``score_kwargs`` go to :func:`engine.score`
    (``model_options`` states preprocessing; assumed values are warned about on stderr unless
    ``warn`` is given).
    On Ctrl-C a line on stderr says where the finished images are stored, then
    ``KeyboardInterrupt`` propagates.
    """
    folder = (cache_dir or default_cache_dir()) if cache else None
    if threads:
        import torch

        torch.set_num_threads(threads)
    dataset = open_dataset(data, labels=labels, meta=meta)
    if int(os.environ.get("RANK", "0")) == 0:  # assumed preprocessing: one stderr line per field
        score_kwargs.setdefault("warn", lambda line: print(line, file=sys.stderr))
    try:
        result = engine.score(checkpoint, dataset, list(protocols or DEFAULT_PROTOCOLS), cache_dir=folder,
                              **score_kwargs)
    except KeyboardInterrupt:
        if folder is not None:
            print(f"finished images are stored under {folder}; rerun to resume", file=sys.stderr)
        raise
    if int(os.environ.get("RANK", "0")) == 0:  # every rank holds the full result; one prints and writes
        _report(result, echo, out=out, predictions=predictions, probs=probs, per_class=per_class)
        if plots:
            for path in report.write_reliability(result, plots):
                echo(f"wrote {path}")
    return result


def _report(result: ScoreResult, echo: Callable[[str], None], **paths: str | os.PathLike | None) -> None:
    echo(report.format_table(result))
    writers = {"out": report.write_json, "predictions": report.write_predictions, "probs": report.write_probs,
               "per_class": report.write_per_class}
    for name, path in paths.items():
        if path:
            writers[name](result, path)
            echo(f"wrote {path}")
