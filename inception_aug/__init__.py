"""inception_aug: the GoogLeNet paper's training augmentation.

Public API is re-exported here; everything else is private by default. Importing the package
loads numpy, Pillow and OpenCV only (torch is imported when a tensor is produced; albumentations
and matplotlib only by their own modules).
"""
from inception_aug.color import PhotometricParams, apply_photometric, sample_photometric
from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD
from inception_aug.decode import ImageDecodeError, decode_image, image_size
from inception_aug.params import AugParams, CropBox
from inception_aug.resize import INTERPOLATIONS, resize
from inception_aug.sampling import SAMPLERS, sample_crop, sample_flip, sample_interpolation
from inception_aug.seeding import AugmentedDataset, generator_for, worker_init_fn
from inception_aug.transforms import (
    PRESETS,
    InceptionColor,
    InceptionCrop,
    InceptionFlip,
    InceptionTrainTransform,
    ToNormalizedTensor,
)

__all__ = [
    "ImageDecodeError", "decode_image", "image_size",
    "INTERPOLATIONS", "resize",
    "AugParams", "CropBox",
    "SAMPLERS", "sample_crop", "sample_flip", "sample_interpolation",
    "AugmentedDataset", "generator_for", "worker_init_fn",
    "IMAGENET_MEAN", "IMAGENET_STD", "PRESETS", "InceptionTrainTransform", "InceptionCrop", "InceptionFlip",
    "InceptionColor", "ToNormalizedTensor",
    "PhotometricParams", "apply_photometric", "sample_photometric",
]
