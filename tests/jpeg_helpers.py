"""Shared test helper: encode an image as JPEG bytes with PIL, optionally with an EXIF orientation."""
from __future__ import annotations

import io
from typing import Union

import numpy as np
from PIL import Image


def jpeg_bytes(img: Union[np.ndarray, Image.Image], orientation: int | None = None, quality: int = 90,
               **kw) -> bytes:
    """``img`` (HWC/HW uint8 array or PIL image) as JPEG bytes at ``quality``; ``orientation``
    (1..8) is written as the EXIF orientation tag; ``kw`` go to ``Image.save``."""
    im = Image.fromarray(img) if isinstance(img, np.ndarray) else img
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw["exif"] = exif.tobytes()
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()
