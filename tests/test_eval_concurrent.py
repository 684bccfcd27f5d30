"""Three ``inception-eval score`` runs of the same checkpoint and data started together on one
--cache-dir: all succeed, the images are computed once, and every run returns what one run does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from inception_eval import data, engine
from inception_eval.models.checkpoint import save_checkpoint
from inception_eval.models.googlenet import googlenet

REPO = Path(__file__).resolve().parents[1]


def test_three_runs_of_one_key_started_together(tmp_path, imagenet_samples):
    torch.manual_seed(0)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, googlenet(num_classes=1000, width_mult=0.25), input_size=64)
    names = sorted(p for p in os.listdir(imagenet_samples) if p.endswith(".JPEG"))[:3]
    (tmp_path / "list.csv").write_text("".join(f"{imagenet_samples / n},{i}\n" for i, n in enumerate(names)))
    cache = tmp_path / "cache"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    procs = []
    for k in range(3):
        cmd = [sys.executable, "-m", "inception_eval", "score", "--checkpoint", str(ckpt),
               "--data", str(tmp_path / "list.csv"), "--protocol", "paper144", "--max-batch", "16",
               "--workers", "0", "--no-progress", "--threads", "1", "--cache-dir", str(cache),
               "--out", str(tmp_path / f"r{k}.json"), "--probs", str(tmp_path / f"r{k}.npz")]
        procs.append(subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    summaries = [json.loads((tmp_path / f"r{k}.json").read_text()) for k in range(3)]
    # One run computed the images; the others waited for its lock and read its finished rows.
    assert sorted(s["images_computed"] for s in summaries) == [0, 0, 3], summaries
    assert all(s["images_computed"] + s["images_cached"] == 3 for s in summaries)
    assert len(list(cache.iterdir())) == 1 and not list(cache.glob("*/.*.tmp"))

    one = engine.score(ckpt, data.csv_dataset(tmp_path / "list.csv"), ["paper144"], max_batch=16, workers=0,
                       progress=False)
    for k in range(3):
        got = np.load(tmp_path / f"r{k}.npz")
        assert np.array_equal(got["paper144|main"], one.probs[("paper144", "main")]), k
        assert got["valid"].all()
