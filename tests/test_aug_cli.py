"""inception-aug command line: preview and hist (the per-preset speed table: tests/test_aug_benchmark.py)."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from inception_aug import cli


def _photo(tmp_path, w=300, h=200):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1).astype(np.uint8)
    img = np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(img).save(path)
    return path


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_preview_writes_grid_and_prints_draws(tmp_path, capsys):
    src = _photo(tmp_path)
    out = tmp_path / "grid.png"
    assert cli.main(["preview", str(src), "--n", "5", "--preset", "paper", "--seed", "3", "--size", "64",
                     "--out", str(out)]) == 0
    draws = _json_lines(capsys.readouterr().out)
    assert len(draws) == 5
    for d in draws:
        x, y, w, h = d["crop"]
        assert 0 <= x and x + w <= 300 and 0 <= y and y + h <= 200
        assert d["area"] == pytest.approx(w * h / (300 * 200), abs=1e-4)
        assert d["ratio"] == pytest.approx(w / h, abs=1e-4)
        assert d["interpolation"] in ("bilinear", "area", "nearest", "bicubic")
        assert isinstance(d["flip"], bool) and d["photometric"]["preset"] == "howard"
    grid = Image.open(out)
    # 6 panels (input + 5) -> 3 columns x 2 rows of 64 px tiles plus padding and captions
    assert grid.width == 3 * (64 + 4) + 4
    assert grid.height > 2 * 64
    # captions are drawn: dark text pixels in the caption strip under the first tile
    strip = np.asarray(grid.convert("L"))[4 + 64 + 2: 4 + 64 + 14, 4:4 + 64]
    assert (strip < 100).any()


def test_preview_is_deterministic_with_a_seed(tmp_path, capsys):
    src = _photo(tmp_path)
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    for out, seed in ((a, "1"), (b, "1"), (c, "2")):
        assert cli.main(["preview", str(src), "--n", "3", "--seed", seed, "--size", "48", "--out", str(out),
                         "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    assert not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(c)))
    assert capsys.readouterr().out == ""


def test_preview_presets_and_overrides(tmp_path, capsys):
    src = _photo(tmp_path)
    assert cli.main(["preview", str(src), "--n", "4", "--preset", "torchvision", "--seed", "0", "--size", "32",
                     "--out", str(tmp_path / "tv.png")]) == 0
    draws = _json_lines(capsys.readouterr().out)
    assert {d["interpolation"] for d in draws} == {"bilinear"}
    assert {d["photometric"]["preset"] for d in draws} == {"colorjitter"}
    assert cli.main(["preview", str(src), "--n", "2", "--photometric", "none", "--seed", "0", "--size", "32",
                     "--no-input", "--colors", "64", "--out", str(tmp_path / "n.png")]) == 0
    assert all("photometric" not in d for d in _json_lines(capsys.readouterr().out))
    assert Image.open(tmp_path / "n.png").mode == "P"


def test_preview_real_photo(imagenet_samples, tmp_path, capsys):
    src = sorted(imagenet_samples.glob("*.JPEG"))[0]
    out = tmp_path / "real.png"
    assert cli.main(["preview", str(src), "--n", "4", "--seed", "0", "--size", "64", "--out", str(out)]) == 0
    assert len(_json_lines(capsys.readouterr().out)) == 4 and out.stat().st_size > 0


def test_preview_bad_inputs_give_clear_errors(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert cli.main(["preview", str(bad), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "error" in err
    assert cli.main(["preview", str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "x.png")]) == 1
    assert "missing.jpg" in capsys.readouterr().err
    assert cli.main(["preview", str(_photo(tmp_path)), "--preset", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown preset" in capsys.readouterr().err
    for flags in (["--photometric", "sepia"], ["--sampler", "random"], ["--size", "0"]):
        assert cli.main(["preview", str(_photo(tmp_path)), *flags, "--out", str(tmp_path / "x.png")]) == 2
        assert capsys.readouterr().err.startswith("inception-aug preview: error: ")
    with pytest.raises(SystemExit):
        cli.main(["preview", str(_photo(tmp_path)), "--n", "0"])


def test_hist_stats_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "hist.png"
    assert cli.main(["hist", "--compare", "--n", "3000", "--size", "500x375", "--out", str(out)]) == 0
    stats = {d["sampler"]: d for d in _json_lines(capsys.readouterr().out)}
    assert set(stats) == {"paper", "torchvision", "tf-slim"}
    assert abs(stats["paper"]["area_mean"] - 0.54) < 0.02  # uniform on [0.08, 1]
    assert stats["torchvision"]["area_mean"] < 0.47  # the rejection sampler's bias (about 0.43)
    assert stats["paper"]["area_gt_0.9"] > 0.07 > stats["torchvision"]["area_gt_0.9"]
    assert Image.open(out).size[0] > 300


def test_hist_without_matplotlib_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert cli.main(["hist", "--n", "10", "--out", str(tmp_path / "h.png")]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install" in err
    assert not (tmp_path / "h.png").exists()


def test_hist_size_argument_is_validated(capsys):
    with pytest.raises(SystemExit):
        cli.main(["hist", "--size", "500by375"])
    assert "size must look like 500x375" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "preview" in capsys.readouterr().out
