"""The composed training transform (sample, then apply) and single-step callables.

:class:`InceptionTrainTransform` = crop sampler + random interpolation + horizontal flip +
photometric preset + output conversion. ``sample`` draws every random choice as an
:class:`~inception_aug.params.AugParams` (plain data); ``apply`` turns an image and those params into
pixels with no randomness; ``__call__`` does both.

Draw order inside ``sample`` (all from the one generator): crop (see ``sampling``), interpolation
(one draw when more than one method), flip (one draw), photometric (``color.sample_photometric``).

Inputs: file paths and encoded bytes (decoded here, EXIF orientation honoured, JPEGs possibly at
reduced size), PIL images (any mode; no EXIF step, as in torchvision), numpy arrays HWC RGB / RGBA /
gray (H, W) or (H, W, 1), and CHW torch tensors (1, 3 or 4 channels). uint8 is the native type;
uint16 (divided by 257), bool and float in [0, 1] are converted. Images smaller than the output size
are upsampled. RGBA is composited on white.

Reduced-size decoding: when the input is an encoded JPEG and the sampled crop is at least ``r``
times the output size in both directions (r = 8, 4 or 2, the largest that fits), the JPEG is decoded
by libjpeg DCT scaling at 1/r and the crop box is mapped exactly into the reduced pixel grid (a
reduced pixel k covers full-size pixels [k*r, (k+1)*r); mirrored EXIF axes shift by the partial last
block). The fractional box is then resampled by ``resize.resized_crop_subpixel``. Pixels differ from
a full decode + integer crop because libjpeg's scaled IDCT low-pass filters (like an area filter)
where cv2's bilinear/bicubic/nearest do not: the result is less aliased. Measured bound on the shared
ImageNet photos: see tests/test_aug_transforms.py (mean absolute difference per pixel).
Turn it off with ``reduced_decode=False``.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np
from PIL import Image

from inception_aug.decode import (
    ImageDecodeError,
    ImageHeader,
    decode_image,
    pil_to_rgb_array,
    read_bytes,
    read_header,
    source_name,
)
from inception_aug.params import AugParams, CropBox
from inception_aug.resize import INTERPOLATIONS, resized_crop, resized_crop_subpixel
from inception_aug.sampling import SAMPLERS, sample_crop, sample_flip, sample_interpolation
from inception_aug.seeding import default_generator

try:  # color.py is written in parallel by another engineer; "none" works without it.
    from inception_aug import color as _color
except ImportError:  # pragma: no cover
    _color = None

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
OUTPUTS: tuple[str, ...] = ("tensor", "numpy", "pil", "tensor_uint8")

PRESETS: dict[str, dict[str, Any]] = {
    # The paper: uniform area 8-100 %, ratio 3/4-4/3, Howard's photometrics, 4 interpolations, mirror.
    "paper": dict(sampler="paper", photometric="howard", interpolations=INTERPOLATIONS, flip=0.5),
    # torchvision's ImageNet recipe with ColorJitter(0.4, 0.4, 0.4) (the benchmark's anchor).
    "torchvision": dict(sampler="torchvision", photometric="colorjitter", interpolations=("bilinear",), flip=0.5),
    # TF-slim inception_preprocessing (training): its crop sampler, 4 resize methods, distort_color.
    "tf-slim": dict(sampler="tf-slim", photometric="tf-slim", interpolations=INTERPOLATIONS, flip=0.5),
}


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Encoded:
    """An encoded image (path or bytes) with its header read: sampling needs only the size."""

    data: bytes
    header: ImageHeader
    name: str

    @property
    def size(self) -> tuple[int, int]:
        return self.header.size


ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray, Image.Image, Any]


def _array_to_rgb(a: np.ndarray) -> np.ndarray:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"expected an HWC image with 1, 3 or 4 channels or an (H, W) gray image, got shape {a.shape}")
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = np.rint(a.astype(np.float32) / 257.0).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        a = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise TypeError(f"unsupported image dtype {a.dtype}; use uint8 (or uint16, bool, float in [0, 1])")
    if a.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_GRAY2RGB)
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        rgb = a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.rint(rgb).astype(np.uint8)
    return a


def _is_rgb_u8(img: Any) -> bool:
    return isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8


def load_input(img: ImageInput) -> Union[Encoded, np.ndarray]:
    """Normalise any supported input: encoded sources stay encoded (header parsed), everything
    else becomes an (H, W, 3) uint8 RGB array. Raises ``ImageDecodeError`` for bad files/bytes,
    ``TypeError``/``ValueError`` for unsupported objects."""
    if isinstance(img, np.ndarray):
        return _array_to_rgb(img)
    if isinstance(img, Image.Image):
        return pil_to_rgb_array(img)
    if isinstance(img, (str, os.PathLike, bytes, bytearray, memoryview)):
        data = read_bytes(img)
        return Encoded(data, read_header(img, data), source_name(img))
    if type(img).__module__.startswith("torch"):
        t = img.detach().cpu()
        if t.ndim == 3 and t.shape[0] in (1, 3, 4):
            return _array_to_rgb(t.permute(1, 2, 0).numpy())
        if t.ndim == 2:
            return _array_to_rgb(t.numpy())
        raise ValueError(f"expected a CHW tensor with 1, 3 or 4 channels, got shape {tuple(t.shape)}")
    raise TypeError(f"unsupported image type {type(img).__name__}")


def input_size(img: Union[Encoded, np.ndarray]) -> tuple[int, int]:
    """(width, height) in pixels of a loaded input (EXIF-oriented for encoded ones)."""
    if isinstance(img, Encoded):
        return img.size
    return (img.shape[1], img.shape[0])


# ---------------------------------------------------------------------------------------------
# Output conversion


_PLANES = threading.local()


class ToNormalizedTensor:
    """(H, W, 3) uint8 RGB -> float32 CHW torch tensor ``(x / 255 - mean) / std``.

    ``mean`` and ``std`` are per channel on the [0, 1] scale. One lookup table per channel
    (256 float32 values) applied by ``cv2.LUT`` straight into the CHW planes: no float
    intermediate, one pass over the pixels. In the pipeline (after a JPEG decode, outputs kept
    alive as in a batch) this measured ~20% faster than with fresh planes and ~25% faster than a
    torch ``x.float() * scale + shift`` (which wins only in a warm loop).
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values each, std > 0; got {mean}, {std}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        v = np.arange(256, dtype=np.float64) / 255.0
        self._luts = [((v - m) / s).astype(np.float32).reshape(1, 256) for m, s in zip(self.mean, self.std)]

    def __call__(self, img: np.ndarray):
        import torch

        h, w = img.shape[:2]
        out = np.empty((3, h, w), dtype=np.float32)
        # Split into per-thread uint8 planes reused across calls: three fresh 50 KB planes per call
        # cost more (page faults) than the split itself (measured 35 vs 4 us at 224x224).
        planes = getattr(_PLANES, "buf", None)
        if planes is None or planes[0].shape != (h, w):
            planes = [np.empty((h, w), dtype=np.uint8) for _ in range(3)]
            _PLANES.buf = planes
        for c, plane in enumerate(cv2.split(img, planes)):
            cv2.LUT(plane, self._luts[c], dst=out[c])
        return torch.from_numpy(out)

    def __repr__(self) -> str:
        return f"ToNormalizedTensor(mean={self.mean}, std={self.std})"


