"""Photometric presets as plain data: the constants, ``PhotometricParams`` and the samplers.

Geometry layer: pure functions of a ``numpy.random.Generator``, no pixels. The pixel kernels are in
:mod:`inception_aug.color_u8` and :mod:`inception_aug.color_tf`; :func:`inception_aug.color.apply_photometric`
applies a draw. ``PRESET_DEFAULTS`` is the one place the preset options are written (the batched
torch sampler in :mod:`inception_aug.batch` reads it too).

Sources of each preset (what they take from where):

``howard``
    Factor ranges [0.5, 1.5] for brightness, contrast and saturation ("color") in a random order,
    followed by AlexNet PCA lighting: Howard, "Some improvements on deep convolutional neural network
    based image classification" (2013), the paper GoogLeNet cites for its photometric distortions.
    Op formulas (blend with black / the gray mean / the per-pixel gray, gray weights 0.299, 0.587,
    0.114) and the lighting constants: fb.resnet.torch ``datasets/transforms.lua`` (``ColorJitter``,
    ``Lighting(0.1, eigval, eigvec)`` in ``datasets/imagenet.lua``), which uses 0.4, not 0.5.
    Default ``clamp="each"``: Howard applied the three manipulations to images with the Python
    Imaging Library (uint8, clamped after every enhancement), and torchvision / timm's ColorJitter
    on PIL images clamps after every op too. fb.resnet.torch never clamps (float tensors, normalised
    straight after); ``clamp="final"`` is that rule with the one clamp a uint8 output needs.
``colorjitter``
    torchvision ``ColorJitter`` (the one timm's training transform uses, ``color_jitter=0.4``,
    applied to PIL images; timm has no PCA lighting).
``tf-slim``
    TF-slim ``inception_preprocessing.distort_color``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from inception_aug.errors import UsageError

__all__ = [
    "PRESETS", "PRESET_DEFAULTS", "CLAMP_MODES", "COLORJITTER_OPS", "HOWARD_OPS", "LIGHTING_EIGVAL",
    "LIGHTING_EIGVEC", "GRAY_HOWARD", "GRAY_TORCHVISION", "TF_SLIM_ORDERINGS", "TF_SLIM_FAST_ORDERINGS",
    "PhotometricParams", "lighting_offset", "jitter_range", "colorjitter_ranges", "preset_options", "check_clamp",
    "sample_photometric",
]

PRESETS: tuple[str, ...] = ("howard", "tf-slim", "colorjitter", "none")

# AlexNet PCA lighting on ImageNet RGB in [0, 1] (the constants of fb.resnet.torch datasets/imagenet.lua).
LIGHTING_EIGVAL: tuple[float, float, float] = (0.2175, 0.0188, 0.0045)
LIGHTING_EIGVEC: tuple[tuple[float, float, float], ...] = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)

# Gray weights: fb.resnet.torch (and PIL's "L" conversion) use Rec. 601 to 3 digits; torchvision 0.2989.
GRAY_HOWARD: tuple[float, float, float] = (0.299, 0.587, 0.114)
GRAY_TORCHVISION: tuple[float, float, float] = (0.2989, 0.587, 0.114)

# TF-slim's four orderings of distort_color (fast_mode=False), and its fast_mode pairs.
TF_SLIM_ORDERINGS: tuple[tuple[str, ...], ...] = (
    ("brightness", "saturation", "hue", "contrast"),
    ("saturation", "brightness", "contrast", "hue"),
    ("contrast", "hue", "brightness", "saturation"),
    ("hue", "saturation", "contrast", "brightness"),
)
TF_SLIM_FAST_ORDERINGS: tuple[tuple[str, ...], ...] = (
    ("brightness", "saturation"),
    ("saturation", "brightness"),
    ("saturation", "brightness"),
    ("saturation", "brightness"),
)
COLORJITTER_OPS: tuple[str, ...] = ("brightness", "contrast", "saturation", "hue")
HOWARD_OPS: tuple[str, ...] = ("brightness", "contrast", "saturation")
CLAMP_MODES: tuple[str, ...] = ("final", "each")

#: Every option of every preset with its default (see :func:`sample_photometric` for the meaning).
PRESET_DEFAULTS: dict[str, dict[str, Any]] = {
    "howard": {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "lighting_std": 0.1, "clamp": "each"},
    "colorjitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.0, "clamp": "each"},
    "tf-slim": {"fast_mode": False, "max_brightness": 32.0 / 255.0, "saturation": (0.5, 1.5), "max_hue": 0.2,
                "contrast": (0.5, 1.5)},
}


@dataclass(frozen=True)
class PhotometricParams:
    """The plain data of one photometric draw.

    Attributes:
        preset: ``"howard"``, ``"tf-slim"`` or ``"colorjitter"``.
        order: names of the colour ops in the order they are applied (subset of brightness,
            contrast, saturation, hue). Lighting (howard) always comes last and is not listed.
        brightness: multiplicative factor (howard, colorjitter; >= 0) or additive delta on the
            [0, 1] scale (tf-slim); None when the op is off.
        contrast: blend factor towards the mean (>= 0); None when off.
        saturation: blend factor towards gray (howard, colorjitter) or HSV S multiplier (tf-slim).
        hue: shift of H in turns, in [-0.5, 0.5]; None when off.
        lighting: the three PCA alphas (howard), None otherwise.
        ordering: TF-slim's ``color_ordering`` index 0..3 (tf-slim only).
        fast_mode: TF-slim ``fast_mode`` (only brightness and saturation).
        clamp: ``"each"`` (clamp and round to uint8 after every op) or ``"final"`` (one affine
            colour matrix, clamped and rounded once; needs hue off). howard / colorjitter only;
            tf-slim always clips once at the end (TF semantics) and ignores it.
    """

    preset: str
    order: tuple[str, ...]
    brightness: Optional[float] = None
    contrast: Optional[float] = None
    saturation: Optional[float] = None
    hue: Optional[float] = None
    lighting: Optional[tuple[float, float, float]] = None
    ordering: Optional[int] = None
    fast_mode: bool = False
    clamp: str = "each"

    def __post_init__(self) -> None:
        if self.preset not in ("howard", "tf-slim", "colorjitter"):
            raise ValueError(f"unknown photometric preset {self.preset!r}; expected howard, tf-slim or colorjitter")
        for name in self.order:
            if name not in COLORJITTER_OPS:
                raise ValueError(f"unknown colour op {name!r} in order {self.order}")
            if getattr(self, name) is None:
                raise ValueError(f"op {name!r} is in order {self.order} but its value is None")
        if self.hue is not None and not -0.5 <= self.hue <= 0.5:
            raise ValueError(f"hue shift {self.hue} is outside [-0.5, 0.5] turns")
        check_clamp(self.clamp, hue="hue" in self.order and self.preset != "tf-slim")

    @property
    def fused(self) -> bool:
        """True when the draw is applied as one 3x4 colour matrix (``color_u8.color_matrix``)."""
        return self.clamp == "final" and self.preset != "tf-slim"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-friendly) for logging."""
        d = asdict(self)
        d["order"] = list(self.order)
        if self.lighting is not None:
            d["lighting"] = list(self.lighting)
        return d

    def lighting_offset(self) -> Optional[np.ndarray]:
        """PCA lighting RGB offset in units of the [0, 1] scale, shape (3,), or None."""
        if self.lighting is None:
            return None
        return lighting_offset(self.lighting)


