"""inception_aug.batch: batched torch photometrics and mirroring vs the per-image kernels."""
from __future__ import annotations

import colorsys
import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from inception_aug import batch as B
from inception_aug.color import PhotometricParams, apply_photometric, sample_photometric
from inception_aug.color_presets import PRESET_DEFAULTS

PRESETS = [("howard", {}), ("howard", {"clamp": "final"}), ("colorjitter", {}), ("colorjitter", {"clamp": "final"}),
           ("colorjitter", {"hue": 0.3}), ("tf-slim", {}), ("tf-slim", {"fast_mode": True})]


def _tolerance(preset: str, opts: dict) -> tuple[float, int]:
    """(fraction of identical uint8 values, max float-path difference in levels) as the module doc
    states: the fused per-image path is OpenCV's fixed-point transform (~5% of values 1 level off)."""
    final = opts.get("clamp", PRESET_DEFAULTS[preset].get("clamp", "each")) == "final"
    return (0.9, 1) if final else (0.999, 4)


def _synthetic(n: int = 6, h: int = 20, w: int = 24, seed: int = 0) -> np.ndarray:
    # smooth colour ramps plus noise: many distinct hues and saturations, black and white pixels
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy + 40 * i) % 256], axis=-1)
        out.append(np.clip(base + rng.normal(0, 20, base.shape), 0, 255))
    imgs = np.stack(out).astype(np.uint8)
    imgs[:, 0, 0] = 0
    imgs[:, 0, 1] = 255
    return imgs


def _to_tensor(imgs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).cpu().numpy()


def _photos(imagenet_samples, n=12, size=(64, 48)) -> np.ndarray:
    import cv2

    from inception_aug.decode import decode_image

    files = sorted(imagenet_samples.glob("*.JPEG"))[:n]
    return np.stack([cv2.resize(decode_image(f), size, interpolation=cv2.INTER_AREA) for f in files])


def _parity(imgs: np.ndarray, preset: str, opts: dict, seed: int, reps: int = 3):
    rng = np.random.default_rng(seed)
    x = _to_tensor(imgs)
    worst_u8, worst_f, same = 0, 0, []
    for _ in range(reps):
        ps = [sample_photometric(preset, rng, **opts) for _ in imgs]
        ref = np.stack([apply_photometric(im, p) for im, p in zip(imgs, ps)]).astype(int)
        out = B.apply_photometric_batch(x, ps)
        assert out.dtype == torch.uint8 and out.shape == x.shape
        out = _to_numpy(out).astype(int)
        worst_u8 = max(worst_u8, int(np.abs(out - ref).max()))
        same.append((out == ref).mean())
        outf = B.apply_photometric_batch(x.float() / 255.0, ps)
        assert outf.dtype == torch.float32
        worst_f = max(worst_f, int(np.abs(np.rint(_to_numpy(outf) * 255.0) - ref).max()))
    return worst_u8, min(same), worst_f


@pytest.mark.parametrize("preset,opts", PRESETS)
def test_batch_matches_per_image_synthetic(preset, opts):
    worst_u8, same, worst_f = _parity(_synthetic(), preset, opts, seed=1)
    min_same, max_f = _tolerance(preset, opts)
    assert worst_u8 <= 1 and same >= min_same
    assert worst_f <= max_f


@pytest.mark.parametrize("preset,opts", PRESETS)
def test_batch_matches_per_image_real_photos(imagenet_samples, preset, opts):
    worst_u8, same, worst_f = _parity(_photos(imagenet_samples), preset, opts, seed=2, reps=2)
    min_same, max_f = _tolerance(preset, opts)
    assert worst_u8 <= 1 and same >= min_same
    assert worst_f <= max_f


def test_none_entries_and_none_params_leave_samples_unchanged():
    imgs = _synthetic(4)
    x = _to_tensor(imgs)
    rng = np.random.default_rng(3)
    ps = [sample_photometric("howard", rng), None, sample_photometric("howard", rng), None]
    out = B.apply_photometric_batch(x, ps)
    assert torch.equal(out[1], x[1]) and torch.equal(out[3], x[3])
    assert not torch.equal(out[0], x[0])
    assert torch.equal(B.apply_photometric_batch(x, None), x)
    assert torch.equal(B.apply_photometric_batch(x, [None] * 4), x)


def test_params_round_trip_through_tensors():
    rng = np.random.default_rng(4)
    for preset, opts in PRESETS:
        ps = [sample_photometric(preset, rng, **opts) for _ in range(7)]
        back = B.params_to_batch(ps).to_list()
        for a, b in zip(ps, back):
            assert a.order == b.order and a.preset == b.preset and a.ordering == b.ordering and a.clamp == b.clamp
            for name in a.order:
                assert getattr(b, name) == pytest.approx(getattr(a, name), abs=1e-6)
            if a.lighting is not None:
                assert b.lighting == pytest.approx(a.lighting, abs=1e-6)


