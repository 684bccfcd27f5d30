"""Cut the views of a protocol out of one photo: uint8 pixels, no normalisation.

:func:`cut_views` is the fast path used by the scoring engine: one resize of the photo per
distinct ``View.resized`` size, crops as array slices, one extra resize per "whole square" box,
mirrors as reversed slices. :func:`reference_cut` is the straightforward definition, one view at a
time with the same kernel (:func:`inception_aug.resize.resize`); both give identical pixels.

Default interpolation: ``"area"`` (OpenCV ``INTER_AREA``) for both functions. The scale resize
mostly shrinks photos (a 500x375 photo to 341x256 is x0.68; a 1600-px one to 256 is x0.16), and
OpenCV's bilinear kernel does not low-pass when shrinking (it samples 2x2 neighbours), which
aliases fine texture once the factor drops below ~0.5. ``INTER_AREA`` averages the covered source
pixels when shrinking (the antialiased choice, like PIL's resampling that torchvision's published
numbers used) and interpolates when enlarging (tiny photos), so one default serves both.
``inception-eval protocol --compare-interpolation DIR`` measures both against PIL's antialiased
bilinear on real photos.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from inception_aug.resize import INTERPOLATIONS, resize
from inception_eval.protocols import View

#: Interpolation of the scale resize and of the "whole square" resize, unless told otherwise.
DEFAULT_INTERPOLATION = "area"


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
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {INTERPOLATIONS}")


def reference_cut(img: np.ndarray, view: View, interpolation: str = DEFAULT_INTERPOLATION) -> np.ndarray:
    """One view of ``img`` ((H, W, 3) uint8 RGB) as an (S, S, 3) uint8 array, the plain way.

    Resize the whole photo to ``view.resized``, slice ``view.box``, resize it to
    ``view.size`` x ``view.size`` (no-op when it already is), mirror if asked.
    """
    _check_image(img)
    _check_interpolation(interpolation)
    _check_view(img, view)
    scaled = resize(img, view.resized, interpolation)
    x, y, w, h = view.box
    out = resize(np.ascontiguousarray(scaled[y : y + h, x : x + w]), (view.size, view.size), interpolation)
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
        interpolation: kernel of both resizes; one of ``inception_aug.resize.INTERPOLATIONS``.
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
            scaled[v.resized] = resize(img, v.resized, interpolation)
        x, y, w, h = v.box
        if (w, h) == (S, S):
            patch = scaled[v.resized][y : y + h, x : x + w]
        else:
            key = (v.resized, v.box)
            if key not in boxes:
                src = np.ascontiguousarray(scaled[v.resized][y : y + h, x : x + w])
                boxes[key] = resize(src, (S, S), interpolation)
            patch = boxes[key]
        if v.mirror:
            patch = patch[:, ::-1]
        put(i, patch)
    if out is not None:
        return out
    return torch.from_numpy(arr).permute(0, 3, 1, 2)


__all__ = ["DEFAULT_INTERPOLATION", "cut_views", "reference_cut"]
