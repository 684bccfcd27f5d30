"""Cut the views of a protocol out of one photo: uint8 pixels, no normalisation.

:func:`reference_cut` is the definition, one view at a time: resize the whole photo to
``View.resized``, slice ``View.box``, resize that to ``size`` x ``size``, mirror.
:func:`cut_views` is what the scoring engine calls; it gives the same pixels for a whole list of
views, sharing the work between views of the same scale and box.

Memory: the resized photo is never larger than the views need. Where a full resize of the photo
would enlarge it beyond both the decoded photo and :data:`FULL_RESIZE_MAX_PIXELS` (a long thin
photo: a 20000x2 PNG at shorter side 256 is 2,560,000 x 256 px, 1.9 GB), each box is computed on
its own from the source pixels it reads (:func:`inception_aug.resize.resize_window`), so memory
follows the views (at most 144 x 352 x 352 x 3 bytes of boxes), not (scale / short side)^2 times
the photo. A shrinking resize is never larger than the decoded photo and stays a full resize.
Measured peak RSS of a whole process (Python + torch alone: 240 MB): 20000x2 PNG, ``center``:
243 MB (2.3 GB with full resizes); 200000x2 PNG, ``paper144``: 283 MB (full resizes: about 110 GB).
Pixels: identical to the full resize for ``bilinear``, ``area``, ``nearest``, the ``pil-*``
kernels and ``bicubic`` on photos with a side under 4 px (OpenCV's and PIL's arithmetic
replayed); other ``bicubic`` windows differ from OpenCV's (IPP's) by 1 grey level on about 1
pixel in 10^5 (see :func:`inception_aug.resize.window_is_exact`).
Photos above :data:`MAX_DECODED_PIXELS` are refused with
:class:`inception_aug.decode.ImageDecodeError`, which scoring reports as an unreadable image.

Default interpolation: ``"auto"`` for both functions and both resizes (the scale resize and
the "whole square" resize): OpenCV ``INTER_AREA`` when the resize shrinks (the shorter side gets
smaller) and ``INTER_LINEAR`` (bilinear) when it enlarges or keeps the size. Why: the scale resize
mostly shrinks photos (500x375 -> 341x256 is x0.68; a 1600-px photo -> 256 is x0.16) and OpenCV's
bilinear kernel does not low-pass when shrinking (it reads a 2x2 neighbourhood), so it aliases fine
texture; ``INTER_AREA`` averages the covered source pixels, the antialiased choice, close to PIL's
resampling that torchvision's published numbers used. When enlarging (photos smaller than the
scale), ``INTER_AREA`` degenerates towards nearest-neighbour blocks while bilinear matches PIL.
Measured against PIL's antialiased bilinear on the 115 shared ImageNet photos at shorter side 256
(``inception-eval protocol --compare-interpolation ../shared/data/imagenet-samples``): mean
absolute difference 0.89 (area) vs 2.04 (bilinear) grey levels on the 99 shrunk photos, and 1.71
(area) vs 0.19 (bilinear) on the 16 enlarged ones. Any fixed name of
``inception_aug.resize.INTERPOLATIONS`` can be passed instead, or ``pil-bilinear`` /
``pil-bicubic``: PIL's ``Image.resize`` (antialiased when shrinking) for both resizes, the
pixels torchvision's and timm's published ImageNet numbers were measured with (torchvision's
``Resize(256)`` + ``TenCrop(224)`` on a PIL image equals ``tencrop-torchvision`` with
``pil-bilinear``; timm's bicubic models use ``pil-bicubic``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from inception_aug.decode import MAX_DECODED_PIXELS, check_image_size
from inception_aug.resize import INTERPOLATIONS, PIL_INTERPOLATIONS, resize, resize_pil, resize_window
from inception_eval.protocols import Box, View

__all__ = [
    "DEFAULT_INTERPOLATION", "FULL_RESIZE_MAX_PIXELS", "MAX_DECODED_PIXELS", "VIEW_INTERPOLATIONS",
    "check_image_size", "cut_views", "kernel_for", "reference_cut",
]

#: Interpolation of the scale resize and of the "whole square" resize, unless told otherwise.
DEFAULT_INTERPOLATION = "auto"
#: Accepted names: "auto", the OpenCV kernels of inception_aug.resize and PIL's resampling.
VIEW_INTERPOLATIONS: tuple[str, ...] = ("auto",) + tuple(INTERPOLATIONS) + tuple(PIL_INTERPOLATIONS)
#: An enlarging scale resize with more pixels than this (and than the photo) is done box by box.
FULL_RESIZE_MAX_PIXELS = 4 * 1024 * 1024

_Put = Callable[[int, np.ndarray], None]  # stores view i's (S, S, 3) patch


def kernel_for(src: tuple[int, int], dst: tuple[int, int], interpolation: str = DEFAULT_INTERPOLATION) -> str:
    """The fixed kernel used to resize ``src`` to ``dst`` ((width, height) px): ``auto`` -> area
    if the shorter side shrinks, else bilinear; any other name is returned unchanged."""
    if interpolation != "auto":
        return interpolation
    return "area" if min(dst) < min(src) else "bilinear"


def _resize(img: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    kernel = kernel_for((img.shape[1], img.shape[0]), size, interpolation)
    return (resize_pil if kernel in PIL_INTERPOLATIONS else resize)(img, size, kernel)


def _check_image(img: np.ndarray, source: str) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        shape = getattr(img, "shape", None)
        dtype = getattr(img, "dtype", type(img).__name__)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got shape {shape} dtype {dtype}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"empty image of shape {img.shape}")
    check_image_size(img.shape[1], img.shape[0], source)


def _check_view(img: np.ndarray, view: View) -> None:
    h, w = img.shape[:2]
    if view.source is not None and tuple(view.source) != (w, h):
        raise ValueError(
            f"view {view.tag or view} was computed for a {view.source[0]}x{view.source[1]} photo, "
            f"but the image is {w}x{h} (compute the views from the decoded array's shape)"
        )
    W, H = view.resized
    x, y, bw, bh = view.box
    if x < 0 or y < 0 or bw < 1 or bh < 1 or x + bw > W or y + bh > H:
        raise ValueError(f"view {view.tag or view}: box {view.box} outside the resized {W}x{H} photo")


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in VIEW_INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {VIEW_INTERPOLATIONS}")


def _output_size(views: Sequence[View]) -> int:
    """The one output side S (px) shared by ``views`` (0 for no views)."""
    sizes = {v.size for v in views}
    if len(sizes) > 1:
        raise ValueError(f"views have different output sizes {sorted(sizes)}; cut them separately")
    return sizes.pop() if sizes else 0


def reference_cut(img: np.ndarray, view: View, interpolation: str = DEFAULT_INTERPOLATION) -> np.ndarray:
    """One view of ``img`` ((H, W, 3) uint8 RGB) as an (S, S, 3) uint8 array, the plain way.

    Resize the whole photo to ``view.resized``, slice ``view.box``, resize it to
    ``view.size`` x ``view.size`` (no-op when it already is), mirror if asked. Memory: one full
    resize of the photo (use :func:`cut_views` for long thin photos).
    """
    _check_image(img, "<array>")
    _check_interpolation(interpolation)
    _check_view(img, view)
    scaled = _resize(img, view.resized, interpolation)
    x, y, w, h = view.box
    out = _resize(np.ascontiguousarray(scaled[y : y + h, x : x + w]), (view.size, view.size), interpolation)
    if view.mirror:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


class _Boxes:
    """Pixels of boxes of the resized photo, computed once per (resized size, box).

    ``windowed``: True/False force box-by-box / full resizes (tests compare the two); None picks
    per scale: box by box when the full resize would enlarge the photo past
    :data:`FULL_RESIZE_MAX_PIXELS` pixels.
    """

    def __init__(self, img: np.ndarray, interpolation: str, windowed: bool | None) -> None:
        self.img, self.interpolation, self.windowed = img, interpolation, windowed
        self.full: dict[tuple[int, int], np.ndarray | None] = {}
        self.cut: dict[tuple, np.ndarray] = {}  # (resized, box) and (resized, box, size)

    def _full(self, resized: tuple[int, int]) -> np.ndarray | None:
        """The full resize to ``resized`` (w, h), or None where boxes are computed one by one."""
        if resized not in self.full:
            h, w = self.img.shape[:2]
            windowed = self.windowed
            if windowed is None:
                windowed = resized[0] * resized[1] > max(w * h, FULL_RESIZE_MAX_PIXELS)
            self.full[resized] = None if windowed else _resize(self.img, resized, self.interpolation)
        return self.full[resized]

    def box(self, resized: tuple[int, int], box: Box) -> np.ndarray:
        """(h, w, 3) pixels of ``box`` = (x, y, w, h) in the photo resized to ``resized``."""
        key = (resized, box)
        if key not in self.cut:
            x, y, w, h = box
            full = self._full(resized)
            if full is not None:
                return full[y : y + h, x : x + w]
            src = (self.img.shape[1], self.img.shape[0])
            kernel = kernel_for(src, resized, self.interpolation)
            self.cut[key] = resize_window(self.img, resized, box, kernel)
        return self.cut[key]

    def view(self, v: View, size: int) -> np.ndarray:
        """(size, size, 3) pixels of ``v`` before mirroring: its box, resized to ``size`` if needed."""
        _, _, w, h = v.box
        if (w, h) == (size, size):
            return self.box(v.resized, v.box)
        key = (v.resized, v.box, size)
        if key not in self.cut:
            self.cut[key] = _resize(np.ascontiguousarray(self.box(v.resized, v.box)), (size, size),
                                    self.interpolation)
        return self.cut[key]


def _writer(V: int, S: int, out: torch.Tensor | None) -> tuple[_Put, Callable[[], torch.Tensor]]:
    """``(put, result)``: ``put(i, patch)`` stores an (S, S, 3) patch as view i; ``result()`` is
    the (V, 3, S, S) uint8 tensor, ``out`` itself when given (checked here)."""
    if out is not None:
        if tuple(out.shape) != (V, 3, S, S) or out.dtype != torch.uint8 or out.device.type != "cpu":
            raise ValueError(f"out must be a CPU uint8 tensor of shape {(V, 3, S, S)}, got {tuple(out.shape)} {out.dtype}")
        buf = out.permute(0, 2, 3, 1)  # (V, S, S, 3) view of the caller's memory

        def put(i: int, patch: np.ndarray) -> None:
            buf[i].copy_(torch.from_numpy(np.ascontiguousarray(patch)))

        return put, lambda: out
    arr = np.empty((V, S, S, 3), dtype=np.uint8)

    def put_array(i: int, patch: np.ndarray) -> None:
        arr[i] = patch  # numpy copies from the (possibly reversed) slice directly

    return put_array, lambda: torch.from_numpy(arr).permute(0, 3, 1, 2)


def cut_views(
    img: np.ndarray,
    views: Sequence[View],
    *,
    interpolation: str = DEFAULT_INTERPOLATION,
    out: torch.Tensor | None = None,
    source: str = "<array>",
) -> torch.Tensor:
    """All ``views`` of ``img`` as a uint8 tensor (V, 3, S, S), in the order given.

    Args:
        img: (H, W, 3) uint8 RGB array, the decoded photo the views were computed for; at most
            :data:`MAX_DECODED_PIXELS` pixels, else :class:`ImageDecodeError`.
        views: views sharing one output size S (e.g. ``union_views(...)[0]``).
        interpolation: one of :data:`VIEW_INTERPOLATIONS`: ``"auto"`` (see the module
            docstring), an OpenCV kernel or ``pil-bilinear`` / ``pil-bicubic``; used by both resizes.
        out: optional preallocated uint8 tensor of shape (V, 3, S, S) on the CPU (any strides,
            e.g. a slice of a larger batch buffer); filled and returned.
        source: how errors name the photo (its path).

    Returns:
        uint8 tensor (V, 3, S, S), pixel-identical to stacking :func:`reference_cut` per view
        (bicubic box-by-box resizes: see the module docstring). Without ``out`` it is a permuted
        view of an (V, S, S, 3) array, i.e. stored channels_last, which is what a channels_last
        model wants.
    """
    return _cut(img, views, interpolation, out, source, windowed=None)


def _cut(img: np.ndarray, views: Sequence[View], interpolation: str, out: torch.Tensor | None,
         source: str, windowed: bool | None) -> torch.Tensor:
    """:func:`cut_views` with the choice between full and box-by-box resizes exposed (tests)."""
    _check_image(img, source)
    _check_interpolation(interpolation)
    views = list(views)
    S = _output_size(views)
    put, result = _writer(len(views), S, out)
    for v in views:
        _check_view(img, v)
    boxes = _Boxes(img, interpolation, windowed)
    for i, v in enumerate(views):
        patch = boxes.view(v, S)
        put(i, patch[:, ::-1] if v.mirror else patch)
    return result()
