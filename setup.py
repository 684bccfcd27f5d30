"""Build script for the optional C accelerator; all metadata lives in pyproject.toml.

``inception_aug._jpeg_region`` links the system libjpeg-turbo, 2.1 or newer (headers: Debian/Ubuntu
``libjpeg-dev`` or ``libjpeg62-turbo-dev``, Fedora ``libjpeg-turbo-devel``, conda
``libjpeg-turbo``). It is optional: where the headers or a C compiler are missing the install
still succeeds and the training transform decodes whole JPEGs (same pixels, slower);
``inception_aug.decode.region_decode_status()`` says which path is active.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "inception_aug._jpeg_region",
            sources=["inception_aug/_jpeg_region.c"],
            libraries=["jpeg"],
            optional=True,
        )
    ]
)