_EIGVEC = np.asarray(LIGHTING_EIGVEC, dtype=np.float64)
_EIGVAL = np.asarray(LIGHTING_EIGVAL, dtype=np.float64)


def lighting_offset(alphas: Sequence[float]) -> np.ndarray:
    """RGB offset (3,) on the [0, 1] scale: ``eigvec @ (alpha * eigval)`` (fb.resnet.torch ``Lighting``)."""
    return _EIGVEC @ (np.asarray(alphas, dtype=np.float64) * _EIGVAL)


def check_clamp(clamp: str, *, hue: bool) -> str:
    """``clamp`` if it is one of ``CLAMP_MODES`` and usable (``"final"`` fuses affine ops only, so it
    refuses a draw with hue); ``ValueError`` otherwise."""
    if clamp not in CLAMP_MODES:
        raise ValueError(f"clamp must be one of {CLAMP_MODES}, got {clamp!r}")
    if clamp == "final" and hue:
        raise ValueError("clamp='final' fuses affine ops only; turn hue off or use clamp='each'")
    return clamp


# ----------------------------------------------------------------------------------------------
# Sampling (pure functions of the generator)
# ----------------------------------------------------------------------------------------------

Range = Union[float, tuple[float, float], None]


def jitter_range(value: Range, name: str, *, center: float = 1.0, bound: tuple[float, float] = (0.0, math.inf),
                 clip_first_on_zero: bool = True) -> Optional[tuple[float, float]]:
    """torchvision ``ColorJitter._check_input``: a number v -> [center - v, center + v] (low end
    clipped at 0 for factors), a pair is used as is; returns None when the op is off."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
        lo, hi = center - float(value), center + float(value)
        if clip_first_on_zero:
            lo = max(lo, 0.0)
    else:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number or a (min, max) pair, got {value!r}") from None
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"{name} range ({lo}, {hi}) must be ordered and inside {bound}")
    if lo == hi == center:
        return None
    return (lo, hi)


def colorjitter_ranges(opts: dict[str, Any]) -> list[Optional[tuple[float, float]]]:
    """The (lo, hi) range of brightness, contrast, saturation and hue (None = off) of colorjitter options."""
    return [jitter_range(opts["brightness"], "brightness"), jitter_range(opts["contrast"], "contrast"),
            jitter_range(opts["saturation"], "saturation"),
            jitter_range(opts["hue"], "hue", center=0.0, bound=(-0.5, 0.5), clip_first_on_zero=False)]


def preset_options(preset: str, options: dict[str, Any]) -> dict[str, Any]:
    """``PRESET_DEFAULTS[preset]`` updated with ``options``; ``UsageError`` (a ``ValueError``) for an
    unknown preset or option name."""
    if preset not in PRESET_DEFAULTS:
        raise UsageError(f"unknown photometric preset {preset!r}; expected one of {PRESETS}")
    unknown = sorted(set(options) - set(PRESET_DEFAULTS[preset]))
    if unknown:
        raise UsageError(f"bad options for photometric preset {preset!r}: unknown option(s) {unknown}")
    return {**PRESET_DEFAULTS[preset], **options}


def _sample_howard(rng: np.random.Generator, *, brightness: float, contrast: float, saturation: float,
                   lighting_std: float, clamp: str) -> PhotometricParams:
    # Draw order is fixed (permutation, then b, c, s, then lighting) so a seed means one thing.
    perm = rng.permutation(3)
    b = 1.0 + rng.uniform(-brightness, brightness) if brightness else None
    c = 1.0 + rng.uniform(-contrast, contrast) if contrast else None
    s = 1.0 + rng.uniform(-saturation, saturation) if saturation else None
    vals = {"brightness": b, "contrast": c, "saturation": s}
    order = tuple(HOWARD_OPS[i] for i in perm if vals[HOWARD_OPS[i]] is not None)
    light = tuple(float(a) for a in rng.normal(0.0, lighting_std, 3)) if lighting_std else None
    return PhotometricParams("howard", order, brightness=b, contrast=c, saturation=s, lighting=light, clamp=clamp)


def _sample_colorjitter(rng: np.random.Generator, **opts: Any) -> PhotometricParams:
    ranges = colorjitter_ranges(opts)
    clamp = check_clamp(opts["clamp"], hue=ranges[3] is not None)
    # As torchvision get_params: permutation of all four first, then one factor per enabled op.
    perm = rng.permutation(4)
    vals = {name: float(rng.uniform(*r)) if r else None for name, r in zip(COLORJITTER_OPS, ranges)}
    order = tuple(COLORJITTER_OPS[i] for i in perm if vals[COLORJITTER_OPS[i]] is not None)
    return PhotometricParams("colorjitter", order, **vals, clamp=clamp)


def _sample_tf_slim(rng: np.random.Generator, *, fast_mode: bool, max_brightness: float,
                    saturation: tuple[float, float], max_hue: float,
                    contrast: tuple[float, float]) -> PhotometricParams:
    ordering = int(rng.integers(4))  # TF-slim draws among 4 cases even in fast_mode
    order = (TF_SLIM_FAST_ORDERINGS if fast_mode else TF_SLIM_ORDERINGS)[ordering]
    b = float(rng.uniform(-max_brightness, max_brightness))
    s = float(rng.uniform(*saturation))
    h = None if fast_mode else float(rng.uniform(-max_hue, max_hue))
    c = None if fast_mode else float(rng.uniform(*contrast))
    return PhotometricParams("tf-slim", order, brightness=b, contrast=c, saturation=s, hue=h,
                             ordering=ordering, fast_mode=fast_mode)


_SAMPLERS = {"howard": _sample_howard, "colorjitter": _sample_colorjitter, "tf-slim": _sample_tf_slim}


def sample_photometric(preset: str, rng: np.random.Generator, **options: Any) -> Optional[PhotometricParams]:
    """Draw one photometric distortion.

    Args:
        preset: ``"howard"``, ``"tf-slim"``, ``"colorjitter"`` or ``"none"`` (returns None).
        rng: the generator every number is drawn from.
        **options: per preset (defaults in ``PRESET_DEFAULTS``):
            howard: ``brightness``, ``contrast``, ``saturation`` (variation v: factor uniform in
            [1 - v, 1 + v], default 0.5 each), ``lighting_std`` (default 0.1; 0 disables),
            ``clamp`` (``"each"``, default: uint8 after every op, as Howard's PIL pipeline;
            ``"final"``: one fused colour matrix on unclamped values, as fb.resnet.torch's floats).
            colorjitter: ``brightness``, ``contrast``, ``saturation`` (default 0.4), ``hue``
            (default 0.0), with torchvision's meaning; ``clamp`` (``"each"``, default, as
            torchvision; ``"final"`` needs hue off). ``clamp`` draws no random numbers.
            tf-slim: ``fast_mode`` (default False), ``max_brightness`` (32/255), ``saturation``
            ((0.5, 1.5)), ``max_hue`` (0.2), ``contrast`` ((0.5, 1.5)).
    """
    if preset == "none" or preset is None:
        if options:
            raise UsageError(f"preset 'none' takes no options, got {sorted(options)}")
        return None
    opts = preset_options(preset, options)
    return _SAMPLERS[preset](rng, **opts)
