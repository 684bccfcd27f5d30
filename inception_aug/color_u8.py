"""uint8 colour kernels and the fused colour-matrix algebra (no randomness).

Every ``*_u8`` kernel maps an (H, W, 3) uint8 RGB array to uint8, clamping to [0, 255] and rounding
to nearest; ``dst`` is an optional output array (may be the input: per-pixel maps work in place).
Brightness, contrast and lighting are per-pixel affine maps, applied as their exact 256-entry lookup
table through one ``cv2.transform`` with a diagonal 3x4 matrix (2-4x faster than ``cv2.LUT`` here;
identical except at float32 rounding ties, < 1e-4 of values, by 1 level). Saturation is a 3x3
colour matrix on float32 (exact rounding); hue goes through OpenCV's float32 HSV. Float work reuses
a per-thread scratch buffer (fresh 600 KB arrays per call cost page faults comparable to the maths).

:func:`color_matrix` composes a draw of affine ops (any order, lighting last, nothing clamped) into
one 3x4 matrix from the input's channel means; :func:`apply_color_matrix_u8` applies it.

A chain of per-channel ops (each clamped and rounded: a ``ChannelOp``) has an exact 256-entry table
per channel, :func:`channel_lut`, computed by the same kernel on a ramp, so a consumer that maps
every channel through a table anyway (normalisation, the CHW split) can absorb the chain for free;
:func:`apply_channel_ops_u8` applies it to pixels (bit for bit the op-by-op result).
"""
from __future__ import annotations

import threading
from typing import Optional, Sequence

import cv2
import numpy as np

from inception_aug.color_presets import GRAY_HOWARD, GRAY_TORCHVISION, PhotometricParams, lighting_offset

__all__ = [
    "adjust_brightness_u8", "adjust_contrast_u8", "adjust_saturation_u8", "adjust_hue_u8", "adjust_lighting_u8",
    "gray_mean", "saturation_matrix", "color_matrix", "apply_color_matrix_u8", "scratch_f32", "to_float01",
    "float01_to_u8", "hsv_affine", "ChannelOp", "channel_lut", "apply_channel_lut_u8", "apply_channel_ops_u8",
    "scratch_planes",
]

#: A per-channel affine op of :func:`_affine_u8`: ((scale R, G, B), (offset R, G, B)), levels 0..255.
ChannelOp = tuple[tuple[float, float, float], tuple[float, float, float]]


