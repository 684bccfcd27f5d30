"""albumentations 2.0.8 adapters: the Inception crop (with a random interpolation per sample) and
the photometric presets as ``A.Compose``-compatible transforms, plus the forked-worker seeding fix.

- :class:`InceptionRandomResizedCrop` (a ``DualTransform``): crop box from
  ``inception_aug.sampling.sample_crop`` (``paper``, ``torchvision`` or ``tf-slim``), resized to
  ``size`` = (height, width) with an interpolation drawn per call from ``interpolations``.
  albumentations copies the *instance* ``interpolation`` into the params after ``get_params()``
  (``update_transform_params``), so the draw happens in ``get_params_dependent_on_data()``, which
  runs afterwards and overrides it. Masks follow the same crop and are resized with
  ``mask_interpolation`` (nearest by default: labels stay labels); bounding boxes and keypoints are
  cropped and scaled by albumentations' own crop code (we inherit ``_BaseRandomSizedCrop``).
- :class:`InceptionPhotometric` (an ``ImageOnlyTransform``): ``color.sample_photometric`` +
  ``color.apply_photometric`` on uint8 RGB images.
- Reproducibility. Every albumentations 2.0.8 transform draws from generators created once at
  construction (``Compose(seed=None)`` seeds them from OS entropy in the parent process). A
  DataLoader with forked workers copies that state, so every worker draws the same sequence: worker
  0's first sample gets the same crop as worker 1's first sample, and so on. Fix:
  ``DataLoader(..., worker_init_fn=albumentations_worker_init_fn)``, which calls
  ``inception_aug.seeding.worker_init_fn`` and then gives every albumentations ``Compose`` /
  transform reachable from the worker's dataset one fresh generator seeded from torch's worker
  seed (``torch.initial_seed()``: base seed + worker id, new base seed per epoch). Use
  :func:`reseed` directly for other setups, or :class:`PerSampleSeeded` for draws that depend only
  on (seed, epoch, index), not on workers.

Both transforms draw from ``self.random_generator`` (a ``numpy.random.Generator``), which
``Compose.set_random_seed`` / ``set_random_state`` control.
"""
from __future__ import annotations

import random
from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np

import albumentations as A
from albumentations.augmentations.crops.transforms import _BaseRandomSizedCrop

from inception_aug import color as _color
from inception_aug.plain import size_hw
from inception_aug.resize import CV2_FLAGS, INTERPOLATIONS, resize
from inception_aug.sampling import sample_crop, sample_interpolation
from inception_aug.seeding import find_objects, worker_init_fn

_NAMES = {v: k for k, v in CV2_FLAGS.items()}


