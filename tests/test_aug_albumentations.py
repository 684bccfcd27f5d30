"""inception_aug.albumentations: adapters inside A.Compose, masks/bboxes/keypoints, forked workers."""
from __future__ import annotations

import multiprocessing as mp

import cv2
import numpy as np
import pytest
import torch
from scipy import stats

A = pytest.importorskip("albumentations")

from inception_aug.albumentations import (  # noqa: E402
    InceptionPhotometric,
    InceptionRandomResizedCrop,
    PerSampleSeeded,
    albumentations_worker_init_fn,
    reseed,
)
from inception_aug.color import apply_photometric  # noqa: E402
from inception_aug.resize import resize  # noqa: E402

FLAGS = {"bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST,
         "bicubic": cv2.INTER_CUBIC}


def _image(h=375, w=500, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_crop_pixels_match_box_and_drawn_interpolation():
    img = _image()
    crop = InceptionRandomResizedCrop((96, 128))
    t = A.Compose([crop], seed=1)
    for _ in range(20):
        out = t(image=img)["image"]
        x1, y1, x2, y2 = crop.params["crop_coords"]
        name = crop.params["interpolation_name"]
        assert crop.params["interpolation"] == FLAGS[name]  # the draw, not the instance value
        assert out.shape == (96, 128, 3)
        np.testing.assert_array_equal(out, resize(np.ascontiguousarray(img[y1:y2, x1:x2]), (128, 96), name))
        assert 0 <= x1 < x2 <= 500 and 0 <= y1 < y2 <= 375


def test_interpolation_is_drawn_per_call_with_equal_frequencies():
    img = _image(60, 80)
    crop = InceptionRandomResizedCrop(32)
    t = A.Compose([crop], seed=2)
    names = []
    for _ in range(2000):
        t(image=img)
        names.append(crop.params["interpolation_name"])
    counts = [names.count(n) for n in FLAGS]
    assert min(counts) > 0
    assert stats.chisquare(counts).pvalue > 1e-3
    only = InceptionRandomResizedCrop(32, interpolations=("area",))
    A.Compose([only], seed=3)(image=img)
    assert only.params["interpolation"] == cv2.INTER_AREA


@pytest.mark.parametrize("sampler", ["paper", "torchvision", "tf-slim"])
def test_samplers_area_and_ratio_ranges(sampler):
    img = _image(375, 500)
    crop = InceptionRandomResizedCrop(16, sampler=sampler)
    t = A.Compose([crop], seed=4)
    areas, ratios = [], []
    for _ in range(400):
        t(image=img)
        x1, y1, x2, y2 = crop.params["crop_coords"]
        areas.append((x2 - x1) * (y2 - y1) / (500 * 375))
        ratios.append((x2 - x1) / (y2 - y1))
    lo = 0.05 if sampler == "tf-slim" else 0.08
    assert min(areas) >= lo - 0.01 and max(areas) <= 1.0
    if sampler == "paper":  # uniform area: mean near (0.08 + 1) / 2
        assert abs(np.mean(areas) - 0.54) < 0.05


def test_mask_follows_crop_with_nearest_and_bboxes_keypoints_move():
    img = _image()
    mask = np.zeros((375, 500), np.uint8)
    mask[:, 250:] = 3  # right half labelled 3
    mask[100:200, 50:150] = 9
    crop = InceptionRandomResizedCrop((64, 64))
    t = A.Compose([crop], seed=5, bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
                  keypoint_params=A.KeypointParams(format="xy", remove_invisible=True))
    for _ in range(30):
        out = t(image=img, mask=mask, bboxes=[[50, 100, 150, 200]], labels=[1], keypoints=[[260.0, 120.0]])
        x1, y1, x2, y2 = crop.params["crop_coords"]
        ref_mask = cv2.resize(np.ascontiguousarray(mask[y1:y2, x1:x2]), (64, 64), interpolation=cv2.INTER_NEAREST)
        np.testing.assert_array_equal(out["mask"], ref_mask)
        assert set(np.unique(out["mask"])) <= {0, 3, 9}  # nearest: no blended labels
        sx, sy = 64 / (x2 - x1), 64 / (y2 - y1)
        inside = x1 <= 260 < x2 and y1 <= 120 < y2
        assert len(out["keypoints"]) == int(inside)
        if inside:
            np.testing.assert_allclose(out["keypoints"][0][:2], [(260 - x1) * sx, (120 - y1) * sy], rtol=1e-5)
        bx1, by1, bx2, by2 = max(50, x1), max(100, y1), min(150, x2), min(200, y2)
        if bx2 > bx1 and by2 > by1 and len(out["bboxes"]):
            np.testing.assert_allclose(out["bboxes"][0][:4], [(bx1 - x1) * sx, (by1 - y1) * sy, (bx2 - x1) * sx,
                                                              (by2 - y1) * sy], atol=1e-3)


def test_photometric_adapter_applies_the_recorded_draw():
    img = _image(40, 50)
    ph = InceptionPhotometric("tf-slim", fast_mode=True)
    t = A.Compose([ph], seed=6)
    for _ in range(5):
        out = t(image=img)["image"]
        p = ph.params["photometric"]
        assert p.preset == "tf-slim" and p.fast_mode
        np.testing.assert_array_equal(out, apply_photometric(img, p))
    # float32 in [0, 1]: the same distortion on the uint8 levels, scaled back
    outf = t(image=img.astype(np.float32) / 255.0)["image"]
    assert outf.dtype == np.float32
    np.testing.assert_allclose(outf * 255.0, apply_photometric(img, ph.params["photometric"]), atol=1e-3)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        A.Compose([InceptionPhotometric("howard")])(image=img[..., 0])
    with pytest.raises(ValueError, match="unknown photometric preset"):
        InceptionPhotometric("sepia")


def test_constructor_errors():
    with pytest.raises(ValueError, match="interpolations must be a non-empty subset"):
        InceptionRandomResizedCrop(32, interpolations=("lanczos",))
    with pytest.raises(ValueError, match="sampler"):
        InceptionRandomResizedCrop(32, sampler="random")


def test_reseed_gives_a_shared_independent_stream():
    img = _image(60, 80)
    t = A.Compose([InceptionRandomResizedCrop(16), InceptionRandomResizedCrop(8)])
    reseed(t, 123)
    a = [(t(image=img), t.transforms[0].params["crop_coords"], t.transforms[1].params["crop_coords"])[1:]
         for _ in range(5)]
    reseed(t, 123)
    b = [(t(image=img), t.transforms[0].params["crop_coords"], t.transforms[1].params["crop_coords"])[1:]
         for _ in range(5)]
    assert a == b
    # albumentations' own Compose(seed=s) seeds every child with the same s: identical streams
    t2 = A.Compose([InceptionRandomResizedCrop(16), InceptionRandomResizedCrop(16)], seed=7)
    g0, g1 = t2.transforms[0].random_generator, t2.transforms[1].random_generator
    assert g0 is not g1 and g0.random() == g1.random()
    # reseed: one shared generator, so the children's draws are consecutive, not repeated
    reseed(t2, 7)
    assert t2.transforms[0].random_generator is t2.transforms[1].random_generator
    with pytest.raises(TypeError, match="albumentations Compose"):
        reseed(object(), 1)


# ---- forked DataLoader workers ------------------------------------------------------------------

class _CropDataset(torch.utils.data.Dataset):
    """Returns the crop box and interpolation drawn for each index (the image is constant)."""

    def __init__(self, n: int = 8) -> None:
        self.n = n
        self.image = _image(120, 160)
        self.crop = InceptionRandomResizedCrop(32)
        self.pipeline = {"train": A.Compose([self.crop, InceptionPhotometric("howard")])}  # not a known attr name

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        self.pipeline["train"](image=self.image)
        x1, y1, x2, y2 = self.crop.params["crop_coords"]
        return torch.tensor([x1, y1, x2, y2, self.crop.params["interpolation"]])


class _SeededDataset(_CropDataset):
    def __init__(self, n: int = 8) -> None:
        super().__init__(n)
        self.seeded = PerSampleSeeded(self.pipeline["train"], seed=11)

    def __getitem__(self, i: int):
        self.seeded(i, image=self.image)
        x1, y1, x2, y2 = self.crop.params["crop_coords"]
        return torch.tensor([x1, y1, x2, y2, self.crop.params["interpolation"]])


def _draws(ds, workers: int, init_fn=None, seed: int = 0) -> list[tuple]:
    g = torch.Generator().manual_seed(seed)
    kw = {"multiprocessing_context": mp.get_context("fork")} if workers else {}
    dl = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=workers, worker_init_fn=init_fn, generator=g,
                                     **kw)
    return [tuple(b[0].tolist()) for b in dl]