def _affine_u8(img: np.ndarray, scale: Sequence[float], offset: Sequence[float],
               dst: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-channel affine map x_c -> round(clamp(scale_c * x_c + offset_c, 0, 255)) on uint8.

    One ``cv2.transform`` with a diagonal 3x4 matrix: float32 accumulation, saturated and rounded to
    nearest. This is the exact 256-entry lookup table of the map (identical to the float64 formula
    except within ~1e-5 of a rounding tie) and measured 2-4x faster than ``cv2.LUT`` here."""
    m = np.zeros((3, 4), dtype=np.float32)
    m[0, 0], m[1, 1], m[2, 2] = scale
    m[:, 3] = offset
    return cv2.transform(img, m, dst=dst)  # per-pixel map: dst may be img (in place)


def channel_lut(ops: Sequence[ChannelOp]) -> np.ndarray:
    """(3, 256) uint8 lookup table of a chain of per-channel affine ops: ``lut[c, v]`` is channel c of
    a pixel of level v after every op of ``ops`` in order (each clamped and rounded to uint8).

    Computed by running the same ``cv2.transform`` kernel as :func:`_affine_u8` on a 256-pixel ramp,
    so applying the table equals applying the ops to the pixels bit for bit (the kernel is a
    per-value map: its float32 rounding at a tie depends only on the value, never on the position)."""
    x = _RAMP.copy()
    for scale, offset in ops:
        _affine_u8(x, scale, offset, dst=x)
    return np.ascontiguousarray(x[0].T)


_RAMP = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(1, 256, 3)


def apply_channel_lut_u8(img: np.ndarray, lut: np.ndarray, dst: Optional[np.ndarray] = None) -> np.ndarray:
    """``lut[c, img[..., c]]`` for an (H, W, 3) uint8 image and a (3, 256) uint8 ``lut``.

    Split into per-thread planes, one 1-channel ``cv2.LUT`` per plane in place, merge into ``dst``
    (may be ``img``): measured 51 us at 224x224, against 87 us for one 3-channel ``cv2.LUT``."""
    planes = scratch_planes(img.shape[:2])
    cv2.split(img, planes)
    for c in range(3):
        cv2.LUT(planes[c], lut[c], dst=planes[c])
    return cv2.merge(planes, dst=dst)


def apply_channel_ops_u8(img: np.ndarray, ops: Sequence[ChannelOp], dst: Optional[np.ndarray] = None) -> np.ndarray:
    """Apply a chain of per-channel affine ops (each clamped and rounded) to an (H, W, 3) uint8
    image; equal bit for bit to :func:`_affine_u8` op by op (one ``cv2.transform`` for a single op,
    else the composed :func:`channel_lut`). ``dst`` may be ``img``; no ops: ``img`` itself."""
    if not ops:
        return img
    if len(ops) == 1:
        return _affine_u8(img, ops[0][0], ops[0][1], dst)
    return apply_channel_lut_u8(img, channel_lut(ops), dst)


def scratch_planes(shape_hw: tuple[int, int]) -> list:
    """Three per-thread (H, W) uint8 scratch planes, reused while the shape is unchanged (three fresh
    50 KB planes per call cost more in page faults than a ``cv2.split`` into them)."""
    planes = getattr(_SCRATCH, "planes", None)
    if planes is None or planes[0].shape != tuple(shape_hw):
        planes = [np.empty(shape_hw, dtype=np.uint8) for _ in range(3)]
        _SCRATCH.planes = planes
    return planes


def adjust_brightness_u8(img: np.ndarray, factor: float, dst: Optional[np.ndarray] = None) -> np.ndarray:
    """x -> round(clamp(factor * x)), torchvision ``adjust_brightness`` (blend with black).
    ``dst``: optional output array (may be ``img``), as for every ``*_u8`` kernel here."""
    return _affine_u8(img, (factor,) * 3, (0.0,) * 3, dst)


def gray_mean(img: np.ndarray, weights: Sequence[float]) -> float:
    """Mean of the (float) gray image ``w . rgb`` over all pixels, in the units of ``img``."""
    m = cv2.mean(img)
    return float(weights[0] * m[0] + weights[1] * m[1] + weights[2] * m[2])


def adjust_contrast_u8(img: np.ndarray, factor: float, weights: Sequence[float] = GRAY_TORCHVISION,
                       dst: Optional[np.ndarray] = None) -> np.ndarray:
    """x -> round(clamp(factor * x + (1 - factor) * mean(gray))): blend with the image's gray mean."""
    mean = gray_mean(img, weights)
    return _affine_u8(img, (factor,) * 3, ((1.0 - factor) * mean,) * 3, dst)


def saturation_matrix(factor: float, weights: Sequence[float]) -> np.ndarray:
    """3x3 float32 matrix of ``factor * x + (1 - factor) * (w . x)``. For a Python number every row
    is float32(1 - factor) times float32 ``w``, plus float32(factor) on the diagonal, in float32
    arithmetic; a numpy scalar computes in its own precision, then rounds to float32 (numpy's
    promotion rules: a Python number adopts the array's float32, a numpy float64 does not)."""
    if not isinstance(factor, (int, float)) or isinstance(factor, np.generic):
        w = np.asarray(weights, dtype=np.float32)
        return ((1.0 - factor) * np.tile(w, (3, 1)) + factor * np.eye(3, dtype=np.float32)).astype(np.float32)
    m = np.empty((3, 3), dtype=np.float32)
    m[:] = np.float32(1.0 - factor) * np.asarray(weights, dtype=np.float32)
    m.flat[::4] += np.float32(factor)
    return m


def adjust_saturation_u8(img: np.ndarray, factor: float, weights: Sequence[float] = GRAY_TORCHVISION,
                         dst: Optional[np.ndarray] = None) -> np.ndarray:
    """x -> round(clamp(factor * x + (1 - factor) * gray(pixel))): blend with the per-pixel gray.

    The 3x3 colour matrix runs on float32 (OpenCV's 8-bit colour matrix is fixed-point and puts
    ~4% of values 1 level off), then one rounding to uint8."""
    x = scratch_f32(img.shape)
    np.copyto(x, img)
    cv2.transform(x, saturation_matrix(factor, weights), dst=x)
    if factor > 1.0:  # only an extrapolating blend can go below 0 (0 <= factor <= 1 is convex)
        cv2.threshold(x, 0.0, 0.0, cv2.THRESH_TOZERO, dst=x)
    return cv2.convertScaleAbs(x, dst=dst)  # round to nearest, saturate at 255 (x >= 0: abs is a no-op)


_SCRATCH = threading.local()


def scratch_f32(shape: tuple[int, ...]) -> np.ndarray:
    """A per-thread float32 scratch buffer (reused while the shape is unchanged): allocating a fresh
    600 KB float array per call costs page faults comparable to the maths at 224x224."""
    x = getattr(_SCRATCH, "buf", None)
    if x is None or x.shape != shape:
        x = np.empty(shape, dtype=np.float32)
        _SCRATCH.buf = x
    return x


def to_float01(img: np.ndarray) -> np.ndarray:
    """img / 255 as float32, in the scratch buffer."""
    x = scratch_f32(img.shape)
    np.copyto(x, img)  # cast, then scale: two same-type passes beat one mixed-type ufunc
    np.multiply(x, np.float32(1.0 / 255.0), out=x)
    return x


def float01_to_u8(x: np.ndarray, dst: Optional[np.ndarray] = None) -> np.ndarray:
    """Clip to [0, 1], scale by 255 and round to nearest (in place on ``x``; one uint8 allocation)."""
    cv2.threshold(x, 0.0, 0.0, cv2.THRESH_TOZERO, dst=x)  # clamp below at 0
    # convertScaleAbs: round(|255 x|) saturated at 255; x >= 0 here, so the abs is a no-op.
    return cv2.convertScaleAbs(x, dst=dst, alpha=255.0)


def _shift_hue_inplace(x: np.ndarray, shift: float) -> None:
    """Cyclic shift of H by ``shift`` turns, in place on a float32 RGB array (OpenCV float HSV,
    H in degrees; its HSV->RGB wraps H in [360, 720) itself, so the shift is taken mod 360 and no
    modulo pass over the pixels is needed).
    Float temporaries are reused: fresh 600 KB arrays per call cost more than the maths here."""
    cv2.cvtColor(x, cv2.COLOR_RGB2HSV, dst=x)
    cv2.transform(x, hsv_affine(1.0, 360.0 * shift), dst=x)
    cv2.cvtColor(x, cv2.COLOR_HSV2RGB, dst=x)


def adjust_hue_u8(img: np.ndarray, shift: float, dst: Optional[np.ndarray] = None) -> np.ndarray:
    """Shift H by ``shift`` turns (in [-0.5, 0.5]) in HSV space (float32), round back to uint8."""
    x = to_float01(img)
    _shift_hue_inplace(x, shift)
    return float01_to_u8(x, dst)


def adjust_lighting_u8(img: np.ndarray, alphas: Sequence[float], dst: Optional[np.ndarray] = None) -> np.ndarray:
    """AlexNet PCA lighting: add ``255 * eigvec @ (alpha * eigval)`` per channel, rounded and clamped."""
    off = 255.0 * lighting_offset(alphas)
    return _affine_u8(img, (1.0, 1.0, 1.0), tuple(float(o) for o in off), dst)


def _compose(a: list, b: list, f: float, gw: Sequence[float], gb: float) -> tuple[list, list]:
    """Compose an op whose new rows are ``f * A_i + gw`` and offsets ``f * b_i + gb`` (every colour op
    here scales the map by f and adds the same row ``gw`` and offset ``gb`` to each channel)."""
    return [[f * a[i][j] + gw[j] for j in range(3)] for i in range(3)], [f * v + gb for v in b]


def color_matrix(params: PhotometricParams, channel_mean: Sequence[float]) -> np.ndarray:
    """The (3, 4) float64 affine colour map ``y = M[:, :3] @ x + M[:, 3]`` of a fused draw
    (``params.fused``; any op subset without hue), in the units of the image (levels 0..255).

    ``channel_mean``: the per-channel means of the INPUT image (R, G, B first; e.g. ``cv2.mean``),
    which fix every later contrast mean: after the affine map (A, b) the image's gray mean is
    ``w . (A m + b)``. Ops compose in ``params.order``, lighting last; nothing is clamped.
    Plain Python floats (the 3x3 products cost less than numpy call overhead here)."""
    if "hue" in params.order:
        raise ValueError("hue is not an affine colour op; color_matrix needs hue off")
    w = GRAY_HOWARD if params.preset == "howard" else GRAY_TORCHVISION
    m = [float(channel_mean[0]), float(channel_mean[1]), float(channel_mean[2])]
    a = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # rows of A
    b = [0.0, 0.0, 0.0]
    zero = (0.0, 0.0, 0.0)
    for op in params.order:
        f = getattr(params, op)
        if op == "brightness":  # f x
            a, b = _compose(a, b, f, zero, 0.0)
        elif op == "contrast":  # f x + (1 - f) * gray mean of the current image, w . (A m + b)
            g = sum(w[i] * (a[i][0] * m[0] + a[i][1] * m[1] + a[i][2] * m[2] + b[i]) for i in range(3))
            a, b = _compose(a, b, f, zero, (1.0 - f) * g)
        else:  # saturation: S = f I + (1 - f) 1 w^T, so S X = f X + (1 - f) (w^T X) on every row
            gw = [(1.0 - f) * (w[0] * a[0][j] + w[1] * a[1][j] + w[2] * a[2][j]) for j in range(3)]
            a, b = _compose(a, b, f, gw, (1.0 - f) * (w[0] * b[0] + w[1] * b[1] + w[2] * b[2]))
    if params.lighting is not None:
        off = lighting_offset(params.lighting)
        b = [b[i] + 255.0 * float(off[i]) for i in range(3)]
    return np.array([a[0] + [b[0]], a[1] + [b[1]], a[2] + [b[2]]], dtype=np.float64)


def apply_color_matrix_u8(img: np.ndarray, m: np.ndarray, dst: Optional[np.ndarray] = None) -> np.ndarray:
    """round(clamp(M[:, :3] @ x + M[:, 3], 0, 255)) per pixel of an (H, W, 3) uint8 image.

    One ``cv2.transform`` (8-bit fixed point inside OpenCV: within 1 level of the float64 map,
    ~5% of values 1 level off; 0.02 ms at 224x224 vs 0.1 ms for a float32 round trip).
    ``dst`` may be ``img`` (a per-pixel map works in place)."""
    return cv2.transform(img, m, dst=dst)


def hsv_affine(scale_s: float, shift_h_deg: float) -> np.ndarray:
    """3x4 matrix for cv2.transform on HSV: H += shift_h_deg, S *= scale_s, V kept."""
    m = np.zeros((3, 4), dtype=np.float32)
    m[0, 0], m[1, 1], m[2, 2] = 1.0, scale_s, 1.0
    m[0, 3] = shift_h_deg % 360.0  # OpenCV's HSV->RGB wraps H >= 360 but not H < 0
    return m
