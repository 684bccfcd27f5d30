"""Table 1 summary: ops agree with the paper for conv2 and the inception blocks (5a: documented slip),
exact counts from first principles, other sizes/widths/variants, and the `inception-eval model` CLI."""
from __future__ import annotations

import json
import math

import pytest
import torch

from inception_aug.errors import InputError
from inception_eval.models import (
    INCEPTION_SPECS,
    CheckpointError,
    PAPER_TABLE1,
    googlenet,
    model_summary,
    paper_comparison,
    save_checkpoint,
)
from inception_eval.cli import main as cli_main
from inception_eval.models.summary import PAPER_OPS_SLIPS


@pytest.fixture(scope="module")
def paper224():
    return model_summary("paper", 224, 1.0, 1000)


def _inception_weights(cin, c1, c3r, c3, c5r, c5, pp, k5=5):
    """Weights of one inception block from its Table 1 row (independent of the model code)."""
    return cin * c1 + cin * c3r + 9 * c3r * c3 + cin * c5r + k5 * k5 * c5r * c5 + cin * pp


def test_ops_agree_with_paper_for_conv2_and_every_inception_block(paper224):
    rows = {r.key: r for r in paper_comparison(paper224)}
    for key in ["conv2"] + [f"inception{n}" for n, *_ in INCEPTION_SPECS]:
        if key in PAPER_OPS_SLIPS:
            continue
        r = rows[key]
        # Rounding rule: the paper prints whole millions, rounded to nearest or down.
        assert r.paper_ops_m in (round(r.ops_m), math.floor(r.ops_m)), key
        assert abs(r.ops_m - r.paper_ops_m) < 1.0, key
        assert r.ops_agree
    # The brief's list, spelled out.
    expected = {"conv2": 360, "inception3a": 128, "inception3b": 304, "inception4a": 73, "inception4b": 88,
                "inception4c": 100, "inception4d": 119, "inception4e": 170, "inception5b": 71}
    assert {k: PAPER_TABLE1[k][1] for k in expected} == expected


def test_paper_slips_are_real_and_explained(paper224):
    rows = {r.key: r for r in paper_comparison(paper224)}
    # 5a: the table's own filter numbers give 51.08M ops, not the printed 54M ...
    w5a = _inception_weights(832, 256, 160, 320, 32, 128, 128)
    assert w5a == 1_042_432 and paper224.row("inception5a").macs == w5a * 49
    assert not rows["inception5a"].ops_agree and round(rows["inception5a"].ops_m, 2) == 51.08
    # ... and 54M is what the printed (wrong) 1072K params give over 7x7 positions.
    assert round(1072 * 1024 * 49 / 1e6) == 54
    # conv1: 7*7*3*64 weights over 112x112 positions.
    assert paper224.row("conv1").weights == 9408 and paper224.row("conv1").macs == 9408 * 112 * 112
    assert not rows["conv1"].params_agree and not rows["conv1"].ops_agree
    # 4c params: printed 463K, true 497.5K.
    assert paper224.row("inception4c").weights == _inception_weights(512, 128, 128, 256, 24, 64, 64) == 509_440
    assert not rows["inception4c"].params_agree
    # conv2 and 3a params do agree (K = 1024).
    assert rows["conv2"].params_agree and rows["inception3a"].params_agree


def test_exact_counts_and_output_sizes(paper224):
    cin = 192
    for name, *chs in INCEPTION_SPECS:
        r = paper224.row(f"inception{name}")
        w = _inception_weights(cin, *chs)
        side = {"3": 28, "4": 14, "5": 7}[name[0]]
        assert r.weights == w and r.macs == w * side * side, name
        assert r.params == w + sum(chs), name  # plus one bias per output channel of each conv
        assert r.output == (side, side, chs[0] + chs[2] + chs[4] + chs[5])
        assert (r.ch1x1, r.ch3x3red, r.ch3x3, r.ch5x5red, r.ch5x5, r.pool_proj) == tuple(chs)
        cin = r.output[2]
    assert paper224.row("conv2").macs == (64 * 64 + 9 * 64 * 192) * 56 * 56
    assert paper224.row("fc").macs == 1024 * 1000
    assert paper224.row("maxpool4").output == (7, 7, 832) and paper224.row("avgpool").patch == "7x7/1"
    # The paper's "1.5 billion multiply-adds at inference time".
    assert 1.5e9 < paper224.total_macs < 1.6e9


