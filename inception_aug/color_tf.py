"""TF-slim ``distort_color`` kernels on float32 RGB in [0, 1], in place (no randomness).

TF semantics: brightness adds a delta, contrast blends with the per-channel mean, saturation scales
S in HSV (clipped to [0, 1]) and hue shifts H; values are NOT clipped between ops, only once at the
end (:func:`apply_tf_slim`).
"""
from __future__ import annotations

import cv2
import numpy as np

from inception_aug.color_presets import PhotometricParams
from inception_aug.color_u8 import float01_to_u8, hsv_affine, to_float01

__all__ = ["apply_tf_slim", "tf_adjust_contrast", "tf_adjust_saturation", "tf_adjust_hue"]


def apply_tf_slim(img: np.ndarray, p: PhotometricParams) -> np.ndarray:
    """TF semantics on float32 [0, 1], no clipping between ops, one clip at the end."""
    x = to_float01(img)
    order = list(p.order)
    i = 0
    while i < len(order):
        op = order[i]
        if op == "brightness":
            x += np.float32(p.brightness)
        elif op == "contrast":
            tf_adjust_contrast(x, p.contrast)
        elif i + 1 < len(order) and {op, order[i + 1]} == {"saturation", "hue"}:
            # adjacent saturation and hue touch different HSV channels: one HSV round trip for both
            _hsv_round_trip(x, float(p.saturation), 360.0 * float(p.hue))
            i += 1
        elif op == "saturation":
            tf_adjust_saturation(x, p.saturation)
        elif op == "hue":
            tf_adjust_hue(x, p.hue)
        i += 1
    return float01_to_u8(x)


def tf_adjust_contrast(x: np.ndarray, factor: float) -> np.ndarray:
    """``tf.image.adjust_contrast`` in place on float RGB: (x - mean_c) * factor + mean_c, with the
    mean taken per channel over the image."""
    mean = cv2.mean(x)[:3]
    m = np.zeros((3, 4), dtype=np.float32)
    m[0, 0] = m[1, 1] = m[2, 2] = factor
    m[:, 3] = [(1.0 - factor) * v for v in mean]
    cv2.transform(x, m, dst=x)
    return x


def _hsv_round_trip(x: np.ndarray, scale_s: float, shift_h_deg: float) -> np.ndarray:
    """RGB -> HSV -> (H += shift, S = min(S * scale, 1)) -> RGB in place on float32 ``x``, TF rules.

    OpenCV's float HSV equals TF's for V > 0 (V = max, S = (V - min) / V, also for values outside
    [0, 1]; HSV->RGB wraps H in [360, 720) itself). TF sets S = 0 where V <= 0, so those pixels become
    (V, V, V); that needs negative values (a negative brightness delta applied earlier), so the
    check is skipped when min(x) >= 0."""
    cv2.cvtColor(x, cv2.COLOR_RGB2HSV, dst=x)
    fix = None
    if float(x.min()) < 0.0:  # after the conversion: only V can be negative (S, H >= 0 where V > 0)
        v = x[..., 2]
        idx = np.nonzero(v <= 0)
        if idx[0].size:
            fix = (idx, v[idx].copy())
    cv2.transform(x, hsv_affine(scale_s, shift_h_deg), dst=x)
    if scale_s != 1.0:
        cv2.min(x, (np.inf, 1.0, np.inf, 0.0), dst=x)
    cv2.cvtColor(x, cv2.COLOR_HSV2RGB, dst=x)
    if fix is not None:
        idx, vals = fix
        x[idx] = vals[:, None]
    return x


def tf_adjust_saturation(x: np.ndarray, factor: float) -> np.ndarray:
    """``tf.image.adjust_saturation`` in place on float RGB: S = clip(S * factor, 0, 1), H and V kept."""
    return _hsv_round_trip(x, float(factor), 0.0)


def tf_adjust_hue(x: np.ndarray, delta: float) -> np.ndarray:
    """``tf.image.adjust_hue`` in place on float RGB: H += delta turns (mod 1), S and V kept."""
    return _hsv_round_trip(x, 1.0, 360.0 * float(delta))
