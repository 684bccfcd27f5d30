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


@pytest.fixture(scope="session")
def _session_inductor_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("inductor-cache"))


@pytest.fixture(autouse=True)
def _hermetic_cache(tmp_path_factory, monkeypatch, _session_inductor_dir):
    """Score caches of commands run without --cache-dir go to a temporary folder, never ~/.cache;
    compiled kernels to one temporary folder per test session."""
    monkeypatch.setenv("INCEPTION_EVAL_CACHE", str(tmp_path_factory.mktemp("score-cache")))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", _session_inductor_dir)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread per test: on a shared 2-core machine, two OpenMP threads stall at every
    barrier when another process holds a core (tiny-model forwards measured 30-100x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
