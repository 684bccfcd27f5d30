"""PIL-exact views: ``pil-bilinear`` / ``pil-bicubic`` give the pixels of PIL's own Image.resize
(antialiased when shrinking) followed by crops, as torchvision and timm evaluate."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from inception_aug.decode import decode_image
from inception_aug.resize import resize_pil
from inception_eval.protocols import get_protocol, union_views
from inception_eval.views import VIEW_INTERPOLATIONS, cut_views, kernel_for, reference_cut

ALL = ("center", "ten", "paper144", "tencrop-torchvision")
PIL_KINDS = {"pil-bilinear": Image.Resampling.BILINEAR, "pil-bicubic": Image.Resampling.BICUBIC}


def _pil_views(img: np.ndarray, views, kind: str) -> torch.Tensor:
    """Each view with PIL alone: Image.resize of the whole photo, crop, Image.resize of a whole
    square to the output size, mirror."""
    photo, resample = Image.fromarray(img), PIL_KINDS[kind]
    scaled = {}
    out = []
    for v in views:
        if v.resized not in scaled:
            scaled[v.resized] = photo.resize(v.resized, resample)
        x, y, w, h = v.box
        patch = scaled[v.resized].crop((x, y, x + w, y + h))
        if (w, h) != (v.size, v.size):
            patch = patch.resize((v.size, v.size), resample)
        if v.mirror:
            patch = ImageOps.mirror(patch)
        out.append(torch.from_numpy(np.asarray(patch).copy()).permute(2, 0, 1))
    return torch.stack(out)


def _img(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_pil_names_are_view_interpolations():
    assert {"pil-bilinear", "pil-bicubic"} <= set(VIEW_INTERPOLATIONS)
    assert kernel_for((500, 375), (341, 256), "pil-bicubic") == "pil-bicubic"


@pytest.mark.parametrize("kind", sorted(PIL_KINDS))
@pytest.mark.parametrize("size", [(500, 375), (375, 500), (60, 40), (1, 1), (2000, 3)])
def test_pil_views_equal_pil_resize_and_crop(kind, size):
    img = _img(*size, seed=size[0] + size[1])
    unique, _ = union_views(ALL, *size)
    assert torch.equal(cut_views(img, unique, interpolation=kind), _pil_views(img, unique, kind))


def test_pil_views_real_photos(imagenet_samples):
    names = ["n02391049_zebra.JPEG", "n01871265_tusker.JPEG", "n04238763_slide_rule.JPEG",
             "n03825788_nipple.JPEG", "n02091032_Italian_greyhound.JPEG"]
    for name in names:
        img = decode_image(imagenet_samples / name)
        h, w = img.shape[:2]
        unique, _ = union_views(ALL, w, h)
        for kind in PIL_KINDS:
            assert torch.equal(cut_views(img, unique, interpolation=kind), _pil_views(img, unique, kind)), (name, kind)


def test_pil_reference_cut_and_antialiasing():
    img = _img(500, 375, seed=4)
    v = get_protocol("center").views(500, 375)[0]
    assert v.resized == (341, 256)
    expected = np.asarray(Image.fromarray(img).resize((341, 256), Image.Resampling.BILINEAR))
    x, y, w, h = v.box
    np.testing.assert_array_equal(reference_cut(img, v, "pil-bilinear"), expected[y : y + h, x : x + w])
    # PIL low-passes when shrinking: a one-pixel checkerboard halved becomes flat grey, where
    # OpenCV's bilinear (2x2 neighbourhood at a non-integer ratio) keeps stripes.
    board = np.indices((200, 200)).sum(0) % 2 * 255
    board = np.repeat(board[..., None], 3, 2).astype(np.uint8)
    assert resize_pil(board, (67, 67), "pil-bilinear").std() < 20


def test_tencrop_torchvision_with_pil_equals_torchvision():
    """Optional: only where torchvision is importable (never a dependency)."""
    tvt = pytest.importorskip("torchvision.transforms")
    img = _img(263, 300, seed=11)
    crops = tvt.TenCrop(224)(tvt.Resize(256)(Image.fromarray(img)))
    got = cut_views(img, get_protocol("tencrop-torchvision").views(263, 300), interpolation="pil-bilinear")
    for i, c in enumerate(crops):
        assert torch.equal(got[i], torch.from_numpy(np.asarray(c).copy()).permute(2, 0, 1))
