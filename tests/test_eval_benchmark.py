"""benchmarks/eval_throughput.py: its table, the GPU-skip line and the auto-run sizing, on synthetic
figures (the benchmark itself takes minutes; its numbers are recorded in docs/benchmarks.md)."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from inception_eval import data
from inception_eval.constants import AUTO_COMPILE_MIN_EAGER_SECONDS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_throughput.py"


def _module():
    spec = importlib.util.spec_from_file_location("eval_throughput", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(spi: float, tuned: float, **extra) -> dict:
    return {"seconds_per_image": spi, "views_per_second": 144 / spi, "forward_views_per_image": 144,
            "outside_model_share": 0.05, "speedup_vs_naive": 10.0 / spi, "speedup_vs_hand_tuned": tuned / spi,
            **extra}


def test_table_has_the_hand_tuned_and_auto_rows_and_skips_gpu(capsys):
    mod = _module()
    methods = {"naive": _row(10.0, 3.0), "hand-tuned loop bf16": _row(3.0, 3.0), "engine fp32": _row(5.0, 3.0),
               "engine bf16": _row(3.0, 3.0),
               "engine bf16 auto": _row(2.0, 3.0, compile_decision="auto: 6,016 views x 0.0217 s/view eager",
                                        compile_seconds=[37.2, 0.0], seconds_per_image_incl_compile=[3.1, 2.2])}
    result = {"images": 4, "repeats": 2, "auto_images": 42, "max_batch": 16, "torch_threads": 1,
              "load_avg_before": (0.5, 0, 0), "load_avg_after": (2.1, 0, 0), "methods": methods,
              "top1_agreement_bf16_auto_vs_fp32": 1.0, "gpu": None}
    mod._print_tables(result)
    out = capsys.readouterr().out
    assert "| hand-tuned loop bf16 | 3.00 | 48.0 | 144 | 5.0% | 3.33x | 1.00x |" in out
    assert "| engine bf16 auto | 2.00 | 72.0 | 144 | 5.0% | 5.00x | 1.50x |" in out
    assert "(s, left out of its s / image): 37.2, 0.0; s / image including it: 3.10, 2.20" in out
    assert "top-1 agreement: bf16_auto_vs_fp32 100%" in out
    assert out.rstrip().endswith("no CUDA device: GPU rows skipped")


def test_auto_run_is_sized_past_the_threshold(imagenet_samples):
    mod = _module()
    ds = data.open_dataset(str(imagenet_samples)).subset(range(4))
    eager = {"model_seconds": 4 * 144 * 0.02, "views": 4 * 144}  # 0.02 s/view
    auto = mod._auto_dataset(ds, None, eager)
    assert len(auto) == math.ceil(1.2 * AUTO_COMPILE_MIN_EAGER_SECONDS / (144 * 0.02))
    assert auto.paths[:8] == ds.paths + ds.paths and len(mod._auto_dataset(ds, 5, eager)) == 5