def test_totals_match_the_real_module(paper224):
    m = googlenet("paper")
    main = sum(p.numel() for n, p in m.named_parameters() if not n.startswith("aux"))
    assert paper224.total_params == main
    assert paper224.total_params + paper224.aux_params == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("variant,size,width,classes", [("torchvision", 224, 1.0, 1000), ("paper", 112, 0.25, 10),
                                                         ("torchvision", 299, 0.5, 7)])
def test_other_configurations_match_a_measured_forward(variant, size, width, classes):
    s = model_summary(variant, size, width, classes)
    torch.manual_seed(0)
    m = googlenet(variant, num_classes=classes, width_mult=width).eval()
    outs = {}
    for name in ("inception3a", "inception4e", "inception5b"):
        getattr(m, name).register_forward_hook(lambda mod, i, o, n=name: outs.__setitem__(n, tuple(o.shape)))
    with torch.no_grad():
        m(torch.zeros(1, 3, size, size))
    for name, (b, c, h, w) in outs.items():
        assert s.row(name).output == (h, w, c)
    assert s.total_params + s.aux_params == sum(p.numel() for p in m.parameters())
    if variant == "torchvision":  # 3x3 in the "5x5" branch
        r = s.row("inception3a")
        cin = int(round(192 * width))  # conv3 output feeding 3a
        assert r.weights == _inception_weights(cin, r.ch1x1, r.ch3x3red, r.ch3x3, r.ch5x5red, r.ch5x5, r.pool_proj, k5=3)
    assert "| inception (4e) |" in s.to_markdown()


def test_paper_comparison_requires_the_paper_configuration():
    with pytest.raises(ValueError, match="paper variant at 224"):
        paper_comparison(model_summary("paper", 256))


# ---- CLI --------------------------------------------------------------------------------------------

class _Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def _cli(capsys):
    def run(*args):
        code = cli_main(["model", *args])
        out = capsys.readouterr()
        return _Run(code, out.out, out.err)
    return run


def test_cli_summary_markdown_and_json(_cli):
    r = _cli("--summary", "--compare-paper")
    assert r.returncode == 0, r.stderr
    assert "| inception (3a) |  | 28x28x256 | 2 | 64 | 96 | 128 | 16 | 32 | 32 | 160K | 128.0M |" in r.stdout
    assert "| inception5a | 1,018.0K | 1072K | 51.08M | 54M | no: paper slip |" in r.stdout
    r = _cli("--summary", "--variant", "torchvision", "--size", "160", "--width-mult", "0.5", "--num-classes", "10",
             "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["variant"], d["input_size"], d["width_mult"], d["num_classes"]) == ("torchvision", 160, 0.5, 10)
    assert d["rows"][-2]["output"] == [1, 1, 10]


def test_cli_errors_and_checkpoint(tmp_path, _cli):
    r = _cli("--summary", "--size", "20")
    assert r.returncode == 2 and "minimum of 31 px" in r.stderr
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "c.pt", googlenet("torchvision", num_classes=3, width_mult=0.25),
                    class_names=["a", "b", "c"], training={"epochs": 5})
    r = _cli("--checkpoint", str(tmp_path / "c.pt"))
    assert r.returncode == 0, r.stderr
    assert "variant:         torchvision" in r.stdout and "num_classes:     3" in r.stdout
    assert "3 (a, b, c)" in r.stdout and "'epochs': 5" in r.stdout
    r = _cli("--checkpoint", str(tmp_path / "c.pt"), "--json")
    assert json.loads(r.stdout)["num_classes"] == 3
    (tmp_path / "bad.pt").write_text("nope")
    r = _cli("--checkpoint", str(tmp_path / "bad.pt"))
    assert r.returncode == 1 and "cannot load checkpoint" in r.stderr and "bad.pt" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_errors_follow_the_one_convention(tmp_path, _cli, monkeypatch):
    """inception-eval runs every command under run_command: usage 2, data/model 1, Ctrl-C 130,
    one ``inception-eval <command>: error:`` line and no traceback."""
    r = _cli("--summary", "--compare-paper", "--size", "160")
    assert r.returncode == 2
    assert r.stderr == ("inception-eval model: error: --compare-paper needs the paper variant at --size 224, "
                        "--width-mult 1, --num-classes 1000\n")
    r = _cli("--checkpoint", str(tmp_path / "absent.pt"))
    assert r.returncode == 1 and r.stderr.startswith("inception-eval model: error: cannot load checkpoint")
    assert r.stderr.count("\n") == 1

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("inception_eval.models.summary_report", interrupted)
    r = _cli("--summary")
    assert r.returncode == 130 and "interrupted" in r.stderr
    assert issubclass(CheckpointError, InputError) and issubclass(CheckpointError, ValueError)
