"""Pixels of the views: cut_views == reference_cut, literal pixel semantics, torchvision TenCrop parity."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inception_aug.resize import resize
from inception_eval.protocols import get_protocol, union_views
from inception_eval.views import DEFAULT_INTERPOLATION, cut_views, kernel_for, reference_cut

ALL = ("center", "ten", "paper144", "tencrop-torchvision")


def _img(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _ref_stack(img, views, interpolation=DEFAULT_INTERPOLATION) -> torch.Tensor:
    return torch.from_numpy(np.stack([reference_cut(img, v, interpolation) for v in views])).permute(0, 3, 1, 2)


@pytest.mark.parametrize("size", [(500, 375), (375, 500), (500, 500), (60, 40), (320, 256), (411, 120)])
def test_cut_views_equals_reference_all_protocols(size):
    img = _img(*size, seed=size[0])
    unique, _ = union_views(ALL, *size)
    got = cut_views(img, unique)
    assert got.dtype == torch.uint8 and tuple(got.shape) == (len(unique), 3, 224, 224)
    assert torch.equal(got, _ref_stack(img, unique))


@pytest.mark.parametrize("interpolation", ["auto", "area", "bilinear", "bicubic", "nearest"])
def test_cut_views_equals_reference_each_interpolation(interpolation):
    img = _img(333, 250, seed=3)
    views = get_protocol("paper144").views(333, 250)
    assert torch.equal(cut_views(img, views, interpolation=interpolation), _ref_stack(img, views, interpolation))


def test_cut_views_real_photos(imagenet_samples):
    from inception_aug.decode import decode_image

    names = ["n02391049_zebra.JPEG", "n01871265_tusker.JPEG", "n04238763_slide_rule.JPEG",
             "n03272010_electric_guitar.JPEG"]
    for name in names:
        img = decode_image(imagenet_samples / name)
        h, w = img.shape[:2]
        unique, _ = union_views(ALL, w, h)
        assert torch.equal(cut_views(img, unique), _ref_stack(img, unique)), name


def test_reference_cut_literal_pixels():
    # 300x256 photo at scale 256: the resize is the identity, so every crop is a plain slice.
    img = _img(300, 256, seed=5)
    views = {v.tag: v for v in get_protocol("paper144").views(300, 256)}
    # centre square x = (300 - 256) // 2 = 22; its centre crop starts at 22 + 16 = 38, y = 16.
    np.testing.assert_array_equal(reference_cut(img, views["s256/center/center"]), img[16:240, 38:262])
    np.testing.assert_array_equal(reference_cut(img, views["s256/center/center/m"]), img[16:240, 38:262][:, ::-1])
    np.testing.assert_array_equal(reference_cut(img, views["s256/right/br"]), img[32:256, 76:300])
    # The whole square, shrunk 256 -> 224 with the default kernel (area when shrinking).
    np.testing.assert_array_equal(
        reference_cut(img, views["s256/left/whole"]), resize(np.ascontiguousarray(img[:, :256]), (224, 224), "area")
    )
    # At scale 288 the photo is resized first: 300x256 -> round(288 * 300 / 256 = 337.5) = 338 x 288.
    v = views["s288/left/tl"]
    assert v.resized == (338, 288)
    np.testing.assert_array_equal(reference_cut(img, v), resize(img, (338, 288), "bilinear")[:224, :224])


def test_mirrors_are_flips_of_their_views():
    img = _img(500, 375, seed=9)
    views = get_protocol("paper144").views(500, 375)
    x = cut_views(img, views)
    for i in range(0, len(views), 2):
        assert views[i + 1].mirror and not views[i].mirror
        assert torch.equal(x[i + 1], x[i].flip(-1))


def test_kernel_choice_auto():
    assert kernel_for((500, 375), (341, 256)) == "area"
    assert kernel_for((60, 40), (384, 256)) == "bilinear"
    assert kernel_for((256, 256), (224, 224)) == "area"
    assert kernel_for((500, 375), (341, 256), "bicubic") == "bicubic"
    assert DEFAULT_INTERPOLATION == "auto"
    # Tiny photo: the first resize enlarges (bilinear), the whole-square resize shrinks (area).
    img = _img(60, 40, seed=1)
    v = [x for x in get_protocol("paper144").views(60, 40) if x.tag == "s256/left/whole"][0]
    scaled = resize(img, (384, 256), "bilinear")
    np.testing.assert_array_equal(reference_cut(img, v), resize(np.ascontiguousarray(scaled[:, :256]), (224, 224), "area"))


def test_out_buffer_and_channels_last():
    img = _img(500, 375)
    views = get_protocol("ten").views(500, 375)
    x = cut_views(img, views)
    assert x.is_contiguous(memory_format=torch.channels_last)
    big = torch.zeros(15, 3, 224, 224, dtype=torch.uint8)
    r = cut_views(img, views, out=big[3:13])
    assert torch.equal(big[3:13], x) and r.data_ptr() == big[3:13].data_ptr()
    assert big[:3].sum() == 0 and big[13:].sum() == 0
    assert cut_views(img, []).shape == (0, 3, 0, 0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda img, v: cut_views(img[:100], v), "computed for a 500x375 photo, but the image is 500x100"),
        (lambda img, v: cut_views(img.astype(np.float32), v), "uint8 RGB"),
        (lambda img, v: cut_views(img[..., :1], v), r"\(H, W, 3\) uint8"),
        (lambda img, v: cut_views(img, v, interpolation="lanczos"), "unknown interpolation 'lanczos'"),
        (lambda img, v: cut_views(img, v, out=torch.zeros(2, 3, 224, 224, dtype=torch.uint8)), "out must be"),
        (lambda img, v: cut_views(img, list(v) + list(get_protocol("center", 112).views(500, 375))), "different output sizes"),
        (lambda img, v: reference_cut(img[:, :10], v[0]), "computed for a 500x375 photo"),
    ],
)
def test_errors(call, message):
    img = _img(500, 375)
    views = get_protocol("ten").views(500, 375)
    with pytest.raises(ValueError, match=message):
        call(img, views)


# ---------------------------------------------------------------- torchvision TenCrop parity
# A literal transcription of torchvision.transforms.functional's arithmetic (resize with an int
# size, center_crop, five_crop, ten_crop) on (H, W, C) arrays, using our resize kernel for the pixels.
def tv_resize_size(w: int, h: int, size: int) -> tuple[int, int]:
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def tv_center_crop(img, crop_height, crop_width):
    image_height, image_width = img.shape[:2]
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return img[crop_top:crop_top + crop_height, crop_left:crop_left + crop_width]


def tv_five_crop(img, size):
    crop_height, crop_width = size, size
    image_height, image_width = img.shape[:2]
    tl = img[0:crop_height, 0:crop_width]
    tr = img[0:crop_height, image_width - crop_width:image_width]
    bl = img[image_height - crop_height:image_height, 0:crop_width]
    br = img[image_height - crop_height:image_height, image_width - crop_width:image_width]
    center = tv_center_crop(img, crop_height, crop_width)
    return [tl, tr, bl, br, center]


def tv_ten_crop(img, size):
    first_five = tv_five_crop(img, size)
    img = img[:, ::-1]  # hflip
    second_five = tv_five_crop(img, size)
    return first_five + second_five


@pytest.mark.parametrize("size", [(500, 375), (375, 500), (500, 500), (60, 40), (261, 256), (263, 300), (500, 353)])
@pytest.mark.parametrize("crop_size", [224, 112])
def test_tencrop_torchvision_parity(size, crop_size):
    w, h = size
    img = _img(w, h, seed=w * h)
    scale = get_protocol("tencrop-torchvision", crop_size).scales[0]
    rw, rh = tv_resize_size(w, h, scale)
    kernel = kernel_for((w, h), (rw, rh))
    expected = tv_ten_crop(resize(img, (rw, rh), kernel), crop_size)
    views = get_protocol("tencrop-torchvision", crop_size).views(w, h)
    got = cut_views(img, views)
    for i, e in enumerate(expected):
        assert torch.equal(got[i], torch.from_numpy(np.ascontiguousarray(e)).permute(2, 0, 1)), views[i].tag


def test_tencrop_torchvision_against_real_torchvision():
    """Optional: only where torchvision is importable (never a dependency)."""
    tvf = pytest.importorskip("torchvision.transforms.functional")
    img = _img(263, 300, seed=11)
    t = torch.from_numpy(img).permute(2, 0, 1)
    views = get_protocol("tencrop-torchvision").views(263, 300)
    rw, rh = views[0].resized
    resized = torch.from_numpy(resize(img, (rw, rh), kernel_for((263, 300), (rw, rh)))).permute(2, 0, 1)
    assert list(tvf.resize(t, 256).shape[1:]) == [rh, rw]
    crops = tvf.ten_crop(resized, 224)
    got = cut_views(img, views)
    for i, c in enumerate(crops):
        assert torch.equal(got[i], c)


@pytest.mark.parametrize("size", [(500, 500), (320, 256), (500, 375)])
def test_merged_views_have_identical_pixels(size):
    """Every nominal view's pixels equal those of the unique view union_views maps it to."""
    img = _img(*size, seed=17)
    unique, uses = union_views(ALL, *size)
    cut = cut_views(img, unique)
    key_to_index = {v.pixel_key(): i for i, v in enumerate(unique)}
    for name in ALL:
        nominal = get_protocol(name).views(*size)
        ref = _ref_stack(img, nominal)
        for j, v in enumerate(nominal):
            assert torch.equal(ref[j], cut[key_to_index[v.pixel_key()]]), (name, v.tag)
        assert sorted(key_to_index[v.pixel_key()] for v in nominal) == sorted(
            i for i, n in uses[name] for _ in range(n))
