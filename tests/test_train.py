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
               "--epochs", "1", "--batch-size", "12", "--threads", "1", "--schedule", "cosine",
               "--cache-decoded", "--cache-side", "64"])
    assert rc == 0 and out.is_file() and str(out) in capsys.readouterr().out
    from inception_eval.models import load_checkpoint

    tr = load_checkpoint(out)[1].training
    assert (tr["schedule"], tr["cache_decoded"], tr["cache_side"]) == ("cosine", True, 64)
    rc = main(["train", "--data", str(tmp_path / "missing"), "--out", str(out)])
    assert rc == 2 and "missing" in capsys.readouterr().err


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    import math

    cfg = TrainConfig(data="", out="", lr=0.1, epochs=10, schedule="cosine", warmup_epochs=1)
    assert lr_at(0, cfg) == 0.0
    assert lr_at(0.5, cfg) == pytest.approx(0.05)
    assert lr_at(1, cfg) == pytest.approx(0.1)
    assert lr_at(5.5, cfg) == pytest.approx(0.05)  # half-way through the 9 decay epochs
    assert lr_at(1 + 9 / 3, cfg) == pytest.approx(0.05 * (1 + math.cos(math.pi / 3)))
    assert lr_at(10, cfg) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        lr_at(0, TrainConfig(data="", out="", schedule="linear"))


def test_decoded_cache_holds_the_decoded_pixels_and_shrinks_to_the_side(tiny_folder):
    import numpy as np

    from inception_aug.decode import decode_image
    from inception_aug.resize import resize
    from inception_eval.train import _DecodedList

    paths = sorted(str(p) for p in tiny_folder.rglob("*.JPEG"))[:3]
    full = _DecodedList(paths, [0, 1, 0])
    assert [y for _, y in full] == [0, 1, 0]
    for (img, _), p in zip(full, paths):
        assert np.array_equal(img, decode_image(p))
    small = _DecodedList(paths, [0, 1, 0], side=100)
    for (img, _), p in zip(small, paths):
        ref = decode_image(p)
        k = 100 / min(ref.shape[:2])
        want = resize(ref, (round(ref.shape[1] * k), round(ref.shape[0] * k)), "area")
        assert min(img.shape[:2]) == 100 and np.array_equal(img, want)
    big = _DecodedList(paths[:1], [0], side=10_000)  # never enlarged
    assert big[0][0].shape == decode_image(paths[0]).shape


def test_training_from_the_decoded_cache_is_seeded_and_recorded(tiny_folder, tmp_path):
    """Same seed, same draws, same losses (the file path may decode DCT-reduced JPEGs, so its pixels
    differ slightly: compared with itself, not with it); the checkpoint records the cache settings."""
    from inception_eval.models import load_checkpoint

    common = dict(data=str(tiny_folder), width_mult=0.125, size=48, epochs=2, batch_size=6, threads=1,
                  photometric="none", schedule="cosine", warmup_epochs=0.5, lr=0.05, cache_decoded=True,
                  cache_side=96)
    a = train(TrainConfig(out=str(tmp_path / "a.pt"), **common), log=None)
    b = train(TrainConfig(out=str(tmp_path / "b.pt"), **common), log=None)
    assert a.epoch_losses == b.epoch_losses and len(a.epoch_losses) == 2
    _, info = load_checkpoint(a.checkpoint)
    assert info.training["cache_decoded"] is True and info.training["cache_side"] == 96
    assert info.training["schedule"] == "cosine"


# ---- weight decay rule, Polyak averaging, resuming, determinism -------------------------------------

def _tiny_cfg(folder, out, **kw):
    base = dict(data=str(folder), out=str(out), width_mult=0.125, size=48, epochs=2, batch_size=6, threads=1,
                photometric="none", lr=0.05, seed=0)
    base.update(kw)
    return TrainConfig(**base)


