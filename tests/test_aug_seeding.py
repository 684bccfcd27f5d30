"""Reproducibility: draws depend only on (seed, epoch, index), not on workers or order."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from inception_aug.seeding import AugmentedDataset, default_generator, generator_for, worker_init_fn
from inception_aug.transforms import InceptionTrainTransform


class _Images:
    """Tiny in-memory dataset of (image, index)."""

    def __init__(self, n: int = 10) -> None:
        rng = np.random.default_rng(123)
        self.images = [rng.integers(0, 256, (40 + 3 * i, 50 + 2 * i, 3), dtype=np.uint8) for i in range(n)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], i


def test_generator_for_is_a_pure_function_of_its_arguments():
    a = generator_for(7, 2, 5).random(4)
    np.testing.assert_array_equal(a, generator_for(7, 2, 5).random(4))
    for other in [(8, 2, 5), (7, 3, 5), (7, 2, 6), (7, 5, 2)]:
        assert not np.array_equal(a, generator_for(*other).random(4))
    with pytest.raises(ValueError):
        generator_for(-1, 0, 0)


def _collect(ds, workers, batch_size, shuffle):
    loader = DataLoader(ds, batch_size=batch_size, num_workers=workers, shuffle=shuffle,
                        worker_init_fn=worker_init_fn if workers else None,
                        generator=torch.Generator().manual_seed(workers * 10 + batch_size))
    out = {}
    for x, idx in loader:
        for k, i in enumerate(idx.tolist()):
            out[i] = x[k]
    return out


def test_same_samples_with_0_or_2_workers_any_order_and_batching():
    t = InceptionTrainTransform(24)
    ds = AugmentedDataset(_Images(), t, seed=42)
    ds.set_epoch(3)
    ref = _collect(ds, 0, 4, shuffle=False)
    got = _collect(ds, 2, 3, shuffle=True)
    assert sorted(got) == sorted(ref) == list(range(10))
    for i in ref:
        assert torch.equal(ref[i], got[i]), i
    # and it equals calling the transform directly with generator_for(seed, epoch, i)
    img, _ = _Images()[4]
    assert torch.equal(ref[4], t(img, rng=generator_for(42, 3, 4)))
    # another epoch changes the draws
    ds.set_epoch(4)
    assert not torch.equal(_collect(ds, 0, 10, shuffle=False)[4], ref[4])


def test_set_epoch_reaches_persistent_workers():
    t = InceptionTrainTransform(16, photometric="none")
    ds = AugmentedDataset(_Images(4), t, seed=1)
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
    seen = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        (x, idx), = list(loader)
        seen.append(x)
        for k, i in enumerate(idx.tolist()):
            assert torch.equal(x[k], t(_Images(4)[i][0], rng=generator_for(1, epoch, i)))
    assert not torch.equal(seen[0], seen[1])


class _ParamsOnly:
    """Returns the crop box drawn with the transform's default generator (no rng given)."""

    def __init__(self) -> None:
        self.t = InceptionTrainTransform(8, photometric="none")
        self.seeds = []

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i):
        img = np.zeros((100, 100, 3), np.uint8)
        _, p = self.t(img, return_params=True)
        info = torch.utils.data.get_worker_info()
        return torch.tensor([p.crop.x, p.crop.y, p.crop.w, p.crop.h, info.id if info else -1,
                             self.seeds[-1] if self.seeds else -1])

    def set_random_seed(self, seed: int) -> None:  # what albumentations 2.x Compose offers
        self.seeds.append(seed)


def test_forked_workers_do_not_share_default_draws_and_worker_init_reseeds():
    default_generator().random()  # the parent's generator exists before the fork
    ds = _ParamsOnly()
    for init in (None, worker_init_fn):
        rows = torch.cat(list(DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=init)))
        first_of_worker = {int(r[4]): tuple(r[:4].tolist()) for r in rows.flip(0)}
        assert set(first_of_worker) == {0, 1}
        assert first_of_worker[0] != first_of_worker[1]
        if init is worker_init_fn:
            seeds = {int(r[4]): int(r[5]) for r in rows}
            assert seeds[0] != seeds[1] and min(seeds.values()) >= 0  # set_random_seed was called
        else:
            assert (rows[:, 5] == -1).all()


def test_find_objects_rules():
    """One walk for every re-seeding helper: attributes, lists and dict values are searched; big
    containers, strings and arrays are not entered; a match is not entered; cycles are safe."""
    from inception_aug.seeding import find_objects

    class Seeded:
        def __init__(self, inner=None):
            self.inner = inner

        def set_random_seed(self, seed):  # noqa: D401 - marker method
            pass

    class Holder:
        pass

    inside = Seeded()
    outer = Seeded(inner=inside)  # a match: its own method handles ``inside``
    h = Holder()
    h.pipelines = {"train": [outer]}  # dict value, then list item
    h.samples = [Seeded() for _ in range(65)]  # more than 64 items: a sample list, not entered
    h.few = (Seeded(),)
    h.name, h.table = "x", np.zeros(3)
    h.self_ref = h
    found = find_objects(h, lambda o: callable(getattr(o, "set_random_seed", None)))
    assert found == [outer, h.few[0]]
    assert find_objects(h, lambda o: isinstance(o, Seeded), max_depth=1) == []  # both sit 2-3 levels down
