"""Reproducible randomness: one generator per (seed, epoch, sample index).

A sample's augmentation then depends only on (seed, epoch, index): not on the number of
DataLoader workers, their order, prefetching or which process draws it.

- :func:`generator_for` builds the generator (``numpy.random.SeedSequence([seed, epoch, index])``).
- :class:`AugmentedDataset` wraps a dataset and a transform that takes ``rng=`` (e.g.
  :class:`~inception_aug.transforms.InceptionTrainTransform`); ``set_epoch(e)`` moves to epoch e
  (the epoch lives in shared memory, so persistent workers see it too: call it before
  ``iter(loader)``).
- :func:`default_generator` is what transforms use when called without ``rng``: fresh OS entropy
  per process (re-created after a fork), so forked workers never share draws.
- :func:`worker_init_fn` re-seeds per-worker state that a fork copies: Python ``random``, numpy's
  legacy global state, our default generator, and any transform in the dataset with a
  ``set_random_seed(seed)`` method (albumentations >= 2.0 ``Compose``, whose generators are
  seeded once at construction and are otherwise identical in every forked worker), found by
  :func:`find_objects`.
"""
from __future__ import annotations

import os
import random
from typing import Any, Callable

import numpy as np

__all__ = ["generator_for", "default_generator", "find_objects", "worker_init_fn", "AugmentedDataset"]

_DEFAULT: dict[int, np.random.Generator] = {}


def generator_for(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for sample ``index`` of ``epoch`` under ``seed`` (all non-negative ints)."""
    if seed < 0 or epoch < 0 or index < 0:
        raise ValueError(f"seed, epoch and index must be >= 0, got {seed}, {epoch}, {index}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(epoch), int(index)])))


def default_generator() -> np.random.Generator:
    """A process-local generator from OS entropy; a forked child gets its own on first use."""
    pid = os.getpid()
    g = _DEFAULT.get(pid)
    if g is None:
        _DEFAULT.clear()
        g = _DEFAULT[pid] = np.random.default_rng()
    return g


_MAX_CONTAINER = 64
_LEAVES = (str, bytes, bytearray, int, float, complex, np.ndarray, type)


def find_objects(root: Any, match: Callable[[Any], bool], *, max_depth: int = 6) -> list:
    """Objects reachable from ``root`` (``root`` included) for which ``match(obj)`` is true, in
    depth-first order. The one object-graph walk of the package (worker re-seeding here and in
    ``inception_aug.albumentations``), with one rule set:

    - the children of an object are the values of its instance ``__dict__``; of a list, tuple or
      set its items; of a dict its values;
    - a list, tuple, set or dict with more than 64 items is not entered (a dataset's sample list,
      not a pipeline; this keeps worker start-up fast);
    - strings, bytes, numbers, numpy arrays and classes are leaves;
    - a matching object is returned and not entered: its own method reaches its children (an
      albumentations ``Compose`` seeds every transform inside it);
    - at most ``max_depth`` levels below ``root``; each object is visited once (cycles are safe).
    """
    found: list = []
    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if obj is None or depth > max_depth or id(obj) in seen or isinstance(obj, _LEAVES):
            return
        seen.add(id(obj))
        if match(obj):
            found.append(obj)
            return
        if isinstance(obj, dict):
            children = list(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            children = list(obj)
        else:
            children = list(getattr(obj, "__dict__", {}).values())
        if isinstance(obj, (dict, list, tuple, set, frozenset)) and len(children) > _MAX_CONTAINER:
            return
        for child in children:
            visit(child, depth + 1)

    visit(root, 0)
    return found


def _has_seed_method(obj: Any) -> bool:
    return callable(getattr(obj, "set_random_seed", None))


def _reseed_objects(root: Any, seed: int) -> int:
    """Call ``set_random_seed(seed)`` on every object :func:`find_objects` reaches from ``root``
    that has the method (albumentations >= 2.0 ``Compose``, our own transforms). Returns how many
    accepted it."""
    n = 0
    for obj in find_objects(root, _has_seed_method):
        try:
            obj.set_random_seed(seed)
            n += 1
        except TypeError:
            pass
    return n


def worker_init_fn(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=worker_init_fn)``: distinct, reproducible per-worker seeds.

    Uses ``torch.initial_seed()`` (already base_seed + worker_id in a worker, and a new base seed
    for every epoch's iterator) for Python ``random``, numpy's global state, our default generator
    and every ``set_random_seed``-capable transform found in the worker's dataset copy.
    Samples drawn through :class:`AugmentedDataset` do not depend on any of this.
    """
    import torch  # local: keep `import inception_aug.seeding` free of torch at import time

    seed = int(torch.initial_seed()) % (2**32)
    random.seed(seed)
    np.random.seed(seed)
    _DEFAULT.clear()
    _DEFAULT[os.getpid()] = np.random.default_rng(seed)
    info = torch.utils.data.get_worker_info()
    if info is not None:
        _reseed_objects(info.dataset, seed)


class AugmentedDataset:
    """``dataset[i]`` passed through ``transform(x, rng=generator_for(seed, epoch, i))``.

    If an item is a tuple/list, only its first element (the image) is transformed and the rest is
    returned unchanged (e.g. ``(image, label)``). ``transform`` must accept ``rng=``. Works as a
    ``torch.utils.data.Dataset`` (it defines ``__len__`` and ``__getitem__``).
    """

    def __init__(self, dataset: Any, transform: Callable[..., Any], seed: int = 0) -> None:
        import torch

        self.dataset = dataset
        self.transform = transform
        self.seed = int(seed)
        # Shared memory: persistent DataLoader workers see set_epoch() made in the main process.
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (>= 0) whose draws ``__getitem__`` uses."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._epoch[0] = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def generator(self, index: int) -> np.random.Generator:
        """The generator sample ``index`` uses in the current epoch."""
        return generator_for(self.seed, self.epoch, index)

    def __getitem__(self, index: int) -> Any:
        index = int(index)
        if index < 0:
            index += len(self)
        item = self.dataset[index]
        rng = self.generator(index)
        if isinstance(item, (tuple, list)):
            return (self.transform(item[0], rng=rng), *item[1:])
        return self.transform(item, rng=rng)