def _state(path):
    from inception_eval.models import load_checkpoint

    return load_checkpoint(path)[0].state_dict()


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_caffe_weight_decay_rule_exempts_biases_and_batchnorm(variant):
    from inception_eval.models import googlenet
    from inception_eval.train import param_groups

    m = googlenet(variant, num_classes=3, width_mult=0.125)
    (only,) = param_groups(m, 2e-4, "all")
    assert only["weight_decay"] == 2e-4 and len(only["params"]) == len(list(m.parameters()))
    decay, free = param_groups(m, 2e-4, "caffe")
    assert decay["weight_decay"] == 2e-4 and free["weight_decay"] == 0.0
    names = {id(p): n for n, p in m.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    exempt = {names[id(p)] for p in free["params"]}
    assert decayed.isdisjoint(exempt) and decayed | exempt == set(names.values())
    conv_linear = {f"{mn}.weight" for mn, mod in m.named_modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear))}
    assert decayed == conv_linear  # exactly the convolution and linear weights decay
    assert all(n.endswith(".bias") or ".bn." in n for n in exempt)
    if variant == "torchvision":
        assert {"conv1.bn.weight", "conv1.bn.bias", "fc.bias"} <= exempt and "conv1.conv.bias" not in names.values()
    else:
        assert {"conv1.conv.bias", "fc.bias", "aux1.fc2.bias"} <= exempt and not any(".bn." in n for n in exempt)
    with pytest.raises(ValueError, match="unknown weight_decay_rule 'none'"):
        param_groups(m, 2e-4, "none")


def test_weight_decay_rule_changes_training_and_is_recorded(tiny_folder, tmp_path):
    from inception_eval.cli import main
    from inception_eval.models import load_checkpoint

    out = tmp_path / "caffe.pt"
    assert main(["train", "--data", str(tiny_folder), "--out", str(out), "--width-mult", "0.125", "--size", "48",
                 "--epochs", "1", "--batch-size", "6", "--threads", "1", "--photometric", "none",
                 "--weight-decay", "0.5", "--weight-decay-rule", "caffe", "--sampler", "torchvision",
                 "--crop-scale", "0.3", "0.9"]) == 0
    tr = load_checkpoint(out)[1].training
    assert tr["weight_decay_rule"] == "caffe"
    assert tr["sampler"] == "torchvision" and tr["crop_scale"] == [0.3, 0.9]  # per-member crop choices
    assert [g["weight_decay"] for g in tr["weight_decay_groups"]] == [0.5, 0.0]
    train(_tiny_cfg(tiny_folder, tmp_path / "all.pt", epochs=1, weight_decay=0.5), log=None)
    tr_all = load_checkpoint(tmp_path / "all.pt")[1].training
    assert tr_all["weight_decay_rule"] == "all" and len(tr_all["weight_decay_groups"]) == 1
    a, b = _state(out), _state(tmp_path / "all.pt")
    assert not torch.equal(a["fc.bias"], b["fc.bias"])  # the bias decayed in one run only


def test_polyak_average_equals_a_hand_computed_average():
    from inception_eval.train import PolyakAverage

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    w0 = [p.detach().clone() for p in m.parameters()]
    avg = PolyakAverage(m, 0.75)
    steps = []
    for k in range(3):
        with torch.no_grad():
            for p in m.parameters():
                p.add_(float(k + 1))
        m.train()(torch.randn(4, 2))  # moves the BatchNorm running statistics
        steps.append([p.detach().clone() for p in m.parameters()])
        avg.update(m)
    out = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    avg.copy_to(out)
    for i, p in enumerate(out.parameters()):
        want = w0[i]
        for s in steps:
            want = 0.75 * want + 0.25 * s[i]
        torch.testing.assert_close(p, want, rtol=0, atol=1e-6)
    for b, raw in zip(out.buffers(), m.buffers()):  # buffers are the raw model's, not averaged
        assert torch.equal(b, raw)
    with pytest.raises(ValueError, match="polyak_decay"):
        PolyakAverage(m, 1.0)