def test_sampled_batch_params_drive_the_per_image_kernels():
    # draws from a torch.Generator, converted to PhotometricParams, give the same pixels per image
    imgs = _synthetic(8)
    x = _to_tensor(imgs)
    for preset, opts in PRESETS:
        bp = B.sample_batch_photometric(preset, 8, torch.Generator().manual_seed(5), **opts)
        out = _to_numpy(B.apply_photometric_batch(x, bp)).astype(int)
        ref = np.stack([apply_photometric(im, p) for im, p in zip(imgs, bp.to_list())]).astype(int)
        assert np.abs(out - ref).max() <= 1


def test_generator_draws_are_deterministic_and_distributed_like_per_image():
    a = B.sample_batch_photometric("colorjitter", 50, torch.Generator().manual_seed(6), hue=0.1)
    b = B.sample_batch_photometric("colorjitter", 50, torch.Generator().manual_seed(6), hue=0.1)
    assert torch.equal(a.order, b.order) and torch.equal(a.values, b.values)

    n = 12000
    bp = B.sample_batch_photometric("colorjitter", n, torch.Generator().manual_seed(7), brightness=0.4,
                                    contrast=(0.7, 1.1), saturation=0.2, hue=0.1)
    perms = [tuple(r) for r in bp.order.tolist()]
    counts = [perms.count(p) for p in itertools.permutations(range(4))]
    assert stats.chisquare(counts).pvalue > 1e-3
    for i, (lo, hi) in enumerate([(0.6, 1.4), (0.7, 1.1), (0.8, 1.2), (-0.1, 0.1)]):
        v = bp.values[:, i].double().numpy()
        assert v.min() >= lo - 1e-6 and v.max() <= hi + 1e-6
        assert stats.kstest(v, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3

    hw = B.sample_batch_photometric("howard", 6000, torch.Generator().manual_seed(8))
    perms = [tuple(r) for r in hw.order.tolist()]
    assert stats.chisquare([perms.count(p) for p in itertools.permutations(range(3))]).pvalue > 1e-3
    assert abs(float(hw.lighting.std()) - 0.1) < 0.005
    assert float(hw.values[:, :3].min()) >= 0.5 and float(hw.values[:, :3].max()) <= 1.5

    tf = B.sample_batch_photometric("tf-slim", 8000, torch.Generator().manual_seed(9))
    assert stats.chisquare(np.bincount(tf.ordering.numpy(), minlength=4)).pvalue > 1e-3
    assert float(tf.values[:, 0].abs().max()) <= 32 / 255 + 1e-6


def test_hsv_helpers_against_colorsys():
    rng = np.random.default_rng(10)
    rgb = rng.random((50, 3))
    rgb[0] = (0.3, 0.3, 0.3)
    x = torch.tensor(rgb, dtype=torch.float64).T.reshape(1, 3, 50, 1)
    hsv = B.rgb_to_hsv(x)[0, :, :, 0].T.numpy()
    ref = np.array([colorsys.rgb_to_hsv(*c) for c in rgb])
    np.testing.assert_allclose(hsv, ref, atol=1e-12)
    np.testing.assert_allclose(B.hsv_to_rgb(B.rgb_to_hsv(x)).numpy(), x.numpy(), atol=1e-12)


def test_flip_batch_and_flip_draws():
    x = torch.arange(2 * 3 * 2 * 4, dtype=torch.uint8).reshape(2, 3, 2, 4)
    out = B.flip_batch(x, [True, False])
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1])
    np.testing.assert_array_equal(out[0].numpy(), x[0].numpy()[:, :, ::-1])
    flips = B.sample_batch_flips(20000, torch.Generator().manual_seed(11))
    assert flips.dtype == torch.bool
    assert stats.binomtest(int(flips.sum()), 20000, 0.5).pvalue > 1e-3
    assert not B.sample_batch_flips(100, None, p=0.0).any() and B.sample_batch_flips(100, None, p=1.0).all()
    with pytest.raises(ValueError, match="flips must have shape"):
        B.flip_batch(x, [True])
    with pytest.raises(ValueError, match="flip probability"):
        B.sample_batch_flips(3, None, p=1.5)


