"""The clamp="each" colour chain with its trailing per-channel ops deferred to the output stage.

The deferred chain (``color.apply_photometric_deferred``) and every output built from it must equal,
bit for bit, the op-by-op chain of the public uint8 kernels (written out here from their names, not
from the queue logic), and stay within float32-tie distance of the plain float64 formula."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inception_aug import color
from inception_aug import color_u8 as U
from inception_aug.convert import chw_u8, to_output
from inception_aug.decode import decode_image
from inception_aug.normalize import normalization_luts, normalize_image
from inception_aug.transforms import InceptionTrainTransform

W_TV = np.array([0.2989, 0.587, 0.114])
W_HOWARD = np.array([0.299, 0.587, 0.114])
EIGVAL = np.array([0.2175, 0.0188, 0.0045])
EIGVEC = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
CASES = [("howard", {}), ("howard", {"lighting_std": 0.0}), ("howard", {"saturation": 0.0}),
         ("colorjitter", {}), ("colorjitter", {"hue": 0.2}), ("colorjitter", {"saturation": 0.0})]


def op_by_op(img: np.ndarray, p) -> np.ndarray:
    """Every op of the draw applied to the pixels with its own public kernel, in order."""
    w = (0.299, 0.587, 0.114) if p.preset == "howard" else (0.2989, 0.587, 0.114)
    x = img.copy()
    for op in p.order:
        f = getattr(p, op)
        if op == "brightness":
            x = U.adjust_brightness_u8(x, f)
        elif op == "contrast":
            x = U.adjust_contrast_u8(x, f, w)
        elif op == "saturation":
            x = U.adjust_saturation_u8(x, f, w)
        else:
            x = U.adjust_hue_u8(x, f)
    return x if p.lighting is None else U.adjust_lighting_u8(x, p.lighting)


def float64_chain(img: np.ndarray, p) -> np.ndarray:
    """The per-op formula in float64: clamp to [0, 255] and round half to even after every op."""
    x = img.astype(np.float64)
    w = W_HOWARD if p.preset == "howard" else W_TV
    q = lambda v: np.clip(np.rint(v), 0, 255)  # noqa: E731
    for op in p.order:
        f = getattr(p, op)
        if op == "brightness":
            x = q(f * x)
        elif op == "contrast":
            x = q(f * x + (1 - f) * float((x @ w).mean()))
        else:  # saturation (hue is not in these draws)
            x = q(f * x + (1 - f) * (x @ w)[..., None])
    if p.lighting is not None:
        x = q(x + 255.0 * (EIGVEC @ (np.asarray(p.lighting) * EIGVAL)))
    return x


@pytest.fixture(scope="module")
def crops(imagenet_samples):
    files = sorted(imagenet_samples.glob("*.JPEG"))[:: 12][:8]
    out = []
    for f in files:
        im = decode_image(f)
        out.append(np.ascontiguousarray(im[: min(im.shape[0], 200), : min(im.shape[1], 240)]))
    return out


@pytest.mark.parametrize("preset,opts", CASES)
def test_deferred_chain_equals_op_by_op_kernels(crops, preset, opts):
    rng = np.random.default_rng(5)
    for img in crops:
        for _ in range(6):
            p = color.sample_photometric(preset, rng, **opts)
            ref = op_by_op(img, p)
            np.testing.assert_array_equal(color.apply_photometric(img, p), ref)
            pixels, ops = color.apply_photometric_deferred(img, p)
            lut = color.channel_lut(ops) if ops else np.tile(np.arange(256, dtype=np.uint8), (3, 1))
            np.testing.assert_array_equal(np.stack([lut[c][pixels[..., c]] for c in range(3)], -1), ref)
            if p.lighting is not None:
                assert ops, "lighting comes last: it is always deferred"


def test_deferred_chain_is_the_float64_formula_up_to_float32_ties(crops):
    rng = np.random.default_rng(6)
    diff = total = worst = 0
    for img in crops:
        for _ in range(20):
            p = color.sample_photometric("howard", rng)
            d = np.abs(color.apply_photometric(img, p).astype(int) - float64_chain(img, p))
            diff += int((d > 0).sum())
            total += d.size
            worst = max(worst, int(d.max()))
    # A float32 rounding tie can put one op 1 level off, and later factors (<= 1.5 each) carry it
    # on: up to 3 levels after two of them (seen on full-size photos at ~2e-6 of the values).
    assert worst <= 3 and diff / total < 1e-4, (worst, diff / total)


def test_channel_lut_is_the_ops_on_every_level():
    ramp = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(16, 16, 3)
    rng = np.random.default_rng(7)
    for _ in range(50):
        ops = tuple((tuple(rng.uniform(0.3, 1.8, 3)), tuple(rng.uniform(-60, 60, 3))) for _ in range(rng.integers(1, 4)))
        x = ramp.copy()
        for scale, offset in ops:
            x = U._affine_u8(x, scale, offset)  # the kernel every brightness/contrast/lighting op runs
        lut = U.channel_lut(ops)
        assert lut.shape == (3, 256) and lut.dtype == np.uint8
        np.testing.assert_array_equal(lut[:, ramp[..., 0]].transpose(1, 2, 0), x)
        img = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
        want = np.stack([lut[c][img[..., c]] for c in range(3)], -1)
        np.testing.assert_array_equal(U.apply_channel_lut_u8(img, lut), want)
        np.testing.assert_array_equal(U.apply_channel_ops_u8(img, ops), want)
    assert U.apply_channel_ops_u8(ramp, ()) is ramp


def test_saturation_matrix_float32_arithmetic():
    for f in [0.0, 0.37, 0.5, 1.0, 1.234567, 1.5, 2, 1]:
        for w in [(0.299, 0.587, 0.114), (0.2989, 0.587, 0.114)]:
            want = np.empty((3, 3), np.float32)
            for i in range(3):
                for j in range(3):
                    v = np.float32(np.float32(1.0 - f) * np.float32(w[j]))
                    want[i, j] = np.float32(v + np.float32(f)) if i == j else v
            got = U.saturation_matrix(f, w)
            assert got.dtype == np.float32 and np.array_equal(got.view(np.uint32), want.view(np.uint32)), f
    # a numpy float64 factor: float64 arithmetic, one rounding to float32
    f = np.float64(0.081947)
    want = ((1 - f) * np.tile(np.float32(W_HOWARD), (3, 1)) + f * np.eye(3)).astype(np.float32)
    np.testing.assert_array_equal(U.saturation_matrix(f, tuple(W_HOWARD)), want)


def test_chw_u8_and_outputs_with_a_channel_table():
    rng = np.random.default_rng(8)
    img = rng.integers(0, 256, (7, 11, 3), dtype=np.uint8)
    lut = rng.integers(0, 256, (3, 256), dtype=np.uint8)
    mapped = np.stack([lut[c][img[..., c]] for c in range(3)], -1)
    np.testing.assert_array_equal(chw_u8(img, lut), mapped.transpose(2, 0, 1))
    np.testing.assert_array_equal(chw_u8(img), img.transpose(2, 0, 1))
    luts = normalization_luts()
    assert torch.equal(to_output(img, "tensor", luts, lut), normalize_image(mapped, luts))
    assert torch.equal(to_output(img, "tensor_uint8", None, lut), torch.from_numpy(mapped.transpose(2, 0, 1).copy()))
    np.testing.assert_array_equal(to_output(img, "numpy", None, lut), mapped)
    np.testing.assert_array_equal(np.asarray(to_output(img, "pil", None, lut)), mapped)
    assert isinstance(to_output(img, "pil"), Image.Image)
    big = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    big[1:8, 2:13] = img
    view, keep = big[1:8, 2:13], big.copy()
    np.testing.assert_array_equal(to_output(view, "numpy", None, lut), mapped)  # a caller's view
    np.testing.assert_array_equal(chw_u8(view, lut), mapped.transpose(2, 0, 1))
    np.testing.assert_array_equal(big, keep)
    with pytest.raises(ValueError, match="channel table"):
        chw_u8(img[..., 0], lut)
    with pytest.raises(ValueError, match="unknown output"):
        to_output(img, "jpeg")


@pytest.mark.parametrize("photometric", ["howard", "colorjitter"])
def test_transform_outputs_equal_the_uint8_pixels(imagenet_samples, photometric):
    files = sorted(imagenet_samples.glob("*.JPEG"))[:6]
    outs = {o: InceptionTrainTransform.from_preset("paper", photometric=photometric, output=o)
            for o in ("tensor", "tensor_uint8", "numpy")}
    base = outs["numpy"]
    rng = np.random.default_rng(9)
    for f in files:
        data = f.read_bytes()
        arr = decode_image(f)
        for src in (data, arr):
            w, h = (arr.shape[1], arr.shape[0])
            for _ in range(4):
                p = base.sample(w, h, rng)
                keep = arr.copy()
                u8 = base.apply_uint8(src, p)
                assert torch.equal(outs["tensor"].apply(src, p), normalize_image(u8, base.normalize.luts))
                assert torch.equal(outs["tensor_uint8"].apply(src, p), torch.from_numpy(chw_u8(u8)))
                np.testing.assert_array_equal(outs["numpy"].apply(src, p), u8)
                np.testing.assert_array_equal(arr, keep)  # the caller's array is never written


def test_transform_pixels_equal_op_by_op_after_crop_and_flip(imagenet_samples):
    """apply_uint8 = crop/resize/flip (no colour) followed by the op-by-op colour kernels."""
    f = sorted(imagenet_samples.glob("*.JPEG"))[3]
    t = InceptionTrainTransform.from_preset("paper", output="numpy")
    plain = InceptionTrainTransform.from_preset("paper", photometric="none", output="numpy")
    rng = np.random.default_rng(10)
    data = f.read_bytes()
    w, h = Image.open(f).size
    for _ in range(12):
        p = t.sample(w, h, rng)
        geo = plain.apply_uint8(data, p.__class__(p.crop, p.interpolation, p.flip, None, p.image_size))
        np.testing.assert_array_equal(t.apply_uint8(data, p), op_by_op(geo, p.photometric))


@pytest.mark.parametrize("shape", [(5, 3, 17, 23), (1, 3, 1, 1), (2, 3, 224, 224)])
def test_normalize_batch_table_path_is_the_torch_formula(shape):
    from inception_aug.normalize import _lut_path, normalize_batch

    g = torch.Generator().manual_seed(11)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    x.view(-1)[:2] = torch.tensor([0, 255], dtype=torch.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    m = torch.tensor([255.0 * v for v in mean]).view(1, 3, 1, 1)
    s = torch.tensor([1.0 / (255.0 * v) for v in std]).view(1, 3, 1, 1)
    want = (x.float() - m) * s
    assert _lut_path(x)
    got = normalize_batch(x, mean, std)
    assert got.dtype == torch.float32 and got.shape == x.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(got, want)
    # the other layouts (torch path) give the same values
    cl = x.contiguous(memory_format=torch.channels_last)
    if shape[2] * shape[3] > 1:
        assert not _lut_path(cl)
    assert torch.equal(normalize_batch(cl, mean, std), want)
    assert torch.equal(normalize_batch(x[:, :, ::2], mean, std), want[:, :, ::2])
