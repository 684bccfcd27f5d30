"""inception_aug.color: kernels against plain float references, and the statistics of the draws."""
from __future__ import annotations

import colorsys
import dataclasses
import itertools
import math

import numpy as np
import pytest
from scipy import stats

from inception_aug import color as C
from inception_aug import color_u8 as U
from inception_aug.color import PhotometricParams, apply_photometric, sample_photometric

W_TV = np.array([0.2989, 0.587, 0.114])
W_HOWARD = np.array([0.299, 0.587, 0.114])
EIGVAL = np.array([0.2175, 0.0188, 0.0045])
EIGVEC = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])


def _img(seed: int = 0, h: int = 12, w: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[0, 0] = 0  # extremes: black, white, a saturated primary
    img[0, 1] = 255
    img[0, 2] = (255, 0, 0)
    return img


# ---- plain float references, written from the formulas (no code shared with the module) ---------

def _q(x: np.ndarray) -> np.ndarray:
    """uint8 semantics after every op: clamp to [0, 255], round to nearest."""
    return np.clip(np.rint(x), 0, 255)


def ref_brightness(x, f):
    return _q(f * x)


def ref_contrast(x, f, w):
    mean = float((x @ w).mean())
    return _q(f * x + (1 - f) * mean)


def ref_saturation(x, f, w):
    gray = (x @ w)[..., None]
    return _q(f * x + (1 - f) * gray)


def ref_hue_u8(x, shift):
    out = np.empty_like(x)
    for i, j in itertools.product(range(x.shape[0]), range(x.shape[1])):
        h, s, v = colorsys.rgb_to_hsv(*(x[i, j] / 255.0))
        out[i, j] = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
    return _q(out * 255.0)


def ref_lighting(x, alphas):
    off = EIGVEC @ (np.asarray(alphas) * EIGVAL)
    return _q(x + 255.0 * off)


def ref_chain(img: np.ndarray, p: PhotometricParams) -> np.ndarray:
    x = img.astype(np.float64)
    w = W_HOWARD if p.preset == "howard" else W_TV
    for op in p.order:
        if op == "brightness":
            x = ref_brightness(x, p.brightness)
        elif op == "contrast":
            x = ref_contrast(x, p.contrast, w)
        elif op == "saturation":
            x = ref_saturation(x, p.saturation, w)
        elif op == "hue":
            x = ref_hue_u8(x, p.hue)
    if p.lighting is not None:
        x = ref_lighting(x, p.lighting)
    return x


def ref_chain_unclamped(img: np.ndarray, p: PhotometricParams) -> np.ndarray:
    """The chain on float64 values with no clamping or rounding between ops (fb.resnet.torch / timm
    on float tensors), then one clamp to [0, 255] and one rounding."""
    x = img.astype(np.float64)
    w = W_HOWARD if p.preset == "howard" else W_TV
    for op in p.order:
        if op == "brightness":
            x = p.brightness * x
        elif op == "contrast":
            x = p.contrast * x + (1 - p.contrast) * float((x @ w).mean())
        elif op == "saturation":
            x = p.saturation * x + (1 - p.saturation) * (x @ w)[..., None]
    if p.lighting is not None:
        x = x + 255.0 * (EIGVEC @ (np.asarray(p.lighting) * EIGVAL))
    return _q(x)


def _tf_rgb_to_hsv(r, g, b):
    # TF's kernel: V = max, S = range / V if V > 0 else 0, H from the max channel (turns)
    v = max(r, g, b)
    mn = min(r, g, b)
    rng = v - mn
    s = rng / v if v > 0 else 0.0
    if rng == 0 or s == 0:
        return 0.0, s, v
    if v == r:
        h = (g - b) / rng
    elif v == g:
        h = 2.0 + (b - r) / rng
    else:
        h = 4.0 + (r - g) / rng
    return (h / 6.0) % 1.0, s, v


def _hsv_to_rgb(h, s, v):
    # standard hexcone, valid for any s, v (linear in v and v*s)
    h6 = (h % 1.0) * 6.0
    i = int(math.floor(h6)) % 6
    f = h6 - math.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def ref_tf_slim(img: np.ndarray, p: PhotometricParams) -> np.ndarray:
    x = img.astype(np.float64) / 255.0
    for op in p.order:
        if op == "brightness":
            x = x + p.brightness
        elif op == "contrast":
            m = x.reshape(-1, 3).mean(axis=0)
            x = (x - m) * p.contrast + m
        else:
            y = np.empty_like(x)
            for i, j in itertools.product(range(x.shape[0]), range(x.shape[1])):
                h, s, v = _tf_rgb_to_hsv(*x[i, j])
                if op == "saturation":
                    s = min(max(s * p.saturation, 0.0), 1.0)
                else:
                    h = h + p.hue
                y[i, j] = _hsv_to_rgb(h, s, v)
            x = y
    return _q(np.clip(x, 0, 1) * 255.0)


# ---- single kernels -----------------------------------------------------------------------------

@pytest.mark.parametrize("f", [0.0, 0.5, 0.73, 1.0, 1.37, 1.5, 2.0])
def test_brightness_exact(f):
    img = _img(1)
    np.testing.assert_array_equal(C.adjust_brightness_u8(img, f), ref_brightness(img.astype(float), f))


@pytest.mark.parametrize("f", [0.0, 0.5, 0.81, 1.23, 1.5])
def test_contrast_within_one_level(f):
    img = _img(2)
    out = C.adjust_contrast_u8(img, f, W_TV).astype(int)
    ref = ref_contrast(img.astype(float), f, W_TV)
    assert np.abs(out - ref).max() <= 1
    assert (out == ref).mean() > 0.99


@pytest.mark.parametrize("f", [0.0, 0.5, 0.9, 1.4, 1.5])
def test_saturation_within_one_level(f):
    img = _img(3)
    out = C.adjust_saturation_u8(img, f, W_HOWARD).astype(int)
    ref = ref_saturation(img.astype(float), f, W_HOWARD)
    assert np.abs(out - ref).max() <= 1
    assert (out == ref).mean() > 0.99
    if f == 0.0:  # fully desaturated: all channels equal gray
        assert np.abs(out[..., 0] - out[..., 2]).max() <= 1


@pytest.mark.parametrize("shift", [-0.5, -0.2, -0.01, 0.1, 0.33, 0.5])
def test_hue_against_colorsys(shift):
    img = _img(4)
    out = C.adjust_hue_u8(img, shift).astype(int)
    assert np.abs(out - ref_hue_u8(img.astype(float), shift)).max() <= 1


def test_hue_full_turn_and_gray_invariance():
    img = _img(5)
    # +-0.5 turns are the same colour; gray pixels have no hue to shift
    assert np.abs(C.adjust_hue_u8(img, 0.5).astype(int) - C.adjust_hue_u8(img, -0.5)).max() <= 1
    gray = np.repeat(np.arange(0, 256, 16, dtype=np.uint8)[None, :, None], 3, axis=2)
    np.testing.assert_array_equal(C.adjust_hue_u8(gray, 0.3), gray)


def test_lighting_offsets_match_eigen_decomposition():
    alphas = (0.1, -0.2, 0.05)
    off = C.lighting_offset(alphas)
    np.testing.assert_allclose(off, EIGVEC @ (np.array(alphas) * EIGVAL), rtol=1e-12)
    img = _img(6)
    np.testing.assert_array_equal(C.adjust_lighting_u8(img, alphas), ref_lighting(img.astype(float), alphas))
    # the first principal component is the intensity axis: a positive alpha_0 darkens all channels
    assert (C.lighting_offset((1.0, 0.0, 0.0)) < 0).all()


def test_tf_saturation_closed_form_with_out_of_range_values():
    # values below 0 and above 1 (TF does not clip between ops)
    rng = np.random.default_rng(7)
    x = (rng.random((6, 6, 3)) * 1.6 - 0.3).astype(np.float32)
    x[0, 0] = (-0.2, -0.1, -0.3)  # V < 0: TF makes it gray (V, V, V)
    for f in (0.5, 1.3):
        got = C.tf_adjust_saturation(x.copy(), f)
        ref = np.array([[_hsv_to_rgb(*(lambda h, s, v: (h, min(s * f, 1.0), v))(*_tf_rgb_to_hsv(*px)))
                         for px in row] for row in x.astype(np.float64)])
        np.testing.assert_allclose(got, ref, atol=2e-5)
        np.testing.assert_allclose(got[0, 0], [-0.1] * 3, atol=1e-6)


# ---- presets ------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset,opts", [("howard", {"clamp": "each"}), ("colorjitter", {}),
                                         ("colorjitter", {"hue": 0.25}),
                                         ("colorjitter", {"brightness": (0.2, 1.9), "saturation": 0})])
