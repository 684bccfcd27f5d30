"""The plain data of one augmentation draw: a crop box and every other random choice.

Everything here is a frozen dataclass of Python scalars (and a nested ``PhotometricParams`` from
``inception_aug.color_presets``), so a draw can be logged, compared in tests, and replayed with
``InceptionTrainTransform.apply``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from inception_aug.plain import to_plain

__all__ = ["CropBox", "AugParams"]


@dataclass(frozen=True)
class CropBox:
    """An integer crop ``[x, x + w) x [y, y + h)`` in pixels of the (EXIF-oriented) full-size image.

    ``x, y >= 0`` and ``w, h >= 1``; samplers guarantee the box lies inside the image.
    """

    x: int
    y: int
    w: int
    h: int

    @property
    def ratio(self) -> float:
        """Aspect ratio w / h (> 0, unitless)."""
        return self.w / self.h

    def area_fraction(self, width: int, height: int) -> float:
        """Box area as a fraction (0, 1] of a ``width`` x ``height`` image."""
        return (self.w * self.h) / float(width * height)

    def inside(self, width: int, height: int) -> bool:
        """True when the box lies inside a ``width`` x ``height`` image and is non-empty."""
        return self.x >= 0 and self.y >= 0 and self.w >= 1 and self.h >= 1 and \
            self.x + self.w <= width and self.y + self.h <= height

    def hflip(self, width: int) -> "CropBox":
        """The same box mirrored in a ``width``-pixel-wide image."""
        return CropBox(width - self.x - self.w, self.y, self.w, self.h)


@dataclass(frozen=True)
class AugParams:
    """Every random draw of one training-transform call.

    - ``crop``: the box in the full-size, EXIF-oriented input image (pixels).
    - ``interpolation``: one of ``inception_aug.resize.INTERPOLATIONS``.
    - ``flip``: horizontal mirror of the output (after the crop).
    - ``photometric``: ``inception_aug.color.PhotometricParams`` or None (no colour change).
    - ``image_size``: (width, height) the crop was sampled for (pixels), for logging and checks.
    """

    crop: CropBox
    interpolation: str
    flip: bool
    photometric: Optional[Any] = None
    image_size: Optional[tuple[int, int]] = None

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (numpy scalars/arrays become Python numbers/lists)."""
        return to_plain(dataclasses.asdict(self))
