"""The compile rule (auto / on / off), its CLI flags, its notice, the compile-failure fallback, the
precision ``auto`` rule and the Inductor cache folder. No test here runs a real torch.compile:
``torch.compile`` is replaced by a stand-in (identity or failing), so these run in seconds."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from inception_aug.errors import UsageError
from inception_eval import cli, data, engine
from inception_eval.constants import AUTO_COMPILE_MIN_EAGER_SECONDS, COMPILE_MODES, DEFAULT_COMPILE
from inception_eval.models import inference
from inception_eval.models.googlenet import googlenet
from inception_eval.protocols import get_protocol, union_cost

CROP = 64
PHOTOS = ("n01440764_tench.JPEG", "n03272010_electric_guitar.JPEG")


def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return googlenet("paper", num_classes=10, width_mult=0.25, aux_logits=False).eval()


def two_photos(root) -> data.ImageDataset:
    return data.ImageDataset([str(root / p) for p in PHOTOS], [0, 1], root=root)


_NATIVE_BF16 = inference.native_bf16


@pytest.fixture(autouse=True)
def _inductor_cache(tmp_path, monkeypatch):
    """Compiled-kernel folder of this test: empty env var (unset for the toolkit), XDG cache in tmp;
    and a CPU without native bf16 unless a test says otherwise, so notices do not depend on the machine."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(inference, "native_bf16", lambda device: False)


class _Calls:
    """Stand-in for torch.compile: counts calls; the compiled callable is the model or raises."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def __call__(self, model, **kwargs):
        self.calls += 1
        assert kwargs == {"dynamic": False}
        if not self.fail:
            return model

        def broken(*a, **k):
            raise RuntimeError("InvalidCxxCompiler: no working C++ compiler found\nsecond line")
        return broken


# ------------------------------------------------------------------------------------------------
# The rule as a pure function
# ------------------------------------------------------------------------------------------------
def test_auto_compiles_exactly_from_the_break_even_seconds():
    kw = dict(device_type="cpu", compiler="/usr/bin/g++", eager_seconds_per_view=0.25)
    limit = AUTO_COMPILE_MIN_EAGER_SECONDS
    at_views = int(limit / 0.25)  # 0.25 s is exact in binary: views x 0.25 == limit exactly
    assert at_views * 0.25 == limit
    below = inference.decide_compile("auto", remaining_views=at_views - 1, **kw)
    at = inference.decide_compile("auto", remaining_views=at_views, **kw)
    assert (below.compile, at.compile) == (False, True)
    assert at.threshold_seconds == below.threshold_seconds == limit and at.remaining_views == at_views
    assert at.notice() == (f"compile on (auto: {at_views:,} views x 0.2500 s/view eager = {limit:,.0f} s >= "
                           f"{limit:g} s, the break-even of the one-time compile)")
    assert below.notice() == (f"compile off (auto: {at_views - 1:,} views x 0.2500 s/view eager = "
                              f"{limit - 0.25:,.0f} s < {limit:g} s, the break-even of the one-time compile)")


def test_rule_with_given_threshold_and_every_reason_to_stay_eager():
    cpu = dict(device_type="cpu", min_seconds=10.0)
    assert inference.decide_compile("auto", remaining_views=40, eager_seconds_per_view=0.25, compiler="cc",
                                    **cpu).compile is True
    assert inference.decide_compile("auto", remaining_views=39, eager_seconds_per_view=0.25, compiler="cc",
                                    **cpu).compile is False
    no_cxx = inference.decide_compile("auto", remaining_views=10**9, eager_seconds_per_view=1.0, compiler=None,
                                      **cpu)
    assert not no_cxx.compile and no_cxx.reason == "auto: no C++ compiler for Inductor found"
    gpu = inference.decide_compile("auto", remaining_views=10**9, eager_seconds_per_view=1.0, compiler="cc",
                                   device_type="cuda")
    assert not gpu.compile and gpu.reason == "auto: break-even not measured on cuda; --compile to force"
    short = inference.decide_compile("auto", remaining_views=20, eager_seconds_per_view=None, compiler="cc", **cpu)
    assert not short.compile and short.reason == "auto: 20 planned views, too few to time"
    # on / off are obeyed whatever the run size, device or compiler
    on = inference.decide_compile(True, remaining_views=0, eager_seconds_per_view=None, compiler=None,
                                  device_type="cuda")
    off = inference.decide_compile("off", remaining_views=10**9, eager_seconds_per_view=1.0, compiler="cc", **cpu)
    assert (on.compile, on.mode, on.reason) == (True, "on", "--compile given")
    assert (off.compile, off.mode, off.reason) == (False, "off", "--no-compile given")
    assert on.threshold_seconds is None and off.threshold_seconds is None


@pytest.mark.parametrize("given, mode", [(None, "auto"), (True, "on"), (False, "off"), ("auto", "auto"),
                                         ("on", "on"), ("off", "off")])
def test_compile_mode_normalises(given, mode):
    assert inference.compile_mode(given) == mode
    assert engine.ScoreSettings(compile=given).compile == mode


def test_bad_compile_mode_is_a_usage_error():
    with pytest.raises(UsageError, match="compile must be one of auto, on, off"):
        engine.ScoreSettings(compile="yes")
    assert COMPILE_MODES == ("auto", "on", "off") and DEFAULT_COMPILE == "auto"
    assert engine.ScoreSettings().compile == "auto"


def test_planned_views_is_images_times_the_union_of_a_landscape_photo():
    p144, ten, center = (get_protocol(n, CROP) for n in ("paper144", "ten", "center"))
    assert engine.planned_views([p144], 7) == 7 * 144
    assert engine.planned_views([center], 3) == 3
    both = union_cost((ten, center), 4 * CROP, 3 * CROP)["unique"]
    assert engine.planned_views([ten, center], 5) == 5 * both
    assert engine.planned_views([p144], 0) == 0


# ------------------------------------------------------------------------------------------------
# Machine probes: compiler, bf16, cache folder
# ------------------------------------------------------------------------------------------------
def test_cxx_compiler_follows_inductor_config():
    from torch._inductor import config  # config.patch restores it (monkeypatch would break the module)

    with config.patch({"cpp.cxx": (None, "no-such-compiler-x9")}):
        assert inference.cxx_compiler() is None
    with config.patch({"cpp.cxx": (None, "sh")}):
        assert inference.cxx_compiler() is not None and os.path.basename(inference.cxx_compiler()) == "sh"
    assert config.cpp.cxx[-1]  # still there for the next compile


def test_cxx_compiler_without_loading_inductor_reads_cxx_and_the_default():
    """In a fresh process: $CXX (then g++) decides, and Inductor's configuration is not imported."""
    code = ("import sys, os; from inception_eval.models import inference as i; c = i.cxx_compiler(); "
            "print(os.path.basename(c) if c else None, 'torch._inductor.config' in sys.modules)")
    env = {**os.environ, "CXX": "sh", "PATH": os.environ["PATH"]}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["sh", "False"]
    env = {**os.environ, "CXX": "no-such-compiler-x9", "PATH": str(Path(sys.executable).parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "False"]  # no $CXX on the PATH and no g++ beside python


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(True, False, "bf16"), (False, True, "bf16"),
                                                        (False, False, "fp32")])