def _to_output(img: np.ndarray, output: str, normalize: Optional[ToNormalizedTensor]):
    if output == "numpy":
        return img
    if output == "tensor":
        return normalize(img)
    if output == "pil":
        return Image.fromarray(img, mode="RGB")
    import torch

    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


# ---------------------------------------------------------------------------------------------
# Crop + resize from any input (the pixel step of the geometry)


_FLIPPED_X = (2, 3, 6, 7)  # EXIF orientations whose displayed x axis runs backwards in storage
_FLIPPED_Y = (3, 4, 7, 8)


def choose_reduce(box: CropBox, out_size: tuple[int, int]) -> int:
    """Largest r in {8, 4, 2} with the crop at least r times the output in both directions, else 1."""
    ow, oh = out_size
    for r in (8, 4, 2):
        if box.w >= r * ow and box.h >= r * oh:
            return r
    return 1


def crop_resize(img: Union[Encoded, np.ndarray], box: CropBox, out_size: tuple[int, int],
                interpolation: str, *, reduced_decode: bool = True, fast_dct: bool = False) -> np.ndarray:
    """The crop ``box`` (full-size oriented pixels) of a loaded input, resized to ``out_size``
    = (width, height). Encoded JPEGs are decoded at 1/r when the crop allows (see module doc)."""
    if isinstance(img, np.ndarray):
        return resized_crop(img, (box.x, box.y, box.w, box.h), out_size, interpolation)
    W, H = img.size
    if not box.inside(W, H):
        raise ValueError(f"crop box {box} is not inside the {W}x{H} image {img.name}")
    r = choose_reduce(box, out_size) if (reduced_decode and img.header.jpeg) else 1
    pixels = decode_image(img.name, reduce=r, data=img.data, header=img.header, fast_dct=fast_dct)
    ph, pw = pixels.shape[:2]
    if (pw, ph) == (W, H):
        return resized_crop(pixels, (box.x, box.y, box.w, box.h), out_size, interpolation)
    expected = (-(-W // r), -(-H // r))
    if r == 1 or ((pw, ph) != expected and (ph, pw) == expected):
        # The header promised another size or orientation (e.g. an EXIF block only one parser reads).
        raise ImageDecodeError(img.name, f"decoded size {pw}x{ph} does not match the header's {W}x{H} (1/{r})")
    o = img.header.orientation
    fbox = []
    for pos, length, n, full, flipped in ((box.x, box.w, pw, W, o in _FLIPPED_X), (box.y, box.h, ph, H, o in _FLIPPED_Y)):
        if n == -(-full // r):  # libjpeg's ceil(full / r) grid: exact 1/r mapping
            off = (full - n * r) if flipped else 0
            fbox += [(pos - off) / r, length / r]
        else:  # unexpected size (not seen with libjpeg-turbo): proportional mapping
            fbox += [pos * n / full, length * n / full]
    return resized_crop_subpixel(pixels, (fbox[0], fbox[2], fbox[1], fbox[3]), out_size, interpolation)


# ---------------------------------------------------------------------------------------------
# The composed transform


def _out_size(size: Union[int, Sequence[int]]) -> tuple[int, int]:
    """torchvision convention: int -> square; (h, w) sequence. Returns (width, height)."""
    if isinstance(size, (int, np.integer)):
        s = (int(size), int(size))
    else:
        if len(size) != 2:
            raise ValueError(f"size must be an int or (height, width), got {size!r}")
        s = (int(size[1]), int(size[0]))
    if min(s) < 1:
        raise ValueError(f"output size must be positive, got {size!r}")
    return s


class InceptionTrainTransform:
    """The paper's training augmentation as one callable (works in any ``Compose``/``Dataset``).

    Args:
        size: output side in pixels (int) or (height, width).
        sampler: ``"paper"`` (default), ``"torchvision"`` or ``"tf-slim"`` (see ``sampling``).
        photometric: ``"howard"``, ``"tf-slim"``, ``"colorjitter"`` or ``"none"`` (see ``color``).
        interpolations: the resize methods drawn per sample with equal probability.
        flip: probability in [0, 1] of a horizontal mirror.
        output: ``"tensor"`` (normalised float32 CHW), ``"numpy"`` (uint8 HWC), ``"pil"``, or
            ``"tensor_uint8"`` (uint8 CHW, e.g. for ``inception_aug.batch`` on a GPU).
        mean, std: per-channel normalisation on the [0, 1] scale (tensor output).
        scale, ratio: crop area-fraction and aspect-ratio ranges (None: the sampler's defaults).
        sampler_options: extra sampler keywords (``max_attempts``, ``min_object_covered``).
        photometric_options: keywords for ``color.sample_photometric`` (e.g. ``fast_mode``).
        reduced_decode: allow libjpeg DCT-scaled decoding of JPEG inputs (see module doc).
        fast_dct: decode JPEGs with libjpeg-turbo's fast IDCT and plain chroma upsampling
            (``decode_image(fast_dct=True)``; a few % faster, slightly less accurate pixels).
    """

    def __init__(self, size: Union[int, Sequence[int]] = 224, sampler: str = "paper", photometric: str = "howard",
                 interpolations: Sequence[str] = INTERPOLATIONS, flip: float = 0.5, output: str = "tensor",
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, *,
                 scale: Optional[Sequence[float]] = None, ratio: Optional[Sequence[float]] = None,
                 sampler_options: Optional[dict] = None, photometric_options: Optional[dict] = None,
                 reduced_decode: bool = True, fast_dct: bool = False) -> None:
        self.out_size = _out_size(size)
        self.size = size
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown crop sampler {sampler!r}; expected one of {SAMPLERS}")
        bad = [m for m in interpolations if m not in INTERPOLATIONS]
        if bad or not interpolations:
            raise ValueError(f"interpolations must be a non-empty subset of {INTERPOLATIONS}, got {interpolations!r}")
        if photometric != "none":
            if _color is None:
                raise ImportError("inception_aug.color is not available; use photometric='none'")
            if photometric not in _color.PRESETS:
                raise ValueError(f"unknown photometric preset {photometric!r}; expected one of {_color.PRESETS}")
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; expected one of {OUTPUTS}")
        if not 0.0 <= flip <= 1.0:
            raise ValueError(f"flip probability must be in [0, 1], got {flip}")
        self.sampler = sampler
        self.photometric = photometric
        self.interpolations = tuple(interpolations)
        self.flip = float(flip)
        self.output = output
        self.scale = None if scale is None else tuple(scale)
        self.ratio = None if ratio is None else tuple(ratio)
        self.sampler_options = dict(sampler_options or {})
        self.photometric_options = dict(photometric_options or {})
        self.reduced_decode = bool(reduced_decode)
        self.fast_dct = bool(fast_dct)
        self.normalize = ToNormalizedTensor(mean, std)
        self.mean, self.std = self.normalize.mean, self.normalize.std

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "InceptionTrainTransform":
        """``"paper"``, ``"torchvision"`` or ``"tf-slim"``; keyword arguments override fields."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {tuple(PRESETS)}")
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
            photo = _color.sample_photometric(self.photometric, rng, **self.photometric_options)
        return AugParams(crop=crop, interpolation=interpolation, flip=flip, photometric=photo,
                         image_size=(int(width), int(height)))

    # pixels ---------------------------------------------------------------------------------
    def apply_uint8(self, img: ImageInput, params: AugParams) -> np.ndarray:
        """Pixels of ``params`` applied to ``img``: (out_h, out_w, 3) uint8 RGB. No randomness."""
        src = img if isinstance(img, Encoded) or _is_rgb_u8(img) else load_input(img)
        if params.image_size is not None and tuple(params.image_size) != input_size(src):
            raise ValueError(f"params were sampled for a {params.image_size} image, got {input_size(src)}")
        out = crop_resize(src, params.crop, self.out_size, params.interpolation, reduced_decode=self.reduced_decode,
                          fast_dct=self.fast_dct)
        # Flip and a fused colour matrix are per-pixel maps: run them in place when ``out`` is our
        # own array (not a view of a caller's array, which resize returns for an exact-size crop).
        own = out.base is None or not (isinstance(src, np.ndarray) and np.may_share_memory(out, src))
        if params.flip:
            out = cv2.flip(out, 1, dst=out) if own and out.flags.c_contiguous else cv2.flip(out, 1)
            own = True
        if params.photometric is not None:
            out = _color.apply_photometric(out, params.photometric, dst=out if own else None)
        return out

    def apply(self, img: ImageInput, params: AugParams):
        """Apply ``params`` and convert to this transform's ``output`` type."""
        return _to_output(self.apply_uint8(img, params), self.output, self.normalize)

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


class RandomResizedCropInception:
    """Crop sampler + random interpolation + resize. Returns (out_h, out_w, 3) uint8 RGB."""

    def __init__(self, size: Union[int, Sequence[int]] = 224, sampler: str = "paper",
                 interpolations: Sequence[str] = INTERPOLATIONS, *, scale=None, ratio=None,
                 reduced_decode: bool = True) -> None:
        self._t = InceptionTrainTransform(size, sampler, "none", interpolations, 0.0, "numpy", scale=scale,
                                          ratio=ratio, reduced_decode=reduced_decode)

    def __call__(self, img: ImageInput, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        return self._t(img, rng)


class RandomHorizontalFlip:
    """Mirror an (H, W, C) uint8 array with probability ``p`` (one draw)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def __call__(self, img: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        flip = sample_flip(default_generator() if rng is None else rng, self.p)
        return cv2.flip(img, 1) if flip else img


class RandomPhotometric:
    """A photometric preset on an (H, W, 3) uint8 RGB array (see ``color``)."""

    def __init__(self, preset: str = "howard", **options: Any) -> None:
        if _color is None:
            raise ImportError("inception_aug.color is not available")
        self.preset, self.options = preset, options

    def __call__(self, img: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        p = _color.sample_photometric(self.preset, default_generator() if rng is None else rng, **self.options)
        return _color.apply_photometric(img, p)
