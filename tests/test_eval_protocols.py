"""Geometry of the test protocols: exact boxes (hand-computed), subsets, dedupe weights, errors."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from inception_eval.protocols import (
    CROP_NAMES,
    Protocol,
    View,
    custom,
    get_protocol,
    resized_size,
    union_cost,
    union_views,
    views_fit,
)

C = 224
ALL = ("center", "ten", "paper144", "tencrop-torchvision")

# Hand-computed: for each photo size and scale, the resized (w, h) (longer side = round half up of
# scale * long / short) and the left/centre/right (or top/centre/bottom) square offsets along the
# long side: 0, floor((L - S) / 2), L - S.
PAPER_EXPECTED = {
    (500, 375): {256: ((341, 256), (0, 42, 85)), 288: ((384, 288), (0, 48, 96)),
                 320: ((427, 320), (0, 53, 107)), 352: ((469, 352), (0, 58, 117))},
    (375, 500): {256: ((256, 341), (0, 42, 85)), 288: ((288, 384), (0, 48, 96)),
                 320: ((320, 427), (0, 53, 107)), 352: ((352, 469), (0, 58, 117))},
    (500, 500): {256: ((256, 256), (0, 0, 0)), 288: ((288, 288), (0, 0, 0)),
                 320: ((320, 320), (0, 0, 0)), 352: ((352, 352), (0, 0, 0))},
    (60, 40): {256: ((384, 256), (0, 64, 128)), 288: ((432, 288), (0, 72, 144)),
               320: ((480, 320), (0, 80, 160)), 352: ((528, 352), (0, 88, 176))},
}
# Crop offsets inside a square of side S for a 224 crop: corners at 0 and S - 224, centre floor((S - 224) / 2).
FAR = {256: 32, 288: 64, 320: 96, 352: 128}
MID = {256: 16, 288: 32, 320: 48, 352: 64}
SQUARE_NAMES = {True: ("left", "center", "right"), False: ("top", "center", "bottom")}


def expected_paper144(w: int, h: int) -> list[View]:
    out = []
    landscape = w >= h
    for s, (resized, offsets) in PAPER_EXPECTED[(w, h)].items():
        for name, o in zip(SQUARE_NAMES[landscape], offsets):
            sx, sy = (o, 0) if landscape else (0, o)
            square = (sx, sy, s, s)
            rel = {"tl": (0, 0), "tr": (FAR[s], 0), "bl": (0, FAR[s]), "br": (FAR[s], FAR[s]), "center": (MID[s], MID[s])}
            for crop in CROP_NAMES:
                box = None if crop == "whole" else (sx + rel[crop][0], sy + rel[crop][1], C, C)
                for m in (False, True):
                    out.append(View(s, resized, square, box, C, m, (w, h), f"s{s}/{name}/{crop}" + ("/m" if m else "")))
    return out


@pytest.mark.parametrize("size", list(PAPER_EXPECTED))
def test_paper144_exact_geometry(size):
    w, h = size
    views = get_protocol("paper144").views(w, h)
    exp = expected_paper144(w, h)
    assert len(views) == 144
    assert list(views) == exp
    assert [v.tag for v in views] == [v.tag for v in exp]
    assert views_fit(views)


def test_paper144_spot_checks_literal():
    v = {x.tag: x for x in get_protocol("paper144").views(500, 375)}
    assert v["s320/center/center"].crop == (101, 48, 224, 224)
    assert v["s320/center/center"].square == (53, 0, 320, 320)
    assert v["s352/right/br/m"].crop == (245, 128, 224, 224) and v["s352/right/br/m"].mirror
    assert v["s288/left/whole"].crop is None and v["s288/left/whole"].square == (0, 0, 288, 288)
    p = {x.tag: x for x in get_protocol("paper144").views(375, 500)}
    assert p["s256/bottom/tr"].crop == (32, 85, 224, 224)
    assert p["s256/top/bl"].crop == (0, 32, 224, 224)


@pytest.mark.parametrize("size", list(PAPER_EXPECTED))
def test_center_and_ten_exact(size):
    w, h = size
    resized, offs = PAPER_EXPECTED[size][256]
    o = offs[1]
    sx, sy = (o, 0) if w >= h else (0, o)
    (center,) = get_protocol("center").views(w, h)
    assert center == View(256, resized, (sx, sy, 256, 256), (sx + 16, sy + 16, C, C), C, False, (w, h))
    ten = get_protocol("ten").views(w, h)
    exp = [
        View(256, resized, (sx, sy, 256, 256), (sx + dx, sy + dy, C, C), C, m, (w, h))
        for dx, dy in ((0, 0), (32, 0), (0, 32), (32, 32), (16, 16))
        for m in (False, True)
    ]
    assert list(ten) == exp


# tencrop-torchvision: longer side int(256 * long / short); corners of the whole resized photo; the
# centre at int(round((L - 224) / 2.0)) (ties to even); mirrored five cut from the flipped photo.
TV_EXPECTED = {
    # size: (resized, [tl, tr, bl, br, center], [tl_flip, tr_flip, bl_flip, br_flip, center_flip])
    (500, 375): ((341, 256), [(0, 0), (117, 0), (0, 32), (117, 32), (58, 16)],
                 [(117, 0), (0, 0), (117, 32), (0, 32), (59, 16)]),
    (375, 500): ((256, 341), [(0, 0), (32, 0), (0, 117), (32, 117), (16, 58)],
                 [(32, 0), (0, 0), (32, 117), (0, 117), (16, 58)]),
    (500, 500): ((256, 256), [(0, 0), (32, 0), (0, 32), (32, 32), (16, 16)],
                 [(32, 0), (0, 0), (32, 32), (0, 32), (16, 16)]),
    (60, 40): ((384, 256), [(0, 0), (160, 0), (0, 32), (160, 32), (80, 16)],
               [(160, 0), (0, 0), (160, 32), (0, 32), (80, 16)]),
    # W - c = 37: round(18.5) = 18 (to even), the mirrored centre lands at 37 - 18 = 19.
    (261, 256): ((261, 256), [(0, 0), (37, 0), (0, 32), (37, 32), (18, 16)],
                 [(37, 0), (0, 0), (37, 32), (0, 32), (19, 16)]),
    # W - c = 39: round(19.5) = 20 (to even), mirrored centre at 39 - 20 = 19.
    (263, 256): ((263, 256), [(0, 0), (39, 0), (0, 32), (39, 32), (20, 16)],
                 [(39, 0), (0, 0), (39, 32), (0, 32), (19, 16)]),
}


@pytest.mark.parametrize("size", list(TV_EXPECTED))
def test_tencrop_torchvision_exact(size):
    w, h = size
    resized, plain, flipped = TV_EXPECTED[size]
    views = get_protocol("tencrop-torchvision").views(w, h)
    assert len(views) == 10
    assert all(v.resized == resized and v.scale == 256 and v.square == (0, 0) + resized for v in views)
    assert [v.crop[:2] for v in views] == plain + flipped
    assert [v.mirror for v in views] == [False] * 5 + [True] * 5
    assert all(v.crop[2:] == (C, C) for v in views)


def test_resize_rounding_rules_differ_where_documented():
    # 256 * 500 / 353 = 362.6: the paper rounding gives 363, torchvision truncates to 362.
    assert resized_size(500, 353, 256) == (363, 256)
    assert resized_size(500, 353, 256, "torchvision") == (362, 256)
    assert resized_size(353, 500, 256, "torchvision") == (256, 362)
    # Exact tie: 256 * 3 / 2 = 384 exactly; 257 * 3 / 2 = 385.5 rounds up to 386.
    assert resized_size(3, 2, 257) == (386, 257)
    assert get_protocol("tencrop-torchvision").views(500, 353)[0].resized == (362, 256)
    assert get_protocol("paper144").views(500, 353)[0].resized == (363, 256)


def test_tiny_image_views_fit_everywhere():
    # 60x40 and the 75x56 tusker of the shared data: the first resize upsamples.
    for w, h in ((60, 40), (40, 60), (75, 56), (1, 1), (3, 1000)):
        for name in ALL:
            views = get_protocol(name).views(w, h)
            assert views_fit(views), (name, w, h)
            assert all(min(v.resized) == v.scale >= C for v in views)


@pytest.mark.parametrize("crop_size", [224, 112, 299, 160])
@pytest.mark.parametrize("size", [(500, 375), (375, 500), (500, 500), (60, 40), (411, 120), (263, 256)])
def test_center_and_ten_are_subsets_of_paper144(size, crop_size):
    big = set(get_protocol("paper144", crop_size).views(*size))
    for name in ("center", "ten"):
        small = get_protocol(name, crop_size).views(*size)
        assert set(small) <= big, name
        assert len(set(small)) == len(small)


def test_scales_scale_with_crop_size():
    assert get_protocol("paper144", 112).scales == (128, 144, 160, 176)
    assert get_protocol("paper144", 299).scales == (342, 384, 427, 470)  # round half up of 256*299/224...
    assert get_protocol("center", 112).scales == (128,)
    assert get_protocol("tencrop-torchvision", 112).scales == (128,)
    v = get_protocol("paper144", 112).views(500, 375)
    assert all(x.size == 112 and (x.crop is None or x.crop[2:] == (112, 112)) for x in v)
    assert v[0].resized == (171, 128)  # round(128 * 4 / 3 = 170.67)


def test_custom_protocols():
    p = custom(scales=(256, 288), squares=1, crops=("center", "whole"), mirror=False, crop_size=112)
    assert p.scales == (128, 144) and p.nominal_views == 4
    assert len(p.views(500, 375)) == 4
    q = custom(scales=(130,), crop_size=112, base_crop=112)  # pixels as given
    assert q.scales == (130,)
    parsed = get_protocol("custom:scales=256/352,squares=3,crops=tl/whole,mirror=0")
    assert parsed.scales == (256, 352) and parsed.squares == 3 and parsed.crops == ("tl", "whole")
    assert not parsed.mirror and parsed.nominal_views == 2 * 3 * 2
    # A custom protocol with the paper's parameters has the paper's views.
    same = custom()
    assert same.views(500, 375) == get_protocol("paper144").views(500, 375)
    assert get_protocol("custom:squares=1", 112).scales == (128, 144, 160, 176)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: get_protocol("eleven"), "unknown protocol 'eleven'"),
        (lambda: custom(scales=(200,)), "scale 200 is smaller than the crop size 224"),
        (lambda: custom(squares=2), "squares must be 1 or 3"),
        (lambda: custom(crops=("tl", "middle")), "crops must be distinct names"),
        (lambda: custom(scales=()), "needs at least one scale"),
        (lambda: get_protocol("custom:size=3"), "unknown key 'size'"),
        (lambda: get_protocol("custom:mirror=maybe"), "mirror must be 0/1"),
        (lambda: get_protocol("paper144").views(0, 10), "image size must be positive"),
        (lambda: Protocol("x", (256,), 3, ("tl",), True, 224, "torchvision"), "torchvision style"),
        (lambda: union_views(["ten", "ten"], 10, 10), "protocols named twice"),
    ],
)
def test_errors_are_clear(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_union_dedupe_square_photo():
    unique, uses = union_views(ALL, 500, 500)
    # Square photo: the three squares coincide -> 4 scales x 6 crops x 2 mirrors unique, weight 3.
    assert len(unique) == 48
    assert sorted(w for _, w in uses["paper144"]) == [3] * 48
    assert sum(w for _, w in uses["paper144"]) == 144
    # center / ten / torchvision ten-crop of a square photo at 256 are all inside paper144's views.
    assert len(uses["ten"]) == 10 and all(w == 1 for _, w in uses["ten"])
    assert {i for i, _ in uses["tencrop-torchvision"]} == {i for i, _ in uses["ten"]}
    cost = union_cost(ALL, 500, 500)
    assert cost == {"nominal": {"center": 1, "ten": 10, "paper144": 144, "tencrop-torchvision": 10},
                    "nominal_total": 165, "unique": 48,
                    "unique_per_protocol": {"center": 1, "ten": 10, "paper144": 48, "tencrop-torchvision": 10}}


def test_union_dedupe_landscape_and_cross_square_merges():
    unique, uses = union_views(ALL, 500, 375)
    # Torchvision's ten-crop at 341x256 shares 9 boxes with paper144 (its corners are the corners of
    # the left/right squares, its centre is the centre square's centre); only the mirrored centre
    # (x = 59 instead of 58) is new.
    assert len(unique) == 145
    assert len(uses["paper144"]) == 144
    # 320x256 at scale 256: squares at x = 0, 32, 64 and corner crops at +0/+32, so the left
    # square's right corners coincide with the centre square's left corners (and so on).
    u, w = union_views(["paper144"], 320, 256)
    # scale 256: x in {0,32,64,96} top + bottom (4 + 4), 3 centres, 3 wholes, x2 mirrors = 28;
    # 288/320/352 have no coincidences: 3 x 36 = 108.
    assert len(u) == 136
    assert sum(n for _, n in w["paper144"]) == 144
    assert sorted(n for _, n in w["paper144"]).count(2) == 8  # 4 merged boxes x 2 mirrors


@pytest.mark.parametrize("size", [(500, 375), (500, 500), (320, 256), (60, 40), (256, 256)])
def test_weighted_unique_average_equals_naive(size):
    """Scores that are a function of the pixels (same key -> same scores): weighted == naive mean."""
    from inception_eval.aggregate import average_views

    rng = np.random.default_rng(sum(size))
    unique, uses = union_views(ALL, *size)
    scores = {v.pixel_key(): rng.normal(size=50) * 3 for v in unique}
    u_scores = np.stack([scores[v.pixel_key()] for v in unique])
    for p in ALL:
        nominal = get_protocol(p).views(*size)
        naive = np.stack([scores[v.pixel_key()] for v in nominal])
        naive_p = np.exp(naive - naive.max(1, keepdims=True))
        naive_p = (naive_p / naive_p.sum(1, keepdims=True)).mean(0)
        idx = [i for i, _ in uses[p]]
        wts = np.array([n for _, n in uses[p]], dtype=float)
        got = average_views(u_scores[idx], wts)
        np.testing.assert_allclose(got, naive_p, rtol=1e-6, atol=1e-7)
        assert wts.sum() == len(nominal)


def test_union_is_cached_but_safe_to_mutate():
    _, uses = union_views(["ten"], 500, 375)
    uses["ten"].clear()
    _, again = union_views(["ten"], 500, 375)
    assert len(again["ten"]) == 10


def test_signature_changes_with_every_parameter():
    base = get_protocol("paper144")
    sigs = {base.signature(), get_protocol("paper144", 112).signature(),
            custom(mirror=False).signature(), custom(squares=1).signature(),
            custom(crops=("tl",)).signature(), get_protocol("tencrop-torchvision").signature(),
            custom(scales=(256, 288, 320)).signature()}
    assert len(sigs) == 7


def test_cli_protocol_json_and_table():
    r = subprocess.run([sys.executable, "-m", "inception_eval", "protocol", "--name", "paper144",
                        "--size", "500x375", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    p = doc["protocols"]["paper144"]
    assert p["nominal_views"] == 144 and p["unique_views"] == 144 and len(p["views"]) == 144
    assert p["views"][0] == {"tag": "s256/left/tl", "scale": 256, "resized": [341, 256], "square": [0, 0, 256, 256],
                             "crop": [0, 0, 224, 224], "size": 224, "mirror": False, "source": [500, 375]}
    r = subprocess.run([sys.executable, "-m", "inception_eval", "protocol", "--name", "center", "--name", "ten",
                        "--name", "paper144", "--size", "500x500"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "paper144: 144 nominal views, 48 unique (forward passes)" in r.stdout
    assert "155 nominal views, 48 unique forward passes" in r.stdout
    r = subprocess.run([sys.executable, "-m", "inception_eval", "protocol", "--name", "nine", "--size", "5x5"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown protocol 'nine'" in r.stderr


def test_cli_draw(tmp_path, imagenet_samples):
    out = tmp_path / "views.png"
    photo = imagenet_samples / "n02391049_zebra.JPEG"
    r = subprocess.run([sys.executable, "-m", "inception_eval", "protocol", "--name", "paper144", "--draw",
                        str(photo), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from PIL import Image

    im = Image.open(out)
    assert im.size[0] > 600 and im.size[1] > 800  # 3 squares x 4 scales of panels
    assert out.stat().st_size < 300_000
    r = subprocess.run([sys.executable, "-m", "inception_eval", "protocol", "--draw", str(tmp_path / "none.jpg"),
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 1 and "none.jpg" in r.stderr


def test_cli_folder_cost(tmp_path):
    from PIL import Image

    Image.new("RGB", (500, 500), (10, 20, 30)).save(tmp_path / "square.png")
    Image.new("RGB", (500, 375), (10, 20, 30)).save(tmp_path / "land.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    r = subprocess.run([sys.executable, "-m", "inception_eval", "protocol", "--name", "paper144", "--name", "ten",
                        "--images", str(tmp_path), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["images"] == 2 and len(doc["skipped"]) == 1 and doc["skipped"][0][0].endswith("broken.jpg")
    assert doc["nominal_views"] == {"paper144": 288, "ten": 20}
    # square photo: 48 unique (ten inside paper144); 500x375: 144.
    assert doc["unique_views_per_protocol"] == {"paper144": 48 + 144, "ten": 20}
    assert doc["unique_total"] == 48 + 144 and doc["nominal_total"] == 308


def test_whole_square_at_crop_size_merges_with_equal_crop():
    # Scale == crop size: the whole square needs no resize, so it is the same pixels as a crop
    # covering the square (tl here); with a real resize (scale 256) they stay apart.
    p = custom(scales=(224,), squares=1, crops=("tl", "whole"), mirror=False, base_crop=224)
    u, w = union_views([p], 224, 224)
    assert len(u) == 1 and w[p.name] == [(0, 2)]
    q = custom(scales=(256,), squares=1, crops=("tl", "whole"), mirror=False)
    u, w = union_views([q], 256, 256)
    assert len(u) == 2


def test_merged_whole_square_pixels_equal():
    from inception_eval.views import reference_cut

    p = custom(scales=(224,), squares=1, crops=("tl", "whole"), mirror=True, base_crop=224)
    img = np.random.default_rng(0).integers(0, 256, (300, 224, 3), dtype=np.uint8)
    views = p.views(224, 300)
    by_tag = {v.tag: v for v in views}
    # Portrait 224x300 at scale 224: centre square at y = (300 - 224) // 2 = 38.
    assert by_tag["s224/center/whole"].square == (0, 38, 224, 224)
    assert by_tag["s224/center/tl"].crop == (0, 38, 224, 224)
    a = reference_cut(img, by_tag["s224/center/whole/m"])
    b = reference_cut(img, by_tag["s224/center/tl/m"])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, img[38:262, ::-1])


def test_interpolation_study_measures_kernels_against_pil(tmp_path):
    from PIL import Image

    from inception_aug.errors import InputError
    from inception_eval.interpolation_study import KERNELS, compare_interpolation, interpolation_report

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    rows = compare_interpolation(tmp_path, scale=128)
    assert set(rows) == set(KERNELS)
    assert all(len(rows[k]["down"]) == 1 and len(rows[k]["up"]) == 1 for k in KERNELS)
    # on noise, shrinking: area averages like PIL's antialiased bilinear, plain bilinear aliases
    assert rows["area"]["down"][0] < rows["bilinear"]["down"][0]
    assert rows["auto"]["down"] == rows["area"]["down"] and rows["auto"]["up"] == rows["bilinear"]["up"]
    text = interpolation_report(tmp_path, scale=128)
    assert "| kernel | shrunk photos (n=1) | enlarged photos (n=1) |" in text
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .jpg/.jpeg/.png files"):
        compare_interpolation(tmp_path / "empty")


def test_cli_usage_errors_exit_2_with_one_line(tmp_path):
    for argv, msg in ((["--size", "5by5"], "size must look like 500x375"),
                      (["--name", "paper144"], "--size WIDTHxHEIGHT is required")):
        r = subprocess.run([sys.executable, "-m", "inception_eval", "protocol", *argv], capture_output=True, text=True)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "inception_eval", "protocol", "--images", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "inception-eval protocol: error: no image files in" in r.stderr