def test_polyak_training_saves_the_average_and_keeps_raw_on_request(tiny_folder, tmp_path):
    from inception_eval.models import load_checkpoint

    zero = train(_tiny_cfg(tiny_folder, tmp_path / "d0.pt", polyak_decay=0.0, keep_raw=True), log=None)
    raw0 = tmp_path / "d0.raw.pt"
    assert raw0.is_file() and Path(zero.checkpoint).is_file()
    for k, v in _state(zero.checkpoint).items():  # decay 0: the average is the last weights
        assert torch.equal(v, _state(raw0)[k]), k
    train(_tiny_cfg(tiny_folder, tmp_path / "d9.pt", polyak_decay=0.9, keep_raw=True), log=None)
    avg, raw = _state(tmp_path / "d9.pt"), _state(tmp_path / "d9.raw.pt")
    assert torch.equal(raw["fc.weight"], _state(raw0)["fc.weight"])  # averaging does not change training
    assert not torch.equal(avg["fc.weight"], raw["fc.weight"])
    info = load_checkpoint(tmp_path / "d9.pt")[1]
    assert info.training["polyak_decay"] == 0.9 and info.training["weights"].startswith("polyak average")
    assert load_checkpoint(tmp_path / "d9.raw.pt")[1].training["weights"] == "raw"
    train(_tiny_cfg(tiny_folder, tmp_path / "d5.pt", polyak_decay=0.5), log=None)
    assert not (tmp_path / "d5.raw.pt").exists()


def test_interrupted_run_resumed_equals_an_uninterrupted_one(tiny_folder, tmp_path):
    full = train(_tiny_cfg(tiny_folder, tmp_path / "full.pt", epochs=3, polyak_decay=0.5), log=None)

    def interrupt_after_first_epoch(msg):
        if msg.startswith("epoch 1/"):
            raise KeyboardInterrupt

    cfg = _tiny_cfg(tiny_folder, tmp_path / "part.pt", epochs=3, polyak_decay=0.5, resume=True)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, log=interrupt_after_first_epoch)
    assert not (tmp_path / "part.pt").exists() and (tmp_path / "part.resume.pt").is_file()
    msgs: list[str] = []
    part = train(cfg, log=msgs.append)
    assert any("resumed from" in m and "after epoch 1" in m for m in msgs)
    assert part.epoch_losses == full.epoch_losses and len(part.epoch_losses) == 3
    a, b = _state(full.checkpoint), _state(part.checkpoint)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    with pytest.raises(ValueError, match=r"cannot resume .*settings differ.*\blr\b"):
        train(_tiny_cfg(tiny_folder, tmp_path / "part.pt", epochs=4, polyak_decay=0.5, resume=True, lr=0.01),
              log=None)


def test_training_is_deterministic_per_seed(tiny_folder, tmp_path):
    a = train(_tiny_cfg(tiny_folder, tmp_path / "a.pt", epochs=1), log=None)
    b = train(_tiny_cfg(tiny_folder, tmp_path / "b.pt", epochs=1), log=None)
    c = train(_tiny_cfg(tiny_folder, tmp_path / "c.pt", epochs=1, seed=1), log=None)
    sa, sb, sc = _state(a.checkpoint), _state(b.checkpoint), _state(c.checkpoint)
    assert a.epoch_losses == b.epoch_losses
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["fc.weight"], sc["fc.weight"])


def test_diverging_loss_is_a_usage_error_naming_the_learning_rate(tiny_folder, tmp_path, capsys):
    from inception_aug.errors import UsageError
    from inception_eval.cli import main
    from inception_eval.train import TrainingDivergedError

    assert issubclass(TrainingDivergedError, UsageError) and issubclass(TrainingDivergedError, FloatingPointError)
    with pytest.raises(TrainingDivergedError, match=r"lower --lr \(now 1e\+30\)"):
        train(_tiny_cfg(tiny_folder, tmp_path / "x.pt", epochs=3, lr=1e30), log=None)
    rc = main(["train", "--data", str(tiny_folder), "--out", str(tmp_path / "x.pt"), "--width-mult", "0.125",
               "--size", "48", "--epochs", "1", "--threads", "1", "--sampler", "nope"])
    err = capsys.readouterr().err
    assert rc == 2 and "inception-eval train: error:" in err and "nope" in err
    assert not (tmp_path / "x.pt").exists()