def test_batch_photometric_callable_records_its_draws():
    imgs = _synthetic(6)
    x = _to_tensor(imgs)
    aug = B.BatchPhotometric("howard", flip=0.5, generator=torch.Generator().manual_seed(12))
    out = aug(x)
    unflipped = B.flip_batch(out, aug.last_flips)  # mirroring is its own inverse
    ref = np.stack([apply_photometric(im, p) for im, p in zip(imgs, aug.last_params.to_list())]).astype(int)
    assert np.abs(_to_numpy(unflipped).astype(int) - ref).max() <= 1
    with pytest.raises(ValueError, match="bad options for photometric preset 'howard'"):
        B.BatchPhotometric("howard", hue=0.2)


def test_bad_batches_raise_clear_errors():
    x = _to_tensor(_synthetic(2))
    rng = np.random.default_rng(13)
    mixed = [sample_photometric("howard", rng), sample_photometric("tf-slim", rng)]
    with pytest.raises(ValueError, match="one photometric preset"):
        B.apply_photometric_batch(x, mixed)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        B.apply_photometric_batch(x[:, :2], [None, None])
    with pytest.raises(ValueError, match="3 photometric parameter sets for a batch of 2"):
        B.apply_photometric_batch(x, [sample_photometric("howard", rng) for _ in range(3)])
    with pytest.raises(ValueError, match="uint8 or floating point"):
        B.apply_photometric_batch(x.to(torch.int32), [sample_photometric("howard", rng)] * 2)
    with pytest.raises(ValueError, match="unknown photometric preset"):
        B.sample_batch_photometric("sepia", 2)
    mixed = [sample_photometric("howard", rng, clamp="final"), sample_photometric("howard", rng, clamp="each")]
    with pytest.raises(ValueError, match="mixes clamp"):
        B.apply_photometric_batch(x, mixed)
    with pytest.raises(ValueError, match="hue"):
        B.sample_batch_photometric("colorjitter", 2, hue=0.1, clamp="final")


def test_fused_batch_matrices_match_the_per_image_matrix():
    # the vectorised composition equals color.color_matrix sample by sample (float64 algebra)
    from inception_aug.color import color_matrix

    rng = np.random.default_rng(16)
    imgs = _synthetic(5)
    means = imgs.reshape(5, -1, 3).mean(axis=1)
    for preset, opts in [("howard", {"clamp": "final"}), ("colorjitter", {"clamp": "final"})]:
        ps = [sample_photometric(preset, rng, **opts) for _ in range(5)]
        a, b = B.batch_color_matrices(B.params_to_batch(ps), torch.tensor(means))
        for i, p in enumerate(ps):
            m = color_matrix(p, means[i])
            np.testing.assert_allclose(a[i].numpy(), m[:, :3], atol=1e-5)
            np.testing.assert_allclose(b[i].numpy(), m[:, 3], atol=1e-3)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_device_agnostic(device):
    imgs = _synthetic(4)
    x = _to_tensor(imgs).to(device)
    g = torch.Generator(device=device).manual_seed(14)
    bp = B.sample_batch_photometric("howard", 4, g, device=device)
    out = B.apply_photometric_batch(x, bp)
    assert out.device.type == device and out.dtype == torch.uint8
    ref = np.stack([apply_photometric(im, p) for im, p in zip(imgs, bp.to_list())]).astype(int)
    assert np.abs(_to_numpy(out).astype(int) - ref).max() <= 1
    out_f16 = B.apply_photometric_batch(x.to(torch.float16) / 255, bp)
    assert out_f16.dtype == torch.float16


def test_params_with_explicit_values():
    # a hand-written draw: brightness 1.5 then saturation 0 must give gray(1.5 x) per pixel
    img = _synthetic(1)
    p = PhotometricParams("colorjitter", ("brightness", "saturation"), brightness=1.5, saturation=0.0)
    out = _to_numpy(B.apply_photometric_batch(_to_tensor(img), [p]))[0].astype(int)
    b = np.clip(np.rint(1.5 * img[0].astype(float)), 0, 255)
    gray = np.clip(np.rint(b @ np.array([0.2989, 0.587, 0.114])), 0, 255)
    assert np.abs(out - gray[..., None]).max() <= 1


def test_inputs_are_not_modified():
    rng = np.random.default_rng(15)
    x8 = _to_tensor(_synthetic(3))
    xf = x8.float() / 255
    k8, kf = x8.clone(), xf.clone()
    for preset in ("howard", "colorjitter", "tf-slim"):
        ps = [sample_photometric(preset, rng) for _ in range(3)]
        B.apply_photometric_batch(x8, ps)
        B.apply_photometric_batch(xf, ps)
        assert torch.equal(x8, k8) and torch.equal(xf, kf)
