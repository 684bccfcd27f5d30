"""The composed training transform (sample, then apply) and single-step callables.

:class:`InceptionTrainTransform` = crop sampler + random interpolation + horizontal flip +
photometric preset + output conversion. ``sample`` draws every random choice as an
:class:`~inception_aug.params.AugParams` (plain data); ``apply`` turns an image and those params into
pixels with no randomness; ``__call__`` does both. This module only orchestrates: inputs and outputs
are converted by :mod:`inception_aug.convert`, the crop is resized by :mod:`inception_aug.crop`
(reduced-size JPEG decoding, ``reduced_decode=False`` turns it off; region decoding of the crop
alone, ``region_decode=False`` turns it off), colours by
:mod:`inception_aug.color`, normalisation by :mod:`inception_aug.normalize`.

The ``clamp="each"`` colour chain's trailing per-channel ops (lighting, and brightness/contrast
after saturation) are folded into the output's lookup tables for ``"tensor"`` (normalisation) and
``"tensor_uint8"`` (the CHW split, from two ops on): the same pixels as applying them one by one.

Draw order inside ``sample`` (all from the one generator): crop (see ``sampling``), interpolation
(one draw when more than one method), flip (one draw), photometric (``color.sample_photometric``).

Inputs: see :mod:`inception_aug.convert` (paths, bytes, PIL, numpy, torch; EXIF orientation honoured
for encoded sources). Images smaller than the output size are upsampled.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np

from inception_aug.color import PRESETS as PHOTOMETRIC_PRESETS
from inception_aug.color import apply_channel_ops_u8, apply_photometric, apply_photometric_deferred, channel_lut
from inception_aug.color import sample_photometric
from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD
from inception_aug.convert import OUTPUTS, Encoded, ImageInput, input_size, is_rgb_u8, load_input, to_output
from inception_aug.crop import crop_resize
from inception_aug.errors import UsageError
from inception_aug.normalize import check_mean_std, normalization_luts, normalize_image
from inception_aug.params import AugParams
from inception_aug.plain import size_hw
from inception_aug.resize import INTERPOLATIONS
from inception_aug.sampling import SAMPLERS, sample_crop, sample_flip, sample_interpolation
from inception_aug.seeding import default_generator

__all__ = ["PRESETS", "InceptionTrainTransform", "ToNormalizedTensor", "InceptionCrop", "InceptionFlip",
           "InceptionColor"]

PRESETS: dict[str, dict[str, Any]] = {
    # The paper: uniform area 8-100 %, ratio 3/4-4/3, Howard's photometrics, 4 interpolations. The
    # mirror (p = 0.5) is our addition: the paper's text does not mention training flips.
    "paper": dict(sampler="paper", photometric="howard", interpolations=INTERPOLATIONS, flip=0.5),
    # torchvision's ImageNet recipe with ColorJitter(0.4, 0.4, 0.4) (the benchmark's anchor).
    "torchvision": dict(sampler="torchvision", photometric="colorjitter", interpolations=("bilinear",), flip=0.5),
    # TF-slim inception_preprocessing (training): its crop sampler, 4 resize methods, distort_color.
    "tf-slim": dict(sampler="tf-slim", photometric="tf-slim", interpolations=INTERPOLATIONS, flip=0.5),
}


class ToNormalizedTensor:
    """(H, W, 3) uint8 RGB -> float32 CHW torch tensor ``(x / 255 - mean) / std``.

    ``mean`` and ``std`` are per channel on the [0, 1] scale (``ValueError`` unless 3 values each and
    std > 0). The kernel is :func:`inception_aug.normalize.normalize_image` (one lookup table per
    channel, applied by ``cv2.LUT`` straight into the CHW planes).
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.mean, self.std = check_mean_std(mean, std)
        self.luts = normalization_luts(self.mean, self.std)

    def __call__(self, img: np.ndarray):
        return normalize_image(img, self.luts)

    def __repr__(self) -> str:
        return f"ToNormalizedTensor(mean={self.mean}, std={self.std})"


def _check_choices(sampler: str, photometric: str, interpolations: Sequence[str], output: str, flip: float) -> None:
    """``UsageError`` (a ``ValueError``) naming the first setting that is not one of its choices."""
    if sampler not in SAMPLERS:
        raise UsageError(f"unknown crop sampler {sampler!r}; expected one of {SAMPLERS}")
    bad = [m for m in interpolations if m not in INTERPOLATIONS]
    if bad or not interpolations:
        raise UsageError(f"interpolations must be a non-empty subset of {INTERPOLATIONS}, got {interpolations!r}")
    if photometric not in PHOTOMETRIC_PRESETS:
        raise UsageError(f"unknown photometric preset {photometric!r}; expected one of {PHOTOMETRIC_PRESETS}")
    if output not in OUTPUTS:
        raise UsageError(f"unknown output {output!r}; expected one of {OUTPUTS}")
    if not 0.0 <= flip <= 1.0:
        raise UsageError(f"flip probability must be in [0, 1], got {flip}")


