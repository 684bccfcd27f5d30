"""Interpolation names and the resize kernel (OpenCV)."""
from __future__ import annotations

import cv2
import numpy as np

INTERPOLATIONS: tuple[str, ...] = ("bilinear", "area", "nearest", "bicubic")

_CV2 = {
    "bilinear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
    "bicubic": cv2.INTER_CUBIC,
}


def resize(img: np.ndarray, size: tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """Resize an (H, W, C) uint8 array to ``size`` = (width, height) in pixels."""
    try:
        flag = _CV2[interpolation]
    except KeyError:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {INTERPOLATIONS}") from None
    w, h = size
    if (img.shape[1], img.shape[0]) == (w, h):
        return img
    return cv2.resize(img, (w, h), interpolation=flag)
