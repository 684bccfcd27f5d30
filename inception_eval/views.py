"""Cut the views of a protocol out of one photo: uint8 pixels, no normalisation.

:func:`cut_views` is the fast path used by the scoring engine: one resize of the photo per
distinct ``View.resized`` size, crops as array slices, one extra resize per "whole square" box,
mirrors as reversed slices. :func:`reference_cut` is the straightforward definition, one view at a
time with the same kernel (:func:`inception_aug.resize.resize`); both give identical pixels.

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
``inception_aug.resize.INTERPOLATIONS`` can be passed instead.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from inception_aug.resize import INTERPOLATIONS, resize
from inception_eval.protocols import View

#: Interpolation of the scale resize and of the "whole square" resize, unless told otherwise.
DEFAULT_INTERPOLATION = "auto"
#: Accepted names: "auto" plus the fixed kernels of inception_aug.resize.
VIEW_INTERPOLATIONS: tuple[str, ...] = ("auto",) + tuple(INTERPOLATIONS)


def kernel_for(src: tuple[int, int], dst: tuple[int, int], interpolation: str = DEFAULT_INTERPOLATION) -> str:
    """The fixed kernel used to resize (w, h) ``src`` to ``dst``: ``auto`` -> area if the shorter
    side shrinks, else bilinear; any other name is returned unchanged."""
    if interpolation != "auto":
        return interpolation
    return "area" if min(dst) < min(src) else "bilinear"


def _resize(img: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    return resize(img, size, kernel_for((img.shape[1], img.shape[0]), size, interpolation))


def _check_image(img: np.ndarray) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        shape = getattr(img, "shape", None)
        dtype = getattr(img, "dtype", type(img).__name__)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got shape {shape} dtype {dtype}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"empty image of shape {img.shape}")


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


def reference_cut(img: np.ndarray, view: View, interpolation: str = DEFAULT_INTERPOLATION) -> np.ndarray:
    """One view of ``img`` ((H, W, 3) uint8 RGB) as an (S, S, 3) uint8 array, the plain way.

    Resize the whole photo to ``view.resized``, slice ``view.box``, resize it to
    ``view.size`` x ``view.size`` (no-op when it already is), mirror if asked.
    """
    _check_image(img)
    _check_interpolation(interpolation)
    _check_view(img, view)
    scaled = _resize(img, view.resized, interpolation)
    x, y, w, h = view.box
    out = _resize(np.ascontiguousarray(scaled[y : y + h, x : x + w]), (view.size, view.size), interpolation)
    if view.mirror:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def cut_views(
    img: np.ndarray,
    views: Sequence[View],
    *,
    interpolation: str = DEFAULT_INTERPOLATION,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """All ``views`` of ``img`` as a uint8 tensor (V, 3, S, S), in the order given.

    Args:
        img: (H, W, 3) uint8 RGB array, the decoded photo the views were computed for.
        views: views sharing one output size S (e.g. ``union_views(...)[0]``).
        interpolation: ``"auto"`` (see the module docstring) or a kernel of
            ``inception_aug.resize.INTERPOLATIONS``, used by both resizes.
        out: optional preallocated uint8 tensor of shape (V, 3, S, S) on the CPU (any strides,
            e.g. a slice of a larger batch buffer); filled and returned.

    Returns:
        uint8 tensor (V, 3, S, S), pixel-identical to stacking :func:`reference_cut` per view.
        Without ``out`` it is a permuted view of an (V, S, S, 3) array, i.e. stored
        channels_last, which is what a channels_last model wants.
    """
    _check_image(img)
    _check_interpolation(interpolation)
    views = list(views)
    sizes = {v.size for v in views}
    if len(sizes) > 1:
        raise ValueError(f"views have different output sizes {sorted(sizes)}; cut them separately")
    S = sizes.pop() if sizes else 0
    V = len(views)
    if out is not None:
        if tuple(out.shape) != (V, 3, S, S) or out.dtype != torch.uint8 or out.device.type != "cpu":
            raise ValueError(f"out must be a CPU uint8 tensor of shape {(V, 3, S, S)}, got {tuple(out.shape)} {out.dtype}")
        buf = out.permute(0, 2, 3, 1)  # (V, S, S, 3) view of the caller's memory

        def put(i: int, patch: np.ndarray) -> None:
            buf[i].copy_(torch.from_numpy(np.ascontiguousarray(patch)))

    else:
        arr = np.empty((V, S, S, 3), dtype=np.uint8)

        def put(i: int, patch: np.ndarray) -> None:
            arr[i] = patch  # numpy copies from the (possibly reversed) slice directly

    for v in views:
        _check_view(img, v)
    # One resize per distinct resized size; one more per distinct box that is not already S x S.
    scaled: dict[tuple[int, int], np.ndarray] = {}
    boxes: dict[tuple, np.ndarray] = {}
    for i, v in enumerate(views):
        if v.resized not in scaled:
            scaled[v.resized] = _resize(img, v.resized, interpolation)
        x, y, w, h = v.box
        if (w, h) == (S, S):
            patch = scaled[v.resized][y : y + h, x : x + w]
        else:
            key = (v.resized, v.box)
            if key not in boxes:
                src = np.ascontiguousarray(scaled[v.resized][y : y + h, x : x + w])
                boxes[key] = _resize(src, (S, S), interpolation)
            patch = boxes[key]
        if v.mirror:
            patch = patch[:, ::-1]
        put(i, patch)
    if out is not None:
        return out
    return torch.from_numpy(arr).permute(0, 3, 1, 2)


__all__ = ["DEFAULT_INTERPOLATION", "VIEW_INTERPOLATIONS", "cut_views", "kernel_for", "reference_cut"]