class InceptionTrainTransform:
    """The paper's training augmentation as one callable (works in any ``Compose``/``Dataset``).

    Settings that are not one of their choices raise ``UsageError`` (a ``ValueError``).

    Args:
        size: output side in pixels (int) or (height, width).
        sampler: ``"paper"`` (default), ``"torchvision"`` or ``"tf-slim"`` (see ``sampling``).
        photometric: ``"howard"``, ``"tf-slim"``, ``"colorjitter"`` or ``"none"`` (see ``color``).
        interpolations: the resize methods drawn per sample with equal probability.
        flip: probability in [0, 1] of a horizontal mirror (the presets use 0.5; for ``paper`` that
            is our addition, the paper's text does not mention training flips).
        output: ``"tensor"`` (normalised float32 CHW), ``"numpy"`` (uint8 HWC), ``"pil"``, or
            ``"tensor_uint8"`` (uint8 CHW, e.g. for ``inception_aug.batch`` on a GPU).
        mean, std: per-channel normalisation on the [0, 1] scale (tensor output).
        scale, ratio: crop area-fraction and aspect-ratio ranges (None: the sampler's defaults).
        sampler_options: extra sampler keywords (``max_attempts``, ``min_object_covered``).
        photometric_options: keywords for ``color.sample_photometric`` (e.g. ``fast_mode``).
        reduced_decode: allow libjpeg DCT-scaled decoding of JPEG inputs (see module doc).
        fast_dct: decode JPEGs with libjpeg-turbo's fast IDCT and plain chroma upsampling
            (``decode_image(fast_dct=True)``; a few % faster, slightly less accurate pixels).
        region_decode: decode only the crop's rows and columns of a JPEG when it is not reduced
            (``decode.decode_region``; the same pixels, ~30% less decode time on ImageNet photos).
    """

    def __init__(self, size: Union[int, Sequence[int]] = 224, sampler: str = "paper", photometric: str = "howard",
                 interpolations: Sequence[str] = INTERPOLATIONS, flip: float = 0.5, output: str = "tensor",
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, *,
                 scale: Optional[Sequence[float]] = None, ratio: Optional[Sequence[float]] = None,
                 sampler_options: Optional[dict] = None, photometric_options: Optional[dict] = None,
                 reduced_decode: bool = True, fast_dct: bool = False, region_decode: bool = True) -> None:
        out_h, out_w = size_hw(size)
        self.out_wh = (out_w, out_h)  # OpenCV order, for the resize kernels
        self.size = size
        _check_choices(sampler, photometric, interpolations, output, flip)
        self.sampler = sampler
        self.photometric = photometric
        self.interpolations = tuple(interpolations)
        self.flip = float(flip)
        self.output = output
        self.scale = None if scale is None else tuple(scale)
        self.ratio = None if ratio is None else tuple(ratio)
        self.sampler_options = dict(sampler_options or {})
        self.photometric_options = dict(photometric_options or {})
        sample_photometric(photometric, np.random.default_rng(0), **self.photometric_options)  # validate now
        self.reduced_decode = bool(reduced_decode)
        self.fast_dct = bool(fast_dct)
        self.region_decode = bool(region_decode)
        self.normalize = ToNormalizedTensor(mean, std)
        self.mean, self.std = self.normalize.mean, self.normalize.std

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "InceptionTrainTransform":
        """``"paper"``, ``"torchvision"`` or ``"tf-slim"``; keyword arguments override fields."""
        if name not in PRESETS:
            raise UsageError(f"unknown preset {name!r}; expected one of {tuple(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    # geometry -------------------------------------------------------------------------------
    def sample(self, width: int, height: int, rng: np.random.Generator) -> AugParams:
        """Every random draw for a ``width`` x ``height`` (pixels, EXIF-oriented) input."""
        crop = sample_crop(width, height, rng, method=self.sampler, scale=self.scale, ratio=self.ratio,
                           **self.sampler_options)
        interpolation = sample_interpolation(rng, self.interpolations)
        flip = sample_flip(rng, self.flip)
        photo = None
        if self.photometric != "none":
            photo = sample_photometric(self.photometric, rng, **self.photometric_options)
        return AugParams(crop=crop, interpolation=interpolation, flip=flip, photometric=photo,
                         image_size=(int(width), int(height)))

    # pixels ---------------------------------------------------------------------------------
    def _pixels(self, img: ImageInput, params: AugParams) -> tuple[np.ndarray, tuple, bool]:
        """(pixels, trailing per-channel colour ops not yet applied, whether we own the pixels).
        See ``color.apply_photometric_deferred``: the ops are folded into the output stage."""
        src = img if isinstance(img, Encoded) or is_rgb_u8(img) else load_input(img)
        if params.image_size is not None and tuple(params.image_size) != input_size(src):
            raise ValueError(f"params were sampled for a {params.image_size} image, got {input_size(src)}")
        out = crop_resize(src, params.crop, self.out_wh, params.interpolation, reduced_decode=self.reduced_decode,
                          fast_dct=self.fast_dct, region_decode=self.region_decode)
        # Flip and the colour passes are per-pixel maps: run them in place when ``out`` is our
        # own array (not a view of a caller's array, which resize returns for an exact-size crop).
        own = out.base is None or not (isinstance(src, np.ndarray) and np.may_share_memory(out, src))
        if params.flip:
            out = cv2.flip(out, 1, dst=out) if own and out.flags.c_contiguous else cv2.flip(out, 1)
            own = True
        ops: tuple = ()
        if params.photometric is not None:
            before = out
            out, ops = apply_photometric_deferred(out, params.photometric, dst=out if own else None)
            own = own or out is not before
        return out, ops, own

    def apply_uint8(self, img: ImageInput, params: AugParams) -> np.ndarray:
        """Pixels of ``params`` applied to ``img``: (out_h, out_w, 3) uint8 RGB. No randomness."""
        out, ops, own = self._pixels(img, params)
        if not ops:
            return out
        return apply_channel_ops_u8(out, ops, out if own else None)

    def apply(self, img: ImageInput, params: AugParams):
        """Apply ``params`` and convert to this transform's ``output`` type (the trailing
        per-channel colour ops folded into the tensor outputs' lookup tables; same pixels)."""
        out, ops, own = self._pixels(img, params)
        # A table folded into the normalisation is free; into the uint8 CHW split it costs about one
        # transform pass (3 plane LUTs instead of a split), so there it pays from two ops on.
        if ops and (self.output == "tensor" or (self.output == "tensor_uint8" and len(ops) > 1)):
            return to_output(out, self.output, self.normalize.luts, channel_lut(ops))
        if ops:
            out = apply_channel_ops_u8(out, ops, out if own else None)
        return to_output(out, self.output, self.normalize.luts)

    def __call__(self, img: ImageInput, rng: Optional[np.random.Generator] = None, *, return_params: bool = False):
        """Sample with ``rng`` (default: a per-process generator from OS entropy) and apply.
        With ``return_params=True`` returns ``(output, AugParams)``."""
        src = load_input(img)
        w, h = input_size(src)
        params = self.sample(w, h, default_generator() if rng is None else rng)
        out = self.apply(src, params)
        return (out, params) if return_params else out

    def __repr__(self) -> str:
        return (f"InceptionTrainTransform(size={self.size!r}, sampler={self.sampler!r}, photometric={self.photometric!r}, "
                f"interpolations={self.interpolations!r}, flip={self.flip}, output={self.output!r}, "
                f"scale={self.scale}, ratio={self.ratio}, reduced_decode={self.reduced_decode})")


# ---------------------------------------------------------------------------------------------
# Single-step callables (each: ``__call__(img, rng=None)``; compose them or use them alone)


class InceptionCrop:
    """Crop sampler + random interpolation + resize. Returns (out_h, out_w, 3) uint8 RGB.

    The plain-callable counterpart of the albumentations adapter
    ``inception_aug.albumentations.InceptionRandomResizedCrop``."""

    def __init__(self, size: Union[int, Sequence[int]] = 224, sampler: str = "paper",
                 interpolations: Sequence[str] = INTERPOLATIONS, *, scale: Optional[Sequence[float]] = None,
                 ratio: Optional[Sequence[float]] = None, reduced_decode: bool = True) -> None:
        self._t = InceptionTrainTransform(size, sampler, "none", interpolations, 0.0, "numpy", scale=scale,
                                          ratio=ratio, reduced_decode=reduced_decode)

    def __call__(self, img: ImageInput, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return self._t(img, rng)


class InceptionFlip:
    """Mirror an (H, W, C) uint8 array with probability ``p`` in [0, 1] (one draw)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def __call__(self, img: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        flip = sample_flip(default_generator() if rng is None else rng, self.p)
        return cv2.flip(img, 1) if flip else img


class InceptionColor:
    """A photometric preset on an (H, W, 3) uint8 RGB array (see ``color``); ``options`` as
    ``color.sample_photometric``. The plain-callable counterpart of the albumentations adapter
    ``inception_aug.albumentations.InceptionPhotometric``."""

    def __init__(self, preset: str = "howard", **options: Any) -> None:
        sample_photometric(preset, np.random.default_rng(0), **options)  # validate now
        self.preset, self.options = preset, options

    def __call__(self, img: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        p = sample_photometric(self.preset, default_generator() if rng is None else rng, **self.options)
        return apply_photometric(img, p)
