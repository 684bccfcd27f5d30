"""Constants shared by both packages: written here once, imported everywhere else.

``IMAGENET_MEAN`` / ``IMAGENET_STD``: per-channel RGB normalisation on the [0, 1] scale, the values
torchvision, timm and fb.resnet.torch use for ImageNet models (``(x / 255 - mean) / std``).
``INTERPOLATIONS``: the resize methods the paper drew among at random for each training crop
(section 6: "bilinear, area, nearest neighbor and cubic, with equal probability").
"""
from __future__ import annotations

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "INTERPOLATIONS"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
INTERPOLATIONS: tuple[str, ...] = ("bilinear", "area", "nearest", "bicubic")
