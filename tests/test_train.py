"""The small training recipe: schedule, checkpoint metadata, loss goes down, bad files named."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from inception_eval.train import TrainConfig, fixed_batch_loss, lr_at, train


def test_lr_schedule_steps_by_four_percent_every_eight_epochs():
    cfg = TrainConfig(data="", out="", lr=0.1)
    assert lr_at(0, cfg) == 0.1
    assert lr_at(7.99, cfg) == 0.1
    assert lr_at(8, cfg) == pytest.approx(0.096)
    assert lr_at(16.5, cfg) == pytest.approx(0.1 * 0.96 ** 2)
    cfg2 = TrainConfig(data="", out="", lr=1.0, lr_step_epochs=1, lr_step_factor=0.5)
    assert [lr_at(e, cfg2) for e in range(4)] == [1.0, 0.5, 0.25, 0.125]


@pytest.fixture(scope="module")
def tiny_folder(small_classification, tmp_path_factory):
    """Two classes x 6 training photos (symlinks)."""
    root = tmp_path_factory.mktemp("train") / "data"
    classes = sorted(p.name for p in (small_classification / "train").iterdir() if p.is_dir())[:2]
    for c in classes:
        (root / c).mkdir(parents=True)
        for f in sorted((small_classification / "train" / c).iterdir())[:6]:
            os.symlink(f, root / c / f.name)
    return root


def test_training_lowers_the_loss_and_saves_metadata(tiny_folder, tmp_path):
    from inception_eval.models import googlenet, load_checkpoint

    cfg = TrainConfig(data=str(tiny_folder), out=str(tmp_path / "m.pt"), width_mult=0.125, size=48,
                      epochs=10, batch_size=6, lr=0.02, seed=0, photometric="none", crop_scale=(0.5, 1.0),
                      threads=1)
    names = sorted(d.name for d in tiny_folder.iterdir())
    paths = sorted(str(p) for p in tiny_folder.rglob("*.JPEG"))
    labels = [names.index(Path(p).parent.name) for p in paths]
    torch.manual_seed(cfg.seed)  # the same initial weights train() starts from
    init = googlenet(cfg.variant, num_classes=2, width_mult=cfg.width_mult)
    before = [fixed_batch_loss(init, paths, labels, size=cfg.size, train_mode=t) for t in (False, True)]
    res = train(cfg, log=None)
    model, info = load_checkpoint(cfg.out)
    after = [fixed_batch_loss(model, paths, labels, size=cfg.size, train_mode=t) for t in (False, True)]
    # the objective (main + 0.3 x aux, same dropout masks) and the eval-mode main loss both went down
    assert after[1] < before[1] - 0.05, (before, after, res.epoch_losses)
    assert after[0] < before[0], (before, after)
    assert info.input_size == 48 and info.num_classes == 2
    assert list(info.class_names) == names
    assert info.training["epochs"] == 10 and info.training["aux_weight"] == 0.3
    assert info.training["lr_step_epochs"] == 8.0 and len(info.training["epoch_losses"]) == 10
    assert info.training["crop_scale"] == [0.5, 1.0]


def test_unreadable_training_image_is_named_and_skipped(tiny_folder, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_folder, data, symlinks=True)
    cls = sorted(d for d in data.iterdir())[0]
    (cls / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    msgs: list[str] = []
    res = train(TrainConfig(data=str(data), out=str(tmp_path / "m.pt"), width_mult=0.125, size=48, epochs=1,
                            batch_size=16, threads=1, photometric="none"), log=msgs.append)
    assert [Path(p).name for p, _ in res.skipped] == ["broken.jpg"]
    assert any("broken.jpg" in m and "skipping unreadable" in m for m in msgs)
    assert res.images == 12


def test_train_cli(tiny_folder, tmp_path, capsys):
    from inception_eval.cli import main

    out = tmp_path / "cli.pt"
    rc = main(["train", "--data", str(tiny_folder), "--out", str(out), "--width-mult", "0.125", "--size", "48",
               "--epochs", "1", "--batch-size", "12", "--threads", "1"])
    assert rc == 0 and out.is_file() and str(out) in capsys.readouterr().out
    rc = main(["train", "--data", str(tmp_path / "missing"), "--out", str(out)])
    assert rc == 2 and "missing" in capsys.readouterr().err