def test_preset_chain_matches_plain_reference(preset, opts):
    rng = np.random.default_rng(11)
    img = _img(8)
    for _ in range(25):
        p = sample_photometric(preset, rng, **opts)
        out = apply_photometric(img, p).astype(int)
        ref = ref_chain(img, p)
        # each op may land 1 level off near a rounding tie; a difference can pass through later ops
        assert np.abs(out - ref).max() <= 2, p
        assert (out == ref).mean() > 0.98, p


@pytest.mark.parametrize("preset,opts", [("howard", {"clamp": "final"}),
                                         ("howard", {"clamp": "final", "lighting_std": 0.3}),
                                         ("howard", {"clamp": "final", "saturation": 0, "lighting_std": 0}),
                                         ("colorjitter", {"clamp": "final"}),
                                         ("colorjitter", {"clamp": "final", "brightness": (0.2, 1.9)})])
def test_fused_chain_matches_unclamped_float64_reference(preset, opts):
    rng = np.random.default_rng(14)
    img = _img(15, 24, 20)
    worst, same = 0, []
    for _ in range(40):
        p = sample_photometric(preset, rng, **opts)
        assert p.clamp == "final" and p.fused
        out = apply_photometric(img, p).astype(int)
        d = np.abs(out - ref_chain_unclamped(img, p))
        worst = max(worst, int(d.max()))
        same.append((d == 0).mean())
    assert worst <= 1  # OpenCV's 8-bit transform is fixed point: 1 level near rounding ties
    assert min(same) > 0.85 and np.mean(same) > 0.93