class InceptionRandomResizedCrop(_BaseRandomSizedCrop):
    """Inception crop + random interpolation for ``A.Compose`` (targets: image, mask(s), bboxes,
    keypoints, volumes as albumentations' ``RandomResizedCrop``).

    Args:
        size: output (height, width) in pixels, or an int for a square.
        sampler: ``"paper"`` (default), ``"torchvision"`` or ``"tf-slim"``.
        interpolations: names drawn with equal probability per call, a subset of
            ``("bilinear", "area", "nearest", "bicubic")``.
        scale, ratio: area-fraction and aspect-ratio (w / h) ranges; None = the sampler's defaults.
        mask_interpolation: OpenCV flag for masks (default nearest).
        sampler_options: extra keywords for the sampler (``max_attempts``, ``min_object_covered``).
        p: probability of applying the transform (default 1).

    ``transform.params`` after a call (and ``Compose(..., save_applied_params=True)``) holds
    ``crop_coords`` (x1, y1, x2, y2), ``interpolation`` (OpenCV flag) and ``interpolation_name``.
    """

    def __init__(self, size: Union[int, Sequence[int]] = 224, sampler: str = "paper",
                 interpolations: Sequence[str] = INTERPOLATIONS, scale: Optional[Sequence[float]] = None,
                 ratio: Optional[Sequence[float]] = None, mask_interpolation: int = cv2.INTER_NEAREST,
                 sampler_options: Optional[dict] = None, p: float = 1.0) -> None:
        interpolations = tuple(interpolations)
        bad = [m for m in interpolations if m not in CV2_FLAGS]
        if bad or not interpolations:
            raise ValueError(f"interpolations must be a non-empty subset of {INTERPOLATIONS}, got {interpolations!r}")
        super().__init__(size=size_hw(size), interpolation=CV2_FLAGS[interpolations[0]],
                         mask_interpolation=mask_interpolation, area_for_downscale=None, p=p)
        self.sampler = sampler
        self.interpolations = interpolations
        self.scale = None if scale is None else tuple(scale)
        self.ratio = None if ratio is None else tuple(ratio)
        self.sampler_options = dict(sampler_options or {})
        # validate the sampler name and ranges now rather than inside a worker
        sample_crop(64, 48, np.random.default_rng(0), method=sampler, scale=self.scale, ratio=self.ratio,
                    **self.sampler_options)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Crop box and interpolation for this call (the interpolation here overrides the instance
        value that ``update_transform_params`` put into ``params``)."""
        height, width = params["shape"][:2]
        rng = self.random_generator
        box = sample_crop(int(width), int(height), rng, method=self.sampler, scale=self.scale, ratio=self.ratio,
                          **self.sampler_options)
        name = sample_interpolation(rng, self.interpolations)
        return {"crop_coords": (box.x, box.y, box.x + box.w, box.y + box.h), "interpolation": CV2_FLAGS[name],
                "interpolation_name": name}

    def apply(self, img: np.ndarray, crop_coords: tuple[int, int, int, int], interpolation: int = cv2.INTER_LINEAR,
              **params: Any) -> np.ndarray:
        x1, y1, x2, y2 = crop_coords
        crop = img[y1:y2, x1:x2]
        if img.dtype == np.uint8 and img.ndim == 3:
            return resize(np.ascontiguousarray(crop), self.out_wh, _NAMES[interpolation])
        return cv2.resize(np.ascontiguousarray(crop), self.out_wh, interpolation=interpolation)

    @property
    def out_wh(self) -> tuple[int, int]:
        """The output (width, height) in pixels (OpenCV order; ``size`` is (height, width))."""
        return (self.size[1], self.size[0])

    def apply_to_images(self, images: np.ndarray, crop_coords: tuple[int, int, int, int],
                        interpolation: int = cv2.INTER_LINEAR, **params: Any) -> np.ndarray:
        return np.stack([self.apply(im, crop_coords, interpolation) for im in images])

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("size", "sampler", "interpolations", "scale", "ratio", "mask_interpolation", "sampler_options")


class InceptionPhotometric(A.ImageOnlyTransform):
    """A photometric preset of ``inception_aug.color`` for ``A.Compose`` (uint8 RGB images).

    Args:
        preset: ``"howard"`` (default), ``"tf-slim"``, ``"colorjitter"`` or ``"none"``.
        p: probability of applying the transform (default 1).
        **options: preset options of ``color.sample_photometric`` (e.g. ``hue=0.1``, ``fast_mode=True``).

    ``transform.params["photometric"]`` after a call is the ``PhotometricParams`` drawn.
    """

    def __init__(self, preset: str = "howard", p: float = 1.0, **options: Any) -> None:
        super().__init__(p=p)
        self.preset = preset
        self.options = dict(options)
        _color.sample_photometric(preset, np.random.default_rng(0), **self.options)  # validate now

    def get_params(self) -> dict[str, Any]:
        return {"photometric": _color.sample_photometric(self.preset, self.random_generator, **self.options)}

    def apply(self, img: np.ndarray, photometric: Optional[_color.PhotometricParams] = None,
              **params: Any) -> np.ndarray:
        if img.ndim != 3 or img.shape[2] != 3 or not (img.dtype == np.uint8 or img.dtype == np.float32):
            raise ValueError(f"InceptionPhotometric needs (H, W, 3) uint8 RGB images (or float32 in [0, 1]), "
                             f"got {img.dtype} {img.shape}")
        if img.dtype == np.float32:
            # float32 in [0, 1] (e.g. after A.ToFloat): quantised to uint8 levels, distorted, scaled back
            u8 = cv2.convertScaleAbs(np.clip(img, 0.0, 1.0), alpha=255.0)
            return _color.apply_photometric(u8, photometric).astype(np.float32) * np.float32(1.0 / 255.0)
        return _color.apply_photometric(img, photometric)

    def apply_to_images(self, images: np.ndarray, photometric=None, **params: Any) -> np.ndarray:
        return np.stack([self.apply(im, photometric) for im in images])

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("preset", "options")


# ----------------------------------------------------------------------------------------------
# seeding
# ----------------------------------------------------------------------------------------------

def _is_albu(obj: Any) -> bool:
    return isinstance(obj, (A.BaseCompose, A.BasicTransform))


def reseed(transform: Any, seed: int) -> None:
    """Give an albumentations ``Compose`` (or transform) and everything inside it one fresh shared
    generator pair seeded with ``seed``: ``numpy.random.Generator`` + ``random.Random``.

    (``Compose.set_random_seed(s)`` instead seeds every child with the same ``s``, so two transforms
    of one pipeline would draw identical streams; one shared generator keeps them independent.)"""
    if not _is_albu(transform):
        raise TypeError(f"reseed expects an albumentations Compose or transform, got {type(transform).__name__}")
    ss = np.random.SeedSequence(int(seed) % (2**63))
    transform.set_random_state(np.random.default_rng(ss), random.Random(int(ss.generate_state(1)[0])))


def albumentations_worker_init_fn(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=albumentations_worker_init_fn)``: distinct draws per forked worker.

    Runs ``inception_aug.seeding.worker_init_fn`` (Python/numpy global state, our default generator)
    and then :func:`reseed` on every albumentations object found in the worker's dataset copy
    (``inception_aug.seeding.find_objects``: instance attributes, lists and dicts), seeded from ``torch.initial_seed()``
    (distinct per worker, reproducible under ``torch.manual_seed`` / the DataLoader generator)."""
    import torch

    worker_init_fn(worker_id)
    info = torch.utils.data.get_worker_info()
    if info is None:
        return
    seed = int(torch.initial_seed())
    for i, t in enumerate(find_objects(info.dataset, _is_albu)):
        reseed(t, seed + 1_000_003 * i)


class PerSampleSeeded:
    """Wrap an albumentations ``Compose`` so sample ``index`` of ``epoch`` is augmented with a
    generator derived from (seed, epoch, index) only: identical results for any number or order of
    DataLoader workers. Call as ``wrapped(index, **data)``; ``set_epoch(e)`` as in ``AugmentedDataset``.
    """

    def __init__(self, compose: Any, seed: int = 0) -> None:
        if not _is_albu(compose):
            raise TypeError(f"PerSampleSeeded expects an albumentations Compose, got {type(compose).__name__}")
        self.compose = compose
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __call__(self, index: int, **data: Any) -> dict[str, Any]:
        ss = np.random.SeedSequence([self.seed, self.epoch, int(index)])
        self.compose.set_random_state(np.random.default_rng(ss), random.Random(int(ss.generate_state(1)[0])))
        return self.compose(**data)


__all__ = ["InceptionRandomResizedCrop", "InceptionPhotometric", "reseed", "albumentations_worker_init_fn",
           "PerSampleSeeded"]
