"""Photometric distortions: draw with ``sample_photometric``, apply with ``apply_photometric``.

The one entry point for per-image colour work (uint8 in, uint8 out, values 0..255). The parts live
in three modules by job: :mod:`inception_aug.color_presets` (constants, ``PhotometricParams``,
preset defaults, samplers), :mod:`inception_aug.color_u8` (uint8 kernels and the fused colour
matrix) and :mod:`inception_aug.color_tf` (TF-slim float kernels); their public names are
re-exported here.

Presets (all factors are drawn with the ``numpy.random.Generator`` you pass; nothing global):

``howard``
    Howard (2013), the distortions GoogLeNet's paper cites: brightness, contrast and saturation
    factors uniform in [1 - 0.5, 1 + 0.5], applied in a uniformly random order, then AlexNet "PCA
    lighting": alpha ~ N(0, 0.1) per principal component, RGB offset = eigvec @ (alpha * eigval), in
    units of the [0, 1] intensity scale (x 255 here). The op formulas, gray weights (0.299, 0.587,
    0.114) and lighting constants are fb.resnet.torch's (``datasets/transforms.lua``), which uses the
    same ops with factors in [0.6, 1.4] (``ColorJitter`` 0.4) followed by ``Lighting(0.1, ...)``.
``colorjitter``
    torchvision ``ColorJitter(brightness, contrast, saturation, hue)`` semantics: a random permutation
    of the four ops; brightness = blend with black, contrast = blend with the mean of the gray image,
    saturation = blend with the per-pixel gray image (weights 0.2989, 0.587, 0.114), hue = cyclic shift
    of H in HSV by ``hue`` turns. Parameters as torchvision (a number v means [max(0, 1 - v), 1 + v];
    hue h means [-h, h]; a (lo, hi) pair is used as is; 0 or None disables the op).
    Defaults 0.4, 0.4, 0.4, 0.0: timm's training transform (``color_jitter=0.4``, torchvision's
    ColorJitter on PIL images, no PCA lighting).
``tf-slim``
    TF-slim ``inception_preprocessing.distort_color``: brightness delta uniform in [-32/255, 32/255),
    saturation factor in [0.5, 1.5), hue delta in [-0.2, 0.2), contrast factor in [0.5, 1.5); one of
    the four fixed orderings drawn uniformly; with ``fast_mode=True`` only brightness and saturation
    (ordering 0: brightness first, orderings 1-3: saturation first), exactly as TF-slim.
    TF semantics: saturation scales S in HSV (clipped to [0, 1]), contrast uses the per-channel
    mean, and values are NOT clipped between ops, only at the end.
``none``
    ``sample_photometric`` returns ``None``; ``apply_photometric(img, None)`` returns ``img``.

Clamping (``howard`` and ``colorjitter``; the sampling option ``clamp``, recorded in
``PhotometricParams.clamp``):

- ``clamp="each"`` (default for both): clamp to [0, 255] and round to the nearest integer after every
  op. This is how the sources that produce images apply them: Howard's manipulations were done with
  the Python Imaging Library on uint8 images, and torchvision's ColorJitter (timm's training
  transform) works on PIL images, clamping after every op (PIL and torchvision's uint8 path
  truncate instead of rounding, so they can be up to 1 level lower per op).
- ``clamp="final"``: the ops act on unclamped real values, as fb.resnet.torch applies them to float
  tensors (it never clamps; a uint8 result needs one clamp, at the end). Brightness (x * b),
  contrast (blend with the gray mean), saturation (blend with the per-pixel gray: a 3x3 matrix) and
  lighting (an offset) are all affine, and the gray mean after earlier affine ops is an affine
  function of the input's per-channel means, so the whole chain in its drawn order is ONE 3x4
  colour matrix (``color_matrix``, from one ``cv2.mean``) applied by one ``cv2.transform``.
  OpenCV's 8-bit transform is fixed point: against a float64 evaluation of the unclamped chain it
  is within 1 level, with ~5% of values 1 level off (tested). One pass over the pixels instead of
  one per op, so it is the cheaper rule (``python benchmarks/aug_throughput.py --presets``). Needs
  hue off.
- ``tf-slim`` runs in float32 on [0, 1] without intermediate clipping (as TF does), then clips and
  rounds once.

Deferred trailing ops (``clamp="each"``): ``apply_photometric_deferred`` leaves the per-channel ops
after the last op that needs the pixels (lighting always, plus brightness/contrast after
saturation) unapplied and returns them; the training transform folds their exact table
(``channel_lut``) into its normalisation or CHW-split tables. Same pixels bit for bit, one to three
fewer passes per image (``python benchmarks/aug_throughput.py --stages``).

The contrast mean is the mean of the float gray image (torchvision first truncates the gray image
to uint8 for uint8 inputs; the means differ by < 0.5 level).
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from inception_aug.color_presets import (
    CLAMP_MODES,
    COLORJITTER_OPS,
    GRAY_HOWARD,
    GRAY_TORCHVISION,
    HOWARD_OPS,
    LIGHTING_EIGVAL,
    LIGHTING_EIGVEC,
    PRESET_DEFAULTS,
    PRESETS,
    TF_SLIM_FAST_ORDERINGS,
    TF_SLIM_ORDERINGS,
    PhotometricParams,
    jitter_range,
    lighting_offset,
    sample_photometric,
)
from inception_aug.color_tf import apply_tf_slim, tf_adjust_contrast, tf_adjust_hue, tf_adjust_saturation
from inception_aug.color_u8 import (
    ChannelOp,
    adjust_brightness_u8,
    adjust_contrast_u8,
    adjust_hue_u8,
    adjust_lighting_u8,
    adjust_saturation_u8,
    apply_channel_lut_u8,
    apply_channel_ops_u8,
    apply_color_matrix_u8,
    channel_lut,
    color_matrix,
    gray_mean,
    saturation_matrix,
)

__all__ = [
    "PRESETS", "PRESET_DEFAULTS", "CLAMP_MODES", "COLORJITTER_OPS", "HOWARD_OPS", "LIGHTING_EIGVAL",
    "LIGHTING_EIGVEC", "GRAY_HOWARD", "GRAY_TORCHVISION", "TF_SLIM_ORDERINGS", "TF_SLIM_FAST_ORDERINGS",
    "PhotometricParams", "lighting_offset", "jitter_range", "sample_photometric", "apply_photometric",
    "adjust_brightness_u8", "adjust_contrast_u8", "adjust_saturation_u8", "adjust_hue_u8", "adjust_lighting_u8",
    "gray_mean", "saturation_matrix", "color_matrix", "apply_color_matrix_u8", "apply_photometric_deferred",
    "ChannelOp", "channel_lut", "apply_channel_lut_u8", "apply_channel_ops_u8",
    "tf_adjust_contrast", "tf_adjust_saturation", "tf_adjust_hue",
]


def _check_image(img: np.ndarray) -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise TypeError(f"apply_photometric expects a numpy array, got {type(img).__name__}")
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"apply_photometric expects an (H, W, 3) uint8 RGB array, got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


def apply_photometric(img: np.ndarray, params: Optional[PhotometricParams], *,
                      dst: Optional[np.ndarray] = None) -> np.ndarray:
    """Apply one drawn distortion to an (H, W, 3) uint8 RGB array; returns a new uint8 array
    (``img`` itself when ``params`` is None). ``dst``: optional output array (may be ``img``: the
    caller gives up its input; used when it is a C-contiguous uint8 array of the image's shape)."""
    src, ops = apply_photometric_deferred(img, params, dst=dst)
    if not ops:
        return src.copy() if src is img and params is not None else src
    # No pixel pass ran when src is the input itself: the queued ops then write the output buffer.
    return apply_channel_ops_u8(src, ops, _own_buffer(src, dst) if src is img else src)


def apply_photometric_deferred(img: np.ndarray, params: Optional[PhotometricParams], *,
                               dst: Optional[np.ndarray] = None) -> tuple[np.ndarray, tuple[ChannelOp, ...]]:
    """:func:`apply_photometric` except for its trailing per-channel ops: ``(pixels, ops)``.

    The result is ``apply_channel_ops_u8(pixels, ops)`` (equal bit for bit to
    :func:`apply_photometric`), and ``channel_lut(ops)`` is its (3, 256) lookup table, which an
    output stage that maps every channel anyway (normalisation, the CHW split) folds into its own
    table: the trailing brightness/contrast/lighting then cost no pass over the pixels.
    ``pixels`` is ``img`` itself when no pixel pass ran (then the caller must not write it unless it
    owns it), else ``dst`` when usable, else a new array. ``ops`` is empty except for
    ``clamp="each"`` draws of howard / colorjitter."""
    if params is None:
        return img, ()
    if not isinstance(params, PhotometricParams):
        raise TypeError(f"apply_photometric expects PhotometricParams or None, got {type(params).__name__}")
    img = _check_image(img)
    if params.fused:
        return apply_color_matrix_u8(img, color_matrix(params, cv2.mean(img)), _usable_dst(img, dst)), ()
    if params.preset == "tf-slim":
        return apply_tf_slim(img, params), ()
    return _apply_each(img, params, dst)


def _usable_dst(img: np.ndarray, dst: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """``dst`` when it can hold the result of a per-pixel map of ``img`` (C-contiguous uint8 of its
    shape), else None."""
    if dst is not None and dst.flags.c_contiguous and dst.shape == img.shape and dst.dtype == np.uint8:
        return dst
    return None


def _own_buffer(img: np.ndarray, dst: Optional[np.ndarray]) -> np.ndarray:
    """``dst`` when usable (:func:`_usable_dst`), else a new array."""
    usable = _usable_dst(img, dst)
    return np.empty_like(img) if usable is None else usable


def _apply_each(img: np.ndarray, params: PhotometricParams,
                dst: Optional[np.ndarray]) -> tuple[np.ndarray, tuple[ChannelOp, ...]]:
    """The ``clamp="each"`` chain: every op rounds and clamps to uint8 (the kernels of ``color_u8``).

    Brightness, contrast and lighting are per-channel affine ops: they are queued, and a queue is
    applied (``apply_channel_ops_u8``, bit for bit the op-by-op kernels) only when a later op needs
    the pixels: a contrast needs the gray mean of the image as it is at that point, saturation and
    hue mix channels. Whatever is queued at the end is returned, not applied."""
    weights = GRAY_HOWARD if params.preset == "howard" else GRAY_TORCHVISION
    out = None  # one output buffer: the first pixel pass reads img and writes it, later ones in place
    src = img
    queue: list[ChannelOp] = []
    for op in params.order:
        f = getattr(params, op)
        if op == "brightness":
            queue.append(((f,) * 3, (0.0,) * 3))
            continue
        if queue:  # contrast, saturation and hue need the pixels of every op before them
            out = _own_buffer(img, dst) if out is None else out
            src = apply_channel_ops_u8(src, queue, out)
            queue = []
        if op == "contrast":
            queue.append(((f,) * 3, ((1.0 - f) * gray_mean(src, weights),) * 3))
            continue
        out = _own_buffer(img, dst) if out is None else out
        if op == "saturation":
            src = adjust_saturation_u8(src, f, weights, out)
        else:
            src = adjust_hue_u8(src, f, out)
    if params.lighting is not None:
        off = 255.0 * lighting_offset(params.lighting)  # as adjust_lighting_u8
        queue.append(((1.0, 1.0, 1.0), (float(off[0]), float(off[1]), float(off[2]))))
    return src, tuple(queue)
