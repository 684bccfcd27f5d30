"""Any checkpoint scored correctly: stated preprocessing, warnings for assumed values, stamp,
TorchScript / torch.export / factory models, and one-line errors with consistent exit codes."""
from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from inception_eval import data, engine
from inception_eval.cli import main
from inception_eval.models import googlenet, save_checkpoint

CLASSES = ["a", "b", "c"]
MEAN, STD = ["0.5", "0.4", "0.3"], ["0.25", "0.2", "0.3"]
RUN = ["--protocol", "center", "--protocol", "ten", "--workers", "0", "--no-cache", "--no-progress"]


def _tiny(seed: int = 0) -> torch.nn.Module:
    """A tiny torchvision-layout GoogLeNet whose outputs depend on the input (the default
    initialisation with fresh BatchNorm statistics gives logits of about 1e-16: every model would
    score alike)."""
    torch.manual_seed(seed)
    model = googlenet("torchvision", num_classes=3, width_mult=0.25, aux_logits=False, transform_input=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            elif isinstance(m, torch.nn.Linear):
                m.weight.normal_(0, 0.02)
    return model.eval()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Synthetic ImageFolder (3 classes x 2 photos), a class-name file, and one model's weights as a
    plain state_dict, our checkpoint, TorchScript, torch.export program and factory + weights."""
    root = tmp_path_factory.mktemp("any")
    rng = np.random.default_rng(0)
    for c in CLASSES:
        (root / "d" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (40 + 8 * i, 56, 3), dtype=np.uint8)).save(root / "d" / c / f"{i}.png")
    (root / "names.txt").write_text("\n".join(CLASSES) + "\n")
    model = _tiny()
    torch.save(model.state_dict(), root / "plain.pt")
    torch.save(model.state_dict(), root / "weights.pt")
    save_checkpoint(root / "ours.pt", model, input_size=48, class_names=CLASSES,
                    mean=tuple(map(float, MEAN)), std=tuple(map(float, STD)))
    x = torch.zeros(2, 3, 48, 48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, x[:1]).save(str(root / "ts.pt"))
    ep = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    torch.export.save(ep, str(root / "prog.pt2"))
    (root / "tiny_factory.py").write_text(
        "from inception_eval.models import googlenet\n\n"
        "def build(num_classes=3):\n"
        "    return googlenet('torchvision', num_classes=num_classes, width_mult=0.25, aux_logits=False)\n\n"
        "def boom():\n    raise RuntimeError('no model today')\n")
    return root


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _warnings(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("warning:")]


def test_plain_state_dict_flags_equal_stamp_equal_api(world, tmp_path, capsys):
    plain = tmp_path / "member.pt"
    shutil.copy(world / "plain.pt", plain)
    flags = ["--input-size", "64", "--mean", *MEAN, "--std", ",".join(STD), "--no-transform-input",
             "--class-names", str(world / "names.txt")]
    code, _, err = _run(capsys, "score", "--checkpoint", str(plain), "--data", str(world / "d"), *RUN, *flags,
                        "--probs", str(tmp_path / "flags.npz"), "--out", str(tmp_path / "flags.json"))
    assert code == 0, err
    assert _warnings(err) == []
    prov = json.loads((tmp_path / "flags.json").read_text())["settings"]["preprocessing"]
    assert {k: v["source"] for k, v in prov.items()} == dict.fromkeys(
        ("input_size", "mean", "std", "transform_input", "class_names"), "flag")
    assert prov["input_size"]["value"] == 64 and prov["transform_input"]["value"] is False

    # The Python API on an independently built model with the same settings.
    model = _tiny(seed=1)
    model.load_state_dict(torch.load(world / "plain.pt", weights_only=True))
    api = engine.score(model, data.image_folder(world / "d"), ["center", "ten"], crop_size=64,
                       mean=[float(v) for v in MEAN], std=[float(v) for v in STD], class_names=CLASSES,
                       workers=0, progress=False)
    got = np.load(tmp_path / "flags.npz")
    assert got["center|main"].std(axis=0).max() > 1e-3  # the photos get different probabilities
    for p in ("center", "ten"):
        np.testing.assert_allclose(got[f"{p}|main"], api.probs[(p, "main")], rtol=0, atol=1e-6)
    assert api.settings["crop_size"] == 64

    # Stamp once, then score with no flags: the same numbers, no warnings, sources "file".
    code, out, err = _run(capsys, "stamp", "--checkpoint", str(plain), *flags)
    assert code == 0 and "rewritten from a state_dict" in out, err
    code, _, err = _run(capsys, "score", "--checkpoint", str(plain), "--data", str(world / "d"), *RUN,
                        "--probs", str(tmp_path / "stamped.npz"), "--out", str(tmp_path / "stamped.json"))
    assert code == 0 and _warnings(err) == [], err
    stamped = np.load(tmp_path / "stamped.npz")
    for key in got.files:
        np.testing.assert_array_equal(stamped[key], got[key])
    prov = json.loads((tmp_path / "stamped.json").read_text())["settings"]["preprocessing"]
    assert {v["source"] for v in prov.values()} == {"file"}

    # Stamping again refuses to change recorded values unless --force.
    code, _, err = _run(capsys, "stamp", "--checkpoint", str(plain), "--input-size", "32")
    assert code == 2 and "input_size is 64" in err and "--force" in err and err.count("\n") == 1
    code, _, err = _run(capsys, "stamp", "--checkpoint", str(plain), "--input-size", "32", "--force")
    assert code == 0, err
    code, out, _ = _run(capsys, "model", "--checkpoint", str(plain))
    assert code == 0 and "input_size:      32 (file)" in out


def test_plain_state_dict_without_flags_warns_per_field(world, tmp_path, capsys):
    code, _, err = _run(capsys, "score", "--checkpoint", str(world / "plain.pt"), "--data", str(world / "d"),
                        "--protocol", "center", "--workers", "0", "--no-cache", "--no-progress",
                        "--out", str(tmp_path / "r.json"))
    assert code == 0, err
    lines = _warnings(err)
    assert len(lines) == 5, err
    for field, assumed, flag in (("input_size", "224 px", "--input-size"), ("mean", "[0.485", "--mean"),
                                 ("std", "[0.229", "--std"), ("transform_input", "True", "--transform-input"),
                                 ("class_names", "class index i is the data's i-th class", "--class-names")):
        line = next(ln for ln in lines if f": {field} not stated" in ln)
        assert str(world / "plain.pt") in line and f"assuming {assumed}" in line and flag in line, line
    prov = json.loads((tmp_path / "r.json").read_text())["settings"]["preprocessing"]
    assert {v["source"] for v in prov.values()} == {"inferred"}
    assert prov["transform_input"]["value"] is True and prov["input_size"]["value"] == 224
    # `model` says the same; a torchvision state_dict cannot be stamped without saying transform_input.
    code, out, _ = _run(capsys, "model", "--checkpoint", str(world / "plain.pt"))
    assert code == 0 and "transform_input: True (inferred)" in out and len(_warnings(out)) == 5
    code, _, err = _run(capsys, "stamp", "--checkpoint", str(world / "plain.pt"), "--input-size", "64")
    assert code == 2 and "--no-transform-input" in err and err.count("\n") == 1


def _stamp_foreign(capsys, world, tmp_path) -> dict[str, list[str]]:
    """Copies of the TorchScript and export files and the factory weights, each stamped with a
    sidecar; returns the score arguments naming each model."""
    for name in ("ts.pt", "prog.pt2", "weights.pt"):
        shutil.copy(world / name, tmp_path / name)
    models = {"ours": [str(world / "ours.pt")], "torchscript": [str(tmp_path / "ts.pt")],
              "export": [str(tmp_path / "prog.pt2")],
              "factory": ["tiny_factory:build", "--weights", str(tmp_path / "weights.pt")]}
    for kind in ("torchscript", "export", "factory"):
        code, out, err = _run(capsys, "stamp", "--checkpoint", *models[kind], "--input-size", "48", "--mean", *MEAN,
                              "--std", *STD, "--class-names", str(world / "names.txt"))
        assert code == 0 and "sidecar" in out, err
    return models


def test_foreign_models_score_like_the_checkpoint(world, tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(world))
    models = _stamp_foreign(capsys, world, tmp_path)
    probs, sources = {}, {}
    for kind, spec in models.items():
        code, _, err = _run(capsys, "score", "--checkpoint", *spec, "--data", str(world / "d"), *RUN,
                            "--probs", str(tmp_path / f"{kind}.npz"), "--out", str(tmp_path / f"{kind}.json"))
        assert code == 0 and _warnings(err) == [], (kind, err)
        probs[kind] = np.load(tmp_path / f"{kind}.npz")
        js = json.loads((tmp_path / f"{kind}.json").read_text())
        sources[kind] = {k: v["source"] for k, v in js["settings"]["preprocessing"].items()}
        assert js["settings"]["model_kind"] == ("googlenet" if kind == "ours" else kind)
    assert probs["ours"]["ten|main"].std(axis=0).max() > 1e-3
    assert sources["ours"] == dict.fromkeys(("input_size", "mean", "std", "transform_input", "class_names"), "file")
    for kind in ("torchscript", "export", "factory"):
        assert sources[kind] == dict.fromkeys(("input_size", "mean", "std", "class_names"), "sidecar")
        for key in probs["ours"].files:
            np.testing.assert_allclose(probs[kind][key], probs["ours"][key], rtol=0, atol=1e-6, err_msg=kind)
    # Aux heads stay a GoogLeNet feature.
    code, _, err = _run(capsys, "score", "--checkpoint", *models["torchscript"], "--data", str(world / "d"), *RUN,
                        "--heads", "main,aux1")
    assert code == 2 and "GoogLeNet feature" in err and err.count("\n") == 1


def test_compare_mixes_kinds_and_sizes(world, tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(world))
    models = _stamp_foreign(capsys, world, tmp_path)
    small = tmp_path / "small.pt"
    save_checkpoint(small, _tiny(seed=3), input_size=32, class_names=CLASSES)
    torch.save(_tiny(seed=5).state_dict(), tmp_path / "other.pt")
    code, _, err = _run(capsys, "stamp", "--checkpoint", f"tiny_factory:build@{tmp_path / 'other.pt'}",
                        "--input-size", "40")
    assert code == 0, err
    members = [models["ours"][0], models["torchscript"][0], models["export"][0],
               f"tiny_factory:build@{tmp_path / 'weights.pt'}", f"tiny_factory:build@{tmp_path / 'other.pt'}",
               str(small)]
    code, _, err = _run(capsys, "compare", "--members", *members,
                        "--data", str(world / "d"), "--protocols", "center,ten", "--out", str(tmp_path / "out"),
                        "--no-plot", "--workers", "0", "--quiet", "--cache-dir", str(tmp_path / "cache"),
                        "--max-exhaustive", "1", "--interpolation", "pil-bilinear")
    assert code == 0, err
    js = json.loads((tmp_path / "out" / "comparison.json").read_text())
    runs = {r["name"]: r for r in js["scoring"]}
    assert runs["small"]["preprocessing"]["input_size"] == {"value": 32, "source": "file"}
    assert runs["prog"]["kind"] == "export" and runs["prog"]["preprocessing"]["input_size"]["source"] == "sidecar"
    assert runs["other"]["kind"] == "factory" and runs["other"]["preprocessing"]["input_size"]["value"] == 40
    assert [ln for ln in _warnings(err) if "other.pt" in ln and "mean not stated" in ln]  # per member
    singles = {(c["members"][0], c["protocol"]): c for c in js["configs"] if c["n_models"] == 1}
    assert singles[("other", "center")]["nll"] != singles[("weights", "center")]["nll"]
    for name in ("ts", "prog", "weights"):
        for p in ("center", "ten"):
            assert singles[(name, p)]["nll"] == pytest.approx(singles[("ours", p)]["nll"], abs=1e-6), (name, p)
            assert singles[(name, p)]["top1"] == singles[("ours", p)]["top1"]


def _bad_torchscript(path) -> None:
    class Bad(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3), keepdim=True)

    torch.jit.script(Bad()).save(str(path))


@pytest.mark.parametrize("command", ["score", "compare", "model"])
def test_bad_input_one_line_errors(world, tmp_path, capsys, monkeypatch, command):
    monkeypatch.syspath_prepend(str(world))
    _bad_torchscript(tmp_path / "bad.pt")
    shutil.copy(world / "ts.pt", tmp_path / "ts.pt")
    (tmp_path / "ts.pt.json").write_text("{not json")
    ours = str(world / "ours.pt")
    cases = [  # (model, extra flags, exit code, text the line must contain)
        (ours, ["--mean", "0.5", "0.5"], 2, "--mean needs 3"),
        (ours, ["--std", "0.2", "0.2", "0"], 2, "--std values must be > 0"),
        (ours, ["--input-size", "8"], 2, f"--input-size 8: {ours} rejects 8-px input"),
        (ours, ["--class-names", str(world / "d" / "a" / "0.png")], 2, "--class-names"),
        (str(tmp_path / "bad.pt"), [], 1, "returned shape (1, 3, 1, 1)"),
        ("nosuch_module_xyz:build", [], 1, "cannot import module 'nosuch_module_xyz'"),
        ("tiny_factory:boom", [], 1, "the factory raised RuntimeError: no model today"),
        (str(tmp_path / "ts.pt"), [], 1, f"bad sidecar {tmp_path / 'ts.pt.json'}: not valid JSON"),
    ]
    if command != "model":
        cases.append((ours, ["--interpolation", "nearest-ish"], 2, "unknown interpolation 'nearest-ish'"))
    for model, extra, rc, needle in cases:
        if command == "score":
            argv = ["score", "--checkpoint", model, "--data", str(world / "d"), *RUN, *extra]
        elif command == "compare":
            argv = ["compare", "--members", model, "--data", str(world / "d"), "--protocols", "center", "--quiet",
                    "--workers", "0", "--no-plot", "--out", str(tmp_path / "o"), "--no-cache", *extra]
        else:
            argv = ["model", "--checkpoint", model, *extra]
        code, _, err = _run(capsys, *argv)
        assert code == rc and needle in err and err.count("\n") == 1, (command, model, extra, code, err)
        if rc == 1:  # a model error names the file or spec
            assert (model.split(":")[0] if ":" in model else model) in err, err


def test_stamp_validates_against_the_model(world, tmp_path, capsys):
    shutil.copy(world / "ts.pt", tmp_path / "ts.pt")
    bad_names = tmp_path / "two.txt"
    bad_names.write_text("a\nb\n")
    ts = str(tmp_path / "ts.pt")
    for extra, needle in ((["--class-names", str(bad_names)], "2 class names (flag) for a model with 3 classes"),
                          (["--input-size", "4"], "rejects 4-px input"),
                          (["--std", "1", "-1", "1"], "--std values must be > 0"),
                          (["--no-transform-input"], "describe GoogLeNet checkpoints"),
                          ([], "nothing to stamp")):
        code, _, err = _run(capsys, "stamp", "--checkpoint", ts, *extra)
        assert code == 2 and needle in err and err.count("\n") == 1, (extra, err)
    assert not (tmp_path / "ts.pt.json").exists()
    # A bad sidecar is replaced only with --force.
    (tmp_path / "ts.pt.json").write_text("[1, 2")
    code, _, err = _run(capsys, "stamp", "--checkpoint", ts, "--input-size", "48")
    assert code == 1 and "bad sidecar" in err
    code, _, err = _run(capsys, "stamp", "--checkpoint", ts, "--input-size", "48", "--force")
    assert code == 0, err
    assert json.loads((tmp_path / "ts.pt.json").read_text())["input_size"] == 48


def test_precedence_flag_file_sidecar_inferred(world, tmp_path):
    from inception_eval.preprocessing import Preprocessing, write_sidecar
    from inception_eval.resolve import resolve_model

    ours, plain = tmp_path / "ours.pt", tmp_path / "plain.pt"
    shutil.copy(world / "ours.pt", ours)
    shutil.copy(world / "plain.pt", plain)
    for f in (ours, plain):
        write_sidecar(f, {"input_size": 32, "mean": (0.1, 0.2, 0.3), "transform_input": False})
    _, info = resolve_model(ours, options=Preprocessing(mean=(0.3, 0.3, 0.3)))
    src = {k: (v["value"], v["source"]) for k, v in info.provenance.items()}
    assert src["input_size"] == (48, "file") and src["mean"] == ([0.3, 0.3, 0.3], "flag")
    assert info.crop_size == 48 and info.mean == (0.3, 0.3, 0.3)
    model, info = resolve_model(plain)
    src = {k: (v["value"], v["source"]) for k, v in info.provenance.items()}
    assert src["input_size"] == (32, "sidecar") and src["transform_input"] == (False, "sidecar")
    assert src["std"][1] == "inferred" and src["class_names"] == (None, "inferred")
    assert model.transform_input is False and [ln.split(": ")[2].split()[0] for ln in info.warnings()] == [
        "std", "class_names"]


def test_cache_key_follows_transform_input_and_factory_arguments(world, tmp_path, capsys, monkeypatch):
    from inception_eval.models.foreign import load_foreign

    monkeypatch.syspath_prepend(str(world))
    base = ["score", "--checkpoint", str(world / "plain.pt"), "--data", str(world / "d"), "--protocol", "center",
            "--workers", "0", "--no-progress", "--cache-dir", str(tmp_path / "c"), "--input-size", "48"]
    computed = []
    for flag in ("--no-transform-input", "--no-transform-input", "--transform-input"):
        code, _, err = _run(capsys, *base, flag, "--out", str(tmp_path / "r.json"))
        assert code == 0, err
        computed.append(json.loads((tmp_path / "r.json").read_text())["images_computed"])
    assert computed == [6, 0, 6]
    _, a = load_foreign("tiny_factory:build", "factory", factory_kwargs={"num_classes": 3})
    _, b = load_foreign("tiny_factory:build", "factory", factory_kwargs={"num_classes": 4})
    _, c = load_foreign("tiny_factory:build", "factory", weights=world / "weights.pt", factory_kwargs={"num_classes": 3})
    assert len({a, b, c}) == 3


def test_code_executing_pickle_stays_refused(world, tmp_path, capsys):
    torch.save(torch.nn.Linear(3, 3), tmp_path / "module.pt")  # a pickled module: loading would run code
    for argv in (["score", "--checkpoint", str(tmp_path / "module.pt"), "--data", str(world / "d"), *RUN],
                 ["model", "--checkpoint", str(tmp_path / "module.pt")]):
        code, _, err = _run(capsys, *argv)
        assert code == 1 and "module.pt" in err and err.count("\n") == 1, err
