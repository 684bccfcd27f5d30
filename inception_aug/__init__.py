"""inception_aug: the GoogLeNet paper's training augmentation.

Public API is re-exported here; everything else is private by default.
"""
from inception_aug.decode import ImageDecodeError, decode_image, image_size
from inception_aug.resize import INTERPOLATIONS, resize

__all__ = ["ImageDecodeError", "decode_image", "image_size", "INTERPOLATIONS", "resize"]
