"""torchrun with 2 CPU processes (gloo) gives the same per-image results as one process, with an image
count that 2 does not divide and an unreadable image among them; nothing is counted twice."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import torch

from inception_eval import data, engine
from inception_eval.models.checkpoint import save_checkpoint
from inception_eval.models.googlenet import googlenet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_two_gloo_processes_equal_one(tmp_path, imagenet_samples):
    torch.manual_seed(0)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, googlenet(num_classes=1000, width_mult=0.25), input_size=64)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    names = sorted(p for p in os.listdir(imagenet_samples) if p.endswith(".JPEG"))[:12:2]  # 6 photos
    rows = [f"{imagenet_samples / n},{i}" for i, n in enumerate(names)]
    rows.insert(3, f"{tmp_path / 'bad.jpg'},7")  # 7 images: 2 does not divide it
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "inception_eval", "score", "--checkpoint", str(ckpt), "--data", str(tmp_path / "list.csv"),
           "--protocol", "ten", "--protocol", "center", "--max-batch", "1", "--workers", "0", "--no-progress",
           "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "r.json"),
           "--probs", str(tmp_path / "r.npz")]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["world_size"] == 2
    assert (summary["images"], summary["images_valid"], summary["images_skipped"]) == (7, 6, 1)
    assert summary["images_computed"] == 6 and summary["forward_views"] == 60  # each image once
    assert summary["skipped"][0]["path"].endswith("bad.jpg")
    got = np.load(tmp_path / "r.npz")

    # One process, same settings (a batch of one view per forward, so the two runs perform exactly
    # the same float operations per image): bit-identical probabilities.
    one = engine.score(ckpt, data.csv_dataset(tmp_path / "list.csv"), ["ten", "center"], max_batch=1,
                       workers=0, progress=False)
    assert got["valid"].tolist() == one.valid.tolist() == [True, True, True, False, True, True, True]
    assert got["labels"].tolist() == one.labels.tolist()
    for (p, h), v in one.probs.items():
        assert np.array_equal(got[f"{p}|{h}"], v), p
    for e in one.probs:
        acc = one.accuracy(*e)
        row = [x for x in summary["results"] if (x["protocol"], x["head"]) == e][0]
        assert (row["images"], row["top1"], row["top5"]) == (6, acc.top1, acc.top5)
