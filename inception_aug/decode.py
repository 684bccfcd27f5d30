"""Bytes or path -> RGB uint8 HWC array. The one decoder both packages use.

Placeholder implementation (PIL only); the fast JPEG path is added by the augmentation work.
"""
from __future__ import annotations

import io
import os
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


class ImageDecodeError(ValueError):
    """An image could not be decoded. ``source`` names the file (or ``<bytes>``), ``reason`` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"cannot decode image {source}: {reason}")
        self.source = source
        self.reason = reason


def _name(src: Source) -> str:
    return os.fspath(src) if isinstance(src, (str, os.PathLike)) else "<bytes>"


def _read(src: Source) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src)
    try:
        with open(src, "rb") as f:
            return f.read()
    except OSError as e:
        raise ImageDecodeError(_name(src), e.strerror or str(e)) from None


def _open(data: bytes, name: str) -> Image.Image:
    if not data:
        raise ImageDecodeError(name, "empty file")
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except UnidentifiedImageError:
        raise ImageDecodeError(name, "not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(name, f"corrupt or truncated ({e})") from None
    return im


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        a = np.clip(a / (256.0 if a.max() > 255 else 1.0), 0, 255).astype(np.uint8)
        return Image.fromarray(a).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Composite on white: what a viewer shows, and what ImageNet-style models saw.
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


def decode_image(src: Source, *, reduce: int = 1) -> np.ndarray:
    """Decode ``src`` (path or encoded bytes) to an RGB uint8 array of shape (H, W, 3).

    EXIF orientation is applied. ``reduce`` in {1, 2, 4, 8} asks for a decode at about
    1/reduce of the size (JPEG DCT scaling); the returned shape is the truth.
    Raises :class:`ImageDecodeError` naming the file and the reason.
    """
    name = _name(src)
    im = _open(_read(src), name)
    im = ImageOps.exif_transpose(im)
    return np.asarray(_to_rgb(im))


def image_size(src: Source) -> tuple[int, int]:
    """(width, height) in pixels after EXIF orientation, read from the header."""
    name = _name(src)
    data = _read(src)
    if not data:
        raise ImageDecodeError(name, "empty file")
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageDecodeError(name, "not an image (unrecognised format)") from None
    w, h = im.size
    orientation = im.getexif().get(0x0112, 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