fork_only = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs the fork start method")


@fork_only
def test_bug_is_real_forked_workers_draw_identical_crops_without_the_fix():
    d = _draws(_CropDataset(8), workers=2)
    # batch k goes to worker k % 2: the j-th draw of worker 0 equals the j-th draw of worker 1
    assert d[0::2] == d[1::2]


@fork_only
def test_worker_init_fn_makes_workers_differ_and_is_reproducible():
    d = _draws(_CropDataset(8), workers=2, init_fn=albumentations_worker_init_fn, seed=5)
    assert d[0::2] != d[1::2]
    assert sum(a != b for a, b in zip(d[0::2], d[1::2])) >= 3
    assert d == _draws(_CropDataset(8), workers=2, init_fn=albumentations_worker_init_fn, seed=5)
    assert d != _draws(_CropDataset(8), workers=2, init_fn=albumentations_worker_init_fn, seed=6)


@fork_only
@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_per_sample_seeding_is_independent_of_worker_count():
    ref = _draws(_SeededDataset(6), workers=0)
    assert len(set(ref)) == 6
    assert _draws(_SeededDataset(6), workers=2) == ref
    assert _draws(_SeededDataset(6), workers=3) == ref
    ds = _SeededDataset(6)
    ds.seeded.set_epoch(1)
    assert _draws(ds, workers=0) != ref


def test_replay_compose_reproduces_crop_interpolation_and_colour():
    img = _image(120, 160)
    t = A.ReplayCompose([InceptionRandomResizedCrop(64), InceptionPhotometric("tf-slim")])
    for _ in range(3):
        r = t(image=img)
        again = A.ReplayCompose.replay(r["replay"], image=img)
        np.testing.assert_array_equal(r["image"], again["image"])