def test_howard_defaults_to_each_clamp_and_final_is_the_fused_rule():
    rng = np.random.default_rng(16)
    assert sample_photometric("howard", rng).clamp == "each"  # Howard's PIL pipeline clamps per op
    assert sample_photometric("colorjitter", rng).clamp == "each"
    # same generator state -> same numbers in both modes (clamp draws nothing)
    a = sample_photometric("howard", np.random.default_rng(3), clamp="final")
    b = sample_photometric("howard", np.random.default_rng(3))
    assert dataclasses.replace(a, clamp="each") == b
    # brightness x1.5 then contrast x0.5 on a bright image: per-op clamping loses the highlights
    img = np.full((4, 4, 3), (200, 180, 20), dtype=np.uint8)
    img[:2] = (240, 250, 30)
    kw = dict(brightness=1.5, contrast=0.5)
    final = apply_photometric(img, PhotometricParams("howard", ("brightness", "contrast"), **kw, clamp="final"))
    each = apply_photometric(img, PhotometricParams("howard", ("brightness", "contrast"), **kw, clamp="each"))
    p = PhotometricParams("howard", ("brightness", "contrast"), **kw, clamp="final")
    np.testing.assert_array_equal(np.abs(final.astype(int) - ref_chain_unclamped(img, p)).max(), 0)
    np.testing.assert_array_equal(each, ref_chain(img, dataclasses.replace(p, clamp="each")))
    assert np.abs(final.astype(int) - each).max() >= 5
    # the fused matrix itself: contrast mean of the brightened image, from the input's channel means
    m = C.color_matrix(p, img.reshape(-1, 3).mean(axis=0))
    g = 1.5 * float(img.reshape(-1, 3).mean(axis=0) @ W_HOWARD)
    np.testing.assert_allclose(m, np.hstack([0.75 * np.eye(3), np.full((3, 1), 0.5 * g)]), rtol=1e-12)


def test_final_clamp_refuses_hue():
    with pytest.raises(ValueError, match="hue"):
        sample_photometric("colorjitter", np.random.default_rng(0), hue=0.1, clamp="final")
    with pytest.raises(ValueError, match="hue"):
        PhotometricParams("colorjitter", ("hue",), hue=0.1, clamp="final")
    with pytest.raises(ValueError, match="clamp must be one of"):
        sample_photometric("howard", np.random.default_rng(0), clamp="never")


@pytest.mark.parametrize("fast_mode", [False, True])
def test_tf_slim_matches_tf_semantics(fast_mode):
    rng = np.random.default_rng(12)
    img = _img(9, 8, 8)
    for _ in range(12):
        p = sample_photometric("tf-slim", rng, fast_mode=fast_mode)
        out = apply_photometric(img, p).astype(int)
        assert np.abs(out - ref_tf_slim(img, p)).max() <= 1, p


