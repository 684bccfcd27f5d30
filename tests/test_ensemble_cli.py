"""``inception-eval compare`` end to end through the scoring engine, on a few real photos."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import torch

from inception_eval.cli import main as cli_main

SIZE = 64  # tiny models at 64 px keep the engine runs short


@pytest.fixture(scope="module")
def tiny_setup(small_classification, tmp_path_factory):
    """A 10-image ImageFolder (one val photo per class) and three random-init tiny checkpoints."""
    from inception_eval.models import googlenet, save_checkpoint

    root = tmp_path_factory.mktemp("cmp")
    data = root / "data"
    classes = sorted(p.name for p in (small_classification / "val").iterdir() if p.is_dir())
    for c in classes:
        (data / c).mkdir(parents=True)
        first = sorted((small_classification / "val" / c).iterdir())[0]
        os.symlink(first, data / c / first.name)
    ckpts = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = googlenet("paper", num_classes=len(classes), width_mult=0.125)
        path = root / f"net{seed}.pt"
        save_checkpoint(path, model, input_size=SIZE, class_names=classes)
        ckpts.append(path)
    return {"data": data, "ckpts": ckpts, "root": root}


def _dense(arrays, labels):
    avg = sum(a.astype(np.float64) for a in arrays) / len(arrays)
    order = np.argsort(-avg, axis=1, kind="stable")
    return [float(np.mean([labels[i] not in order[i, :k] for i in range(len(labels))])) for k in (1, 5)]


def test_compare_cli_outputs_match_dense_reference(tiny_setup, tmp_path, capsys):
    from inception_eval import engine

    out, cache = tmp_path / "out", tmp_path / "cache"
    a, b = map(str, tiny_setup["ckpts"][:2])
    rc = cli_main(["compare", "--members", a, b, "--data", str(tiny_setup["data"]),
                   "--protocols", "center,ten,paper144", "--classifiers", "main,main+aux", "--greedy",
                   "--out", str(out), "--cache-dir", str(cache), "--quiet", "--workers", "0"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| classifiers | models | crops | cost | seconds | top-1 err | top-5 err |" in printed
    assert "Greedy forward selection" in printed
    for f in ("report.md", "configurations.csv", "comparison.json"):
        assert (out / f).is_file()
    rows = list(csv.DictReader(open(out / "configurations.csv")))
    assert len(rows) == 3 * 3 * 2  # subsets x protocols x classifier sets
    # independent numbers: the engine's cached probabilities, mixed and averaged densely
    res = {n: engine.score(p, str(tiny_setup["data"]), ["center", "ten", "paper144"],
                           heads=("main", "aux1", "aux2"), cache_dir=cache, progress=False, workers=0)
           for n, p in (("net0", a), ("net1", b))}
    assert all(r.images_computed == 0 for r in res.values())  # everything came from the cache
    labels = res["net0"].labels
    crops = {"center": 1, "ten": 10, "paper144": 144}
    base = min(("net0", "net1"), key=lambda n: (_dense([res[n].probs[("center", "main")]], labels)[0], n))
    base_err = _dense([res[base].probs[("center", "main")]], labels)
    for r in rows:
        names = r["members"].split("+")
        heads = {"main": 1.0} if r["classifiers"] == "main" else {"main": 1.0, "aux1": 0.3, "aux2": 0.3}
        mixed = [sum(w * res[n].probs[(r["protocol"], h)].astype(np.float64) for h, w in heads.items())
                 / sum(heads.values()) for n in names]
        top1, top5 = _dense(mixed, labels)
        assert float(r["top1_error"]) == pytest.approx(top1, abs=1e-6)
        assert float(r["top5_error"]) == pytest.approx(top5, abs=1e-6)
        assert int(r["n_crops"]) == crops[r["protocol"]]
        assert int(r["cost"]) == len(names) * crops[r["protocol"]]
        if r["classifiers"] == "main":
            assert float(r["change_top5"]) == pytest.approx(top5 - base_err[1], abs=1e-6)
    js = json.loads((out / "comparison.json").read_text())
    assert js["baseline"]["members"] == [base]
    assert len(js["configs"]) == len(rows)
    assert [p["cost"] for p in js["paper_table3_imagenet"]] == [1, 10, 144, 7, 70, 1008]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (out / "cost_vs_top5.png").read_bytes()[:4] == b"\x89PNG"


def test_rerun_with_added_member_scores_only_it(tiny_setup, tmp_path):
    from inception_eval.comparison import run_comparison

    cache = tmp_path / "cache"
    ck = tiny_setup["ckpts"]
    kw = dict(protocols=["center", "ten"], cache_dir=cache, log=None, progress=False, workers=0)
    first = run_comparison(ck[:2], str(tiny_setup["data"]), out_dir=None, **kw)
    assert [r.images_computed for r in first.runs] == [10, 10]
    second = run_comparison(ck, str(tiny_setup["data"]), out_dir=tmp_path / "o", plot=False, **kw)
    assert [r.images_computed for r in second.runs] == [0, 0, 10]
    assert [r.forward_views for r in second.runs][:2] == [0, 0]
    assert len(second.comparison.configs) == 7 * 2
    # the first two members' single-model numbers did not change
    one = {c.members: c.top5 for c in first.comparison.configs if c.n_models == 1}
    two = {c.members: c.top5 for c in second.comparison.configs if c.n_models == 1}
    assert all(two[k] == v for k, v in one.items())


def test_compare_cli_errors(tiny_setup, tmp_path, capsys):
    rc = cli_main(["compare", "--members", str(tmp_path / "nope.pt"), "--data", str(tiny_setup["data"])])
    assert rc == 1 and "nope.pt" in capsys.readouterr().err  # a missing file is a data error, as in score
    a = str(tiny_setup["ckpts"][0])
    rc = cli_main(["compare", "--members", a, "--data", str(tiny_setup["data"]), "--protocols", "center",
                   "--baseline", "other", "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "o"),
                   "--quiet", "--workers", "0", "--no-plot"])
    assert rc == 2 and "baseline 'other' is not one of the members" in capsys.readouterr().err


def test_demo_reports_missing_data(tmp_path, capsys):
    rc = cli_main(["demo", "--train", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "demo data not found" in err and "absent" in err


def test_compare_cli_baseline_by_path_and_member_weights(tiny_setup, tmp_path, capsys):
    a, b = map(str, tiny_setup["ckpts"][:2])
    common = ["--data", str(tiny_setup["data"]), "--protocols", "center", "--cache-dir", str(tmp_path / "c"),
              "--quiet", "--workers", "0", "--no-plot"]
    rc = cli_main(["compare", "--members", a, b, "--baseline", b, "--member-weights", "1,3",
                   "--out", str(tmp_path / "o")] + common)
    assert rc == 0
    js = json.loads((tmp_path / "o" / "comparison.json").read_text())
    assert js["baseline"]["members"] == ["net1"] and "chosen by the user" in js["baseline_rule"]
    capsys.readouterr()
    rc = cli_main(["compare", "--members", a, b, "--member-weights", "1", "--out", str(tmp_path / "o2")] + common)
    assert rc == 2 and "member weights must be 2 positive numbers" in capsys.readouterr().err
