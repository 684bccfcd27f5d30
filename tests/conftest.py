"""Shared fixtures. Real photos live in ../shared/data (relative to the repo root); skip when absent."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def _need(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (expected ../shared/data beside the repo)")
    return path


@pytest.fixture(scope="session")
def imagenet_samples() -> Path:
    """../shared/data/imagenet-samples: 115 ImageNet JPEGs plus labels.csv."""
    return _need(SHARED_DATA / "imagenet-samples")


@pytest.fixture(scope="session")
def small_classification() -> Path:
    """../shared/data/small-classification: Imagenette train/val ImageFolder trees (224x224)."""
    return _need(SHARED_DATA / "small-classification")
