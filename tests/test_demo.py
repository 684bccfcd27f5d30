"""The main job: ``inception-eval demo`` on a copy of the repository with nothing beside it.

The copy sits in a temporary folder (no ``../shared`` next to it), so this is what a user gets
after a fresh clone and the README's install command: the bundled members and photos only.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inception_eval.cli import main as cli_main
from inception_eval.demo import DEMO_ASSETS
from inception_eval.models import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / DEMO_ASSETS
_SKIP = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", "demo-out", "build")


def test_bundled_members_load_with_their_recipe():
    members = sorted((ASSETS / "members").glob("*.pt"))
    assert [m.stem for m in members] == [f"m{k}" for k in range(7)]
    assert sum(m.stat().st_size for m in members) <= 12 * 1024 * 1024
    photos = sorted(p for p in (ASSETS / "photos").rglob("*") if p.is_file())
    assert len(photos) == 100 and len({p.parent.name for p in photos}) == 10
    widths, scales = set(), set()
    for m in members:
        model, info = load_checkpoint(m)
        assert info.num_classes == 10 and len(info.class_names) == 10 and info.input_size == 64
        assert info.training["weights"].startswith("polyak average")
        assert info.training["member"] == m.stem and info.training["seed"] == int(m.stem[1:])
        widths.add(info.width_mult)
        scales.add(tuple(info.training["crop_scale"]))
    assert widths == {0.25, 0.375}  # one wider member, as in the paper's ensemble
    assert len(scales) == 3  # smaller and larger crops


@pytest.mark.slow
def test_demo_on_a_fresh_copy_without_shared_data(tmp_path):
    copy = tmp_path / "clone" / "inception-toolkit"
    shutil.copytree(REPO, copy, ignore=_SKIP)
    assert not (copy.parent / "shared").exists()
    env = dict(os.environ, PYTHONPATH=str(copy), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "inception_eval", "demo", "--out", "demo-out", "--no-progress",
                        "--threads", "1"], cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = copy / "demo-out"
    for name in ("report.md", "configurations.csv", "comparison.json", "timing.json"):
        assert (out / name).is_file(), name
    assert "wrote report" in r.stdout
    rows = list(csv.DictReader(open(out / "configurations.csv")))
    full = [x for x in rows if x["n_models"] == "7" and x["protocol"] == "paper144" and x["classifiers"] == "main"]
    assert len(full) == 1 and full[0]["cost"] == "1008"
    assert len(rows) == 127 * 3 * 2  # every subset x protocol x classifier set
    assert "| main | 7 | 144 (paper144) | 1008 |" in r.stdout
    js = json.loads((out / "comparison.json").read_text())
    assert js["n_images"] == 100 and js["n_excluded"] == 0
    if (out / "cost_vs_top5.png").exists():
        assert (out / "cost_vs_top5.png").stat().st_size > 1000


def test_demo_outside_a_repository_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = cli_main(["demo", "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "demo assets not found" in err and "--assets" in err and str(tmp_path) in err
