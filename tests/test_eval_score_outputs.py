"""``inception-eval score --per-class CSV --plots DIR``: the files are written and agree with the result."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from inception_eval import data, engine
from inception_eval.cli import main
from inception_eval.models.checkpoint import save_checkpoint
from inception_eval.models.googlenet import googlenet


@pytest.fixture()
def folder(tmp_path):
    """Three classes of small synthetic photos (two per class, different sizes and colours)."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog", "fox")):
        (tmp_path / "d" / name).mkdir(parents=True)
        for k in range(2):
            arr = rng.integers(0, 256, size=(40 + 9 * k, 50 + 7 * c, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / "d" / name / f"{k}.png")
    return tmp_path / "d"


def test_per_class_csv_and_reliability_plots(tmp_path, folder, capsys):
    pytest.importorskip("matplotlib")
    torch.manual_seed(0)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, googlenet("torchvision", num_classes=3, width_mult=0.25), input_size=32,
                    class_names=["cat", "dog", "fox"])
    code = main(["score", "--checkpoint", str(ckpt), "--data", str(folder), "--protocol", "center",
                 "--protocol", "ten", "--workers", "0", "--no-cache", "--no-progress",
                 "--per-class", str(tmp_path / "pc.csv"), "--plots", str(tmp_path / "plots")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "most frequent confusions" in out.out
    res = engine.score(ckpt, data.image_folder(folder), ["center", "ten"], workers=0, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "pc.csv")))
    assert len(rows) == 2 * 3  # protocols x classes
    for row in rows:
        probs = res.probs[(row["protocol"], row["head"])]
        c = int(row["class"])
        mine = res.labels == c
        # Independent reference: the true class is top-1 only if every other score is strictly lower.
        true = probs[mine, c]
        others = probs[mine].copy()
        others[:, c] = -np.inf
        top1 = float(np.mean(true > others.max(axis=1)))
        assert row["name"] == ["cat", "dog", "fox"][c] and int(row["images"]) == 2
        assert float(row["top1_accuracy"]) == pytest.approx(top1)
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["reliability_center.png", "reliability_ten.png"]
    assert all((tmp_path / "plots" / p).stat().st_size > 1000 for p in pngs)
