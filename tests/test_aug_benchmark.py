"""benchmarks/aug_throughput.py --presets: the per-preset speed table (a benchmark, not a command)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "aug_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("aug_throughput", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_presets_quick_reports_every_preset(bench, imagenet_samples, capsys):
    res = bench.main(["--presets", "--quick", "--data", str(imagenet_samples)])
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[0]) == res
    assert [r["preset"] for r in res["results"]][:3] == ["howard", "howard clamp=final", "colorjitter"]
    assert all(r["wall_ms"] > 0 for r in res["results"])
    assert "| howard |" in out


def test_stage_breakdown_names_the_pipeline_stages(bench, imagenet_samples):
    images = [f.read_bytes() for f in sorted(imagenet_samples.glob("*.JPEG"))[:3]]
    stages = bench.breakdown(images, 1)
    for key in ("decode", "crop+resize", "colour, clamp=each, trailing channel ops deferred (pipeline)",
                "output tensor (channel table folded into normalise, HWC -> float CHW)",
                "output tensor_uint8 (channel table folded into the CHW split)",
                "(reference) whole-file decode (region_decode=False)"):
        assert key in stages, key
    assert stages["decode"] > 0
