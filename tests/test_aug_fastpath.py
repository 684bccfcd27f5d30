"""The training transform's fast paths give the pixels of a plain reference implementation.

``_reference`` below is a straight transcription of the pipeline without the speed-ups (fresh
arrays at every step, numpy transpose for the uint8 CHW output, the lookup-table-free float formula
for normalisation within float32 rounding). Every preset, every output type, real photos and
synthetic arrays (odd sizes, strided views, exact-size crops that resize returns as views), with the
same seed on both sides.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inception_aug.color import apply_photometric
from inception_aug.convert import chw_u8, input_size, load_input
from inception_aug.crop import crop_resize
from inception_aug.transforms import PRESETS, InceptionTrainTransform

OUTPUTS = ("numpy", "tensor_uint8", "tensor", "pil")


def _reference(t: InceptionTrainTransform, img, rng: np.random.Generator):
    """The transform without its fast paths (same draws, same kernels, no in-place work)."""
    src = load_input(img)
    params = t.sample(*input_size(src), rng)
    out = crop_resize(src, params.crop, t.out_wh, params.interpolation, reduced_decode=t.reduced_decode).copy()
    if params.flip:
        out = np.ascontiguousarray(out[:, ::-1])
    out = apply_photometric(out, params.photometric) if params.photometric is not None else out
    chw = np.ascontiguousarray(out.transpose(2, 0, 1))
    if t.output == "numpy":
        return out
    if t.output == "pil":
        return np.asarray(out)  # compared as pixels
    if t.output == "tensor_uint8":
        return chw
    mean = np.array(t.mean).reshape(3, 1, 1)
    std = np.array(t.std).reshape(3, 1, 1)
    return ((chw / 255.0 - mean) / std).astype(np.float32)


def _as_array(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        assert x.is_contiguous()
        return x.numpy()
    return np.asarray(x)


def _inputs(imagenet_samples):
    rng = np.random.default_rng(7)
    photos = sorted(imagenet_samples.glob("*.JPEG"))[::12]
    arrays = [rng.integers(0, 256, size, dtype=np.uint8) for size in ((224, 224, 3), (97, 331, 3), (500, 375, 3))]
    strided = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)[::2, 3:]  # a non-contiguous view
    return [str(p) for p in photos] + [p.read_bytes() for p in photos[:2]] + arrays + [strided]


@pytest.mark.parametrize("preset", tuple(PRESETS))
@pytest.mark.parametrize("output", OUTPUTS)
def test_fast_path_equals_reference(imagenet_samples, preset, output):
    t = InceptionTrainTransform.from_preset(preset, output=output)
    for k, img in enumerate(_inputs(imagenet_samples)):
        before = img.copy() if isinstance(img, np.ndarray) else None
        for draw in range(3):
            got = _as_array(t(img, np.random.default_rng(100 * k + draw)))
            want = _reference(t, img, np.random.default_rng(100 * k + draw))
            assert got.shape == want.shape and got.dtype == want.dtype
            if output == "tensor":
                # the lookup tables hold the float64 value rounded once; the reference rounds once too
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
            else:
                assert np.array_equal(got, want), (preset, output, k, draw)
        if before is not None:
            assert np.array_equal(img, before)  # the caller's array is never written


def test_uint8_output_skips_normalisation_and_owns_its_memory():
    img = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    t = InceptionTrainTransform.from_preset("paper", output="tensor_uint8", photometric="none", flip=0.0,
                                            scale=(1.0, 1.0), interpolations=("nearest",))
    out = t(img, np.random.default_rng(0))
    assert out.dtype == torch.uint8 and out.shape == (3, 224, 224) and out.is_contiguous()
    assert np.array_equal(out.numpy(), img.transpose(2, 0, 1))  # exact-size crop: the input levels
    assert not np.shares_memory(out.numpy(), img)


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (224, 224, 3), (0, 4, 3)])
def test_chw_u8_equals_numpy_transpose(shape):
    a = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    for v in (a, a[:, ::-1], a[:, 1:]):
        got = chw_u8(v)
        assert got.flags.c_contiguous and np.array_equal(got, v.transpose(2, 0, 1))


def test_normalize_batch_equals_the_float_formula_and_keeps_its_input():
    from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD
    from inception_aug.normalize import normalize_batch

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (4, 3, 17, 23), dtype=torch.uint8, generator=g)
    m = torch.tensor([255.0 * v for v in IMAGENET_MEAN]).view(1, 3, 1, 1)
    s = torch.tensor([1.0 / (255.0 * v) for v in IMAGENET_STD]).view(1, 3, 1, 1)
    want = (x.float() - m) * s
    nhwc = x.permute(0, 2, 3, 1).contiguous()
    for inp in (x, x.contiguous(memory_format=torch.channels_last), nhwc.permute(0, 3, 1, 2), x[:, :, 1:, ::2]):
        got = normalize_batch(inp)
        ref = want if inp.shape == x.shape else (inp.float() - m) * s
        assert got.dtype == torch.float32 and got.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(got, ref)
    f = x.float().contiguous(memory_format=torch.channels_last)
    before = f.clone()
    normalize_batch(f)
    assert torch.equal(f, before)  # a float channels_last input is not overwritten


def test_loader_benchmark_runs_and_reports_ratios(imagenet_samples, capsys):
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "loader_throughput.py"
    spec = importlib.util.spec_from_file_location("loader_throughput", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--images", "64", "--rounds", "1", "--workers", "0", "--batch", "16",
                    "--data", str(imagenet_samples), "--device", "cpu"])
    out = capsys.readouterr().out
    assert json.loads(out[: out.index("\n|")]) == json.loads(json.dumps(res))
    names = set(res["results"])
    assert {"ours paper float", "ours uint8 + batch howard", mod.ALBU} <= names
    assert res["setup"]["device"] == "cpu" and res["setup"]["region_decode"]
    assert any(n.startswith(mod.IDLE_LOOP) for n in names)  # the stand-in rows for an accelerator loop
    assert res["ratio_vs_albumentations"][mod.ALBU] == 1.0
    assert all(r["images_per_s"] > 0 and r["loop_cpu_ms"] > 0 for r in res["results"].values())
    assert "| ours paper float |" in out
