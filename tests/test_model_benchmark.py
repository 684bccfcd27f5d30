"""benchmarks/model_throughput.py runs end to end (tiny settings) and prints JSON plus the table."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "model_throughput.py"


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_throughput_benchmark_smoke(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("model_throughput", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out_json = tmp_path / "t.json"
    assert mod.main(["--batches", "2", "--repeats", "2", "--warmup", "0", "--size", "64", "--threads", "1",
                     "--json-out", str(out_json)]) == 0
    text = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    (row,) = report["results"]
    assert row["batch"] == 2 and set(row["configs"]) == {"fp32 contiguous", "fp32 channels_last", "bf16 channels_last"}
    assert row["configs"]["fp32 contiguous"]["ratio_median_of_rounds"] == 1.0
    assert all(len(c["images_per_s_all"]) == 2 and c["images_per_s_median"] > 0 for c in row["configs"].values())
    # channels_last is the same computation; bf16 differs but stays close.
    assert row["max_abs_prob_diff_channels_last_vs_contiguous"] < 1e-4
    assert 0 < row["max_abs_prob_diff_bf16_vs_fp32"] < 0.2
    assert "| 2 | bf16 channels_last |" in text and text.lstrip().startswith("{")