def test_precision_auto_follows_native_bf16(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(inference, "native_bf16", _NATIVE_BF16)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert inference.resolve_precision("auto", "cpu")[0] == expected
    s = engine.ScoreSettings(precision="auto")
    assert s.precision == expected
    assert s.precision_reason == ("auto: cpu has native bf16" if expected == "bf16" else
                                  "auto: no native bf16 on this cpu")
    assert inference.resolve_precision("fp16", "cpu") == ("fp16", "as given")
    assert inference.resolve_precision("fp32", "cpu") == ("fp32", "as given" if expected == "fp32" else
                                                         "as given; this cpu has native bf16: --precision auto "
                                                         "would use it")


def test_compile_cache_defaults_beside_the_score_cache_unless_set(tmp_path, monkeypatch):
    assert inference.use_compile_cache() == str(tmp_path / "xdg" / "inception-eval" / "inductor")
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "xdg" / "inception-eval" / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert inference.use_compile_cache() == str(tmp_path / "mine")


# ------------------------------------------------------------------------------------------------
# The engine: notice, settings, never compiling when told not to, fallback, cache key
# ------------------------------------------------------------------------------------------------
def _score(ds, notices, **kw):
    return engine.score(tiny(), ds, ["ten"], crop_size=CROP, checkpoint_sha256="t", max_batch=2, workers=0,
                        progress=False, warn=lambda line: _keep(line, notices), **kw)


def _keep(line: str, notices: list[str]) -> None:
    if not line.startswith("warning:"):  # the assumed-preprocessing lines are tested elsewhere
        notices.append(line)


def _compiler_present(monkeypatch) -> None:
    monkeypatch.setattr(engine, "cxx_compiler", lambda: "/usr/bin/c++")


def test_no_compile_and_short_auto_runs_never_call_torch_compile(imagenet_samples, monkeypatch):
    fake = _Calls()
    monkeypatch.setattr(torch, "compile", fake)
    _compiler_present(monkeypatch)
    ds = two_photos(imagenet_samples)
    for mode in ("off", False):
        notices: list[str] = []
        r = _score(ds, notices, compile=mode)
        assert r.settings["compile"] is False and r.settings["compile_mode"] == "off"
        assert notices == ["scoring on cpu: fp32 (as given), compile off (--no-compile given), "
                           "2 views per forward pass"]
    # auto: 20 views in batches of 2 are timed on batches 2-5, and 10 remaining views are far too few
    notices = []
    r = _score(ds, notices)
    assert r.settings["compile"] is False and r.settings["compile_planned_views"] == 20
    assert r.settings["compile_remaining_views"] == 10 and r.settings["compile_eager_seconds_per_view"] > 0
    assert len(notices) == 1 and notices[0].startswith("scoring on cpu: fp32 (as given), compile off (auto: 10 views x ")
    # auto with batches too few to time (20 views, batches of 16): decided before the run
    notices = []
    r = engine.score(tiny(), ds, ["ten"], crop_size=CROP, checkpoint_sha256="t", max_batch=16, workers=0,
                     progress=False, warn=lambda line: _keep(line, notices))
    assert notices == ["scoring on cpu: fp32 (as given), compile off (auto: 20 planned views, too few to time), "
                       "16 views per forward pass"]
    assert fake.calls == 0


def _auto_run_at_zero_threshold(fake, imagenet_samples, monkeypatch):
    """An auto run (and an eager one) on two photos with ``fake`` as torch.compile and a threshold
    of 0 s, so the rule compiles after the timed batch: (auto result, eager result, notices)."""
    monkeypatch.setattr(torch, "compile", fake)
    _compiler_present(monkeypatch)
    monkeypatch.setattr(engine, "decide_compile",
                        lambda *a, **k: inference.decide_compile(*a, **{**k, "min_seconds": 0.0}))
    ds = two_photos(imagenet_samples)
    notices: list[str] = []
    r = _score(ds, notices)
    return r, _score(ds, [], compile="off"), notices


def test_auto_compiles_the_rest_of_a_long_enough_run_and_says_so(imagenet_samples, monkeypatch, tmp_path):
    fake = _Calls()
    r, eager, notices = _auto_run_at_zero_threshold(fake, imagenet_samples, monkeypatch)
    assert fake.calls == 1  # one compile, after the timed batch
    assert len(notices) == 1 and notices[0].startswith("scoring on cpu: fp32 (as given), compile on (auto: 10 views x ")
    assert notices[0].endswith(" >= 0 s, the break-even of the one-time compile), 2 views per forward pass")
    s = r.settings
    assert (s["compile"], s["compile_mode"], s["compile_planned_views"], s["compile_remaining_views"]) == (
        True, "auto", 20, 10)
    assert s["compile_cache"] == str(tmp_path / "xdg" / "inception-eval" / "inductor")
    assert s["compile_seconds"] is not None and s["compile_seconds"] >= 0
    # the stand-in compile is the eager model, so the last batch (4 views, its own static size) is the same math
    np.testing.assert_allclose(r.probs[("ten", "main")], eager.probs[("ten", "main")], rtol=0, atol=1e-6)


def test_auto_falls_back_to_eager_with_one_notice_and_on_stays_an_error(imagenet_samples, monkeypatch):
    r, eager, notices = _auto_run_at_zero_threshold(_Calls(fail=True), imagenet_samples, monkeypatch)
    ds = two_photos(imagenet_samples)
    assert len(notices) == 2 and notices[0].startswith("scoring on cpu: fp32 (as given), compile on (auto:")
    assert notices[1] == "torch.compile failed on cpu (RuntimeError: InvalidCxxCompiler: no working C++ " \
                         "compiler found); scoring eagerly"
    assert r.settings["compile"] is False and "compile failed (RuntimeError: InvalidCxxCompiler" in \
        r.settings["compile_reason"]
    np.testing.assert_array_equal(r.probs[("ten", "main")], eager.probs[("ten", "main")])  # the same eager math
    with pytest.raises(RuntimeError, match=r"torch.compile failed on cpu \(RuntimeError: InvalidCxxCompiler.*"
                       r"--no-compile"):
        _score(ds, [], compile="on")


def test_inference_model_fallback_runs_the_failed_batch_eagerly():
    calls = []
    model = tiny()
    x = torch.randn(3, 3, CROP, CROP)
    want = inference.prepare_for_inference(tiny(), precision="fp32")(x)
    orig = torch.compile
    try:
        torch.compile = _Calls(fail=True)
        im = inference.prepare_for_inference(model, compile=True, fallback=True, on_fallback=calls.append)
    finally:
        torch.compile = orig
    got = im(x)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert im.settings.compile is False and im.compile_failure.startswith("RuntimeError: InvalidCxxCompiler")
    assert len(calls) == 1
    im(x)
    assert len(calls) == 1  # said once


def test_compile_is_not_part_of_the_result_cache_key(imagenet_samples, monkeypatch, tmp_path):
    monkeypatch.setattr(torch, "compile", _Calls())
    ds = two_photos(imagenet_samples)
    first = _score(ds, [], compile="off", cache_dir=tmp_path / "c")
    again = _score(ds, [], compile="on", cache_dir=tmp_path / "c")
    assert first.images_computed == 2 and again.images_cached == 2 and again.images_computed == 0
    assert again.settings["compile"] is False and again.settings["compile_reason"].startswith("nothing to compute")
    np.testing.assert_array_equal(first.probs[("ten", "main")], again.probs[("ten", "main")])


# ------------------------------------------------------------------------------------------------
# CLI flags
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command, required", [
    ("score", ["--checkpoint", "m.pt", "--data", "d"]),
    ("compare", ["--members", "m.pt", "--data", "d"]),
])
def test_cli_compile_flags_parse_to_the_tri_state(command, required, capsys):
    parser = cli.build_parser()
    parse = lambda *extra: parser.parse_args([command, *required, *extra])  # noqa: E731
    assert parse().compile == "auto"
    assert parse("--compile").compile == "on"
    assert parse("--no-compile").compile == "off"
    assert parse("--precision", "auto").precision == "auto" and parse().precision == "fp32"
    with pytest.raises(SystemExit):
        parse("--compile", "--no-compile")
    assert "not allowed with argument" in capsys.readouterr().err