def test_tf_slim_does_not_clip_between_ops():
    # brightness +32/255 then saturation x0.5 on a pixel at 250: TF keeps 250+32 > 255 until the end
    img = np.full((2, 2, 3), (250, 240, 10), dtype=np.uint8)
    p = PhotometricParams("tf-slim", ("brightness", "saturation"), brightness=32 / 255, saturation=0.5, ordering=0,
                          fast_mode=True)
    out = apply_photometric(img, p)
    v = (250 + 32) / 255
    s = (v - (10 + 32) / 255) / v * 0.5
    ref_blue = round(255 * min(1.0, v * (1 - s)))
    assert out[0, 0, 0] == 255 and abs(int(out[0, 0, 2]) - ref_blue) <= 1
    # per-op clipping would first turn (282, 272, 42) into (255, 255, 42): blue 255 * (1 - s_clipped)
    s_clipped = (255 - 42) / 255 * 0.5
    assert abs(int(out[0, 0, 2]) - round(255 * (1 - s_clipped))) >= 10


def test_real_photo_presets(imagenet_samples):
    import cv2

    from inception_aug.decode import decode_image

    path = sorted(imagenet_samples.glob("*.JPEG"))[0]
    img = cv2.resize(decode_image(path), (24, 18), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(13)
    for _ in range(5):
        p = sample_photometric("howard", rng, clamp="each")
        assert np.abs(apply_photometric(img, p).astype(int) - ref_chain(img, p)).max() <= 2
        p = sample_photometric("howard", rng, clamp="final")
        assert np.abs(apply_photometric(img, p).astype(int) - ref_chain_unclamped(img, p)).max() <= 1
        p = sample_photometric("tf-slim", rng)
        assert np.abs(apply_photometric(img, p).astype(int) - ref_tf_slim(img, p)).max() <= 1


def test_none_and_identity():
    img = _img(10)
    assert sample_photometric("none", np.random.default_rng(0)) is None
    assert apply_photometric(img, None) is img
    p = PhotometricParams("colorjitter", ("brightness", "contrast", "saturation", "hue"), brightness=1.0, contrast=1.0,
                          saturation=1.0, hue=0.0)
    out = apply_photometric(img, p)
    assert out is not img and np.abs(out.astype(int) - img).max() <= 1


def test_bad_inputs_raise_clear_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown photometric preset 'sepia'"):
        sample_photometric("sepia", rng)
    with pytest.raises(ValueError, match="bad options for photometric preset 'howard'"):
        sample_photometric("howard", rng, hue=0.1)
    with pytest.raises(ValueError, match="hue range"):
        sample_photometric("colorjitter", rng, hue=0.7)
    with pytest.raises(ValueError, match="brightness must be non-negative"):
        sample_photometric("colorjitter", rng, brightness=-1)
    p = sample_photometric("howard", rng)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        apply_photometric(np.zeros((4, 4, 3), np.float32), p)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        apply_photometric(np.zeros((4, 4), np.uint8), p)
    with pytest.raises(TypeError, match="PhotometricParams or None"):
        apply_photometric(_img(), {"preset": "howard"})
    with pytest.raises(ValueError, match="unknown colour op"):
        PhotometricParams("howard", ("gamma",))


# ---- statistics of the draws --------------------------------------------------------------------

def test_draws_are_pure_functions_of_the_generator():
    for preset in ("howard", "tf-slim", "colorjitter"):
        a = sample_photometric(preset, np.random.default_rng(5))
        b = sample_photometric(preset, np.random.default_rng(5))
        assert a == b and a.to_dict() == b.to_dict()


def test_howard_ranges_order_and_lighting():
    rng = np.random.default_rng(21)
    ps = [sample_photometric("howard", rng) for _ in range(6000)]
    for name in ("brightness", "contrast", "saturation"):
        v = np.array([getattr(p, name) for p in ps])
        assert v.min() >= 0.5 and v.max() <= 1.5
        assert stats.kstest(v, stats.uniform(0.5, 1.0).cdf).pvalue > 1e-3
    counts = {}
    for p in ps:
        counts[p.order] = counts.get(p.order, 0) + 1
    assert set(counts) == set(itertools.permutations(C.HOWARD_OPS))
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3
    alphas = np.array([p.lighting for p in ps])
    assert np.all(np.abs(alphas.std(axis=0) - 0.1) < 0.006)
    assert np.all(np.abs(alphas.mean(axis=0)) < 0.006)


def test_colorjitter_ranges_and_uniform_permutations():
    rng = np.random.default_rng(22)
    ps = [sample_photometric("colorjitter", rng, brightness=0.4, contrast=(0.7, 1.1), saturation=0.2, hue=0.1)
          for _ in range(12000)]
    for name, lo, hi in (("brightness", 0.6, 1.4), ("contrast", 0.7, 1.1), ("saturation", 0.8, 1.2),
                         ("hue", -0.1, 0.1)):
        v = np.array([getattr(p, name) for p in ps])
        assert v.min() >= lo and v.max() <= hi
        assert stats.kstest(v, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3
    counts = {}
    for p in ps:
        counts[p.order] = counts.get(p.order, 0) + 1
    assert len(counts) == 24
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3


def test_colorjitter_parameter_semantics():
    rng = np.random.default_rng(23)
    assert C.jitter_range(0.4, "b") == (0.6, 1.4)
    assert C.jitter_range(1.5, "b") == (0.0, 2.5)  # low end clipped at 0, as torchvision
    assert C.jitter_range(0, "b") is None
    assert C.jitter_range((1.0, 1.0), "b") is None
    assert C.jitter_range(0.2, "hue", center=0.0, bound=(-0.5, 0.5), clip_first_on_zero=False) == (-0.2, 0.2)
    p = sample_photometric("colorjitter", rng)  # defaults 0.4, 0.4, 0.4, hue off
    assert p.hue is None and "hue" not in p.order and len(p.order) == 3
    p = sample_photometric("colorjitter", rng, brightness=0, contrast=0, saturation=0, hue=0)
    assert p.order == ()


def test_tf_slim_orderings_and_ranges():
    rng = np.random.default_rng(24)
    ps = [sample_photometric("tf-slim", rng) for _ in range(8000)]
    counts = np.bincount([p.ordering for p in ps], minlength=4)
    assert stats.chisquare(counts).pvalue > 1e-3
    for p in ps[:50]:
        assert p.order == C.TF_SLIM_ORDERINGS[p.ordering]
    for name, lo, hi in (("brightness", -32 / 255, 32 / 255), ("saturation", 0.5, 1.5), ("hue", -0.2, 0.2),
                         ("contrast", 0.5, 1.5)):
        v = np.array([getattr(p, name) for p in ps])
        assert v.min() >= lo and v.max() <= hi
        assert stats.kstest(v, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3
    fast = [sample_photometric("tf-slim", rng, fast_mode=True) for _ in range(4000)]
    assert all(p.hue is None and p.contrast is None for p in fast)
    first_b = np.mean([p.order == ("brightness", "saturation") for p in fast])
    assert all(p.order == (("brightness", "saturation") if p.ordering == 0 else ("saturation", "brightness"))
               for p in fast)
    assert abs(first_b - 0.25) < 0.03  # TF-slim draws among 4 cases even in fast mode


def test_affine_kernel_equals_the_exact_lookup_table():
    # brightness/contrast/lighting run as one cv2.transform: float32 maths, so only values within
    # float32 precision of a rounding tie may differ from the float64 table, and then by 1 level
    ramp = np.arange(256, dtype=np.uint8)
    img = np.stack([ramp, ramp, ramp], axis=-1)[None]
    rng = np.random.default_rng(31)
    off, worst, total = 0, 0, 0
    for _ in range(1000):
        f, b = rng.uniform(0.5, 1.5), rng.uniform(-60, 60)
        out = U._affine_u8(img, (f, f, f), (b, b, b))[0, :, 0].astype(int)
        ref = np.clip(np.rint(f * ramp.astype(np.float64) + b), 0, 255)
        off += int((out != ref).sum())
        worst = max(worst, int(np.abs(out - ref).max()))
        total += 256
    assert worst <= 1 and off / total < 1e-4


def test_colorjitter_ops_match_torchvision_if_installed():
    F = pytest.importorskip("torchvision.transforms.functional")
    import torch

    img = _img(40, 16, 16)
    t = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    cases = [("brightness", 1.3, F.adjust_brightness), ("contrast", 0.7, F.adjust_contrast),
             ("saturation", 1.4, F.adjust_saturation), ("hue", 0.2, F.adjust_hue)]
    for name, v, fn in cases:
        ours = apply_photometric(img, PhotometricParams("colorjitter", (name,), **{name: v})).astype(int)
        theirs = fn(t, v).permute(1, 2, 0).numpy().astype(int)
        # torchvision's uint8 path truncates where we round: at most 1 level apart
        assert np.abs(ours - theirs).max() <= 1, name