def test_auto_times_the_fastest_of_batches_2_to_5(imagenet_samples, monkeypatch):
    """A slow second batch (the loader filling its queue on the same cores) must not decide alone."""
    _compiler_present(monkeypatch)
    model, calls = tiny(), []
    forward = model.forward

    def slow_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            time.sleep(0.4)  # 0.2 s per view in a batch of 2
        return forward(*args, **kwargs)

    model.forward = slow_second
    r = engine.score(model, two_photos(imagenet_samples), ["ten"], crop_size=CROP, checkpoint_sha256="t",
                     max_batch=2, workers=0, progress=False)
    assert len(calls) == 10 and r.settings["compile_mode"] == "auto"
    assert 0 < r.settings["compile_eager_seconds_per_view"] < 0.05


def test_auto_counts_the_views_of_the_photos_read_not_the_landscape_estimate(imagenet_samples, monkeypatch):
    _compiler_present(monkeypatch)
    square = str(imagenet_samples / "n04254680_soccer_ball.JPEG")  # the paper's 3 squares coincide
    ds = data.ImageDataset([square] * 3, [0, 0, 0], root=imagenet_samples)
    notices: list[str] = []
    r = engine.score(tiny(), ds, ["paper144"], crop_size=CROP, checkpoint_sha256="t", max_batch=16, workers=0,
                     progress=False, warn=lambda line: _keep(line, notices))
    assert r.forward_views < 3 * 144 and r.settings["compile_planned_views"] == 3 * 144
    assert r.settings["compile_remaining_views"] == r.forward_views - 5 * 16  # exact: identical photos
    assert r.settings["compile"] is False and f"auto: {r.forward_views - 80:,} views x " in notices[0]


@pytest.mark.parametrize("bf16_gpu, expected", [(True, "bf16"), (False, "fp32")])
def test_precision_auto_on_cuda_follows_the_gpu(monkeypatch, bf16_gpu, expected):
    monkeypatch.setattr(inference, "native_bf16", _NATIVE_BF16)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_gpu)
    assert inference.resolve_precision("auto", "cuda:0") == (
        expected, "auto: cuda has native bf16" if bf16_gpu else "auto: no native bf16 on this cuda")
    assert engine.ScoreSettings(device="cuda", precision="auto").max_batch == engine.DEFAULT_MAX_BATCH["cuda"]
