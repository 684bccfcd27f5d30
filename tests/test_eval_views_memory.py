"""Views of long thin photos: box-by-box resizes give the full resize's pixels in bounded memory;
oversized photos are refused as decode errors."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import torch

from inception_aug import decode as decode_mod
from inception_aug.decode import ImageDecodeError, decode_image
from inception_aug.resize import PIL_INTERPOLATIONS, resize, resize_pil, resize_window, window_is_exact
from inception_eval import views as views_mod
from inception_eval.protocols import get_protocol, union_views
from inception_eval.views import MAX_DECODED_PIXELS, check_image_size, cut_views, reference_cut

ALL = ("center", "ten", "paper144", "tencrop-torchvision")
EXACT = ("auto", "bilinear", "area", "nearest", "pil-bilinear", "pil-bicubic")


def _img(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _full(img, views, interpolation):
    """The full-resize implementation: one resize of the whole photo per scale, then slices."""
    return views_mod._cut(img, views, interpolation, None, "<array>", windowed=False)


def _windowed(img, views, interpolation):
    return views_mod._cut(img, views, interpolation, None, "<array>", windowed=True)


# ---------------------------------------------------------------- the kernel: resize_window
def test_resize_window_equals_full_resize_random_sizes():
    rng = np.random.default_rng(5)
    checked = dict.fromkeys(("bilinear", "area", "nearest", "bicubic") + PIL_INTERPOLATIONS, 0)
    for it in range(400):
        W, H = (int(v) for v in rng.integers(1, 50, 2))
        dw, dh = (int(v) for v in rng.integers(1, 300, 2))
        if it % 3 == 0:  # enlarging, and exact doubling (OpenCV special-cases factors of 2)
            dw, dh = (2 * W, 2 * H) if it % 2 else (max(dw, W), max(dh, H))
        if (W, H) == (dw, dh):
            continue
        img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        x, y = int(rng.integers(0, dw)), int(rng.integers(0, dh))
        win = (x, y, int(rng.integers(1, dw - x + 1)), int(rng.integers(1, dh - y + 1)))
        for k in ("bilinear", "area", "nearest", "bicubic") + PIL_INTERPOLATIONS:
            full = resize_pil(img, (dw, dh), k) if k in PIL_INTERPOLATIONS else resize(img, (dw, dh), k)
            ref = full[y : y + win[3], x : x + win[2]]
            got = resize_window(img, (dw, dh), win, k)
            assert got.shape == ref.shape and got.dtype == np.uint8
            diff = np.abs(ref.astype(int) - got)
            if k == "bicubic" and not window_is_exact((W, H), (dw, dh), k):
                assert diff.max() <= 1 and (diff > 0).mean() <= 1e-2, (W, H, dw, dh, win)
            else:
                assert diff.max() == 0, (k, W, H, dw, dh, win)
                checked[k] += window_is_exact((W, H), (dw, dh), k)
    assert min(checked.values()) > 30  # these cases went through the replay, not the fallback


def test_resize_window_bicubic_rarely_differs():
    img = _img(40, 30, seed=2)
    ref = cv2.resize(img, (333, 250), interpolation=cv2.INTER_CUBIC).astype(int)
    diff = np.abs(ref - resize_window(img, (333, 250), (0, 0, 333, 250), "bicubic"))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4


def test_window_is_exact_rules():
    assert window_is_exact((20, 10), (40, 20), "bilinear") and not window_is_exact((40, 20), (20, 10), "bilinear")
    assert window_is_exact((20, 10), (30, 15), "area") and not window_is_exact((30, 15), (20, 10), "area")
    assert window_is_exact((30, 15), (20, 10), "nearest") and not window_is_exact((20, 10), (40, 20), "bicubic")
    assert window_is_exact((3, 2000), (256, 170667), "bicubic")
    assert window_is_exact((20, 10), (20, 30), "pil-bicubic") and not window_is_exact((20, 10), (19, 30), "pil-bilinear")


def test_resize_window_rejects_bad_windows():
    with pytest.raises(ValueError, match="not inside"):
        resize_window(_img(10, 10), (20, 20), (15, 0, 10, 5))
    with pytest.raises(ValueError, match="unknown interpolation"):
        resize_window(_img(10, 10), (20, 20), (0, 0, 5, 5), "lanczos")


# ---------------------------------------------------------------- views: windowed == full
@pytest.mark.parametrize("size", [(1, 1), (2, 1), (60, 40), (2000, 3), (3, 2000), (37, 1001), (500, 375), (261, 256)])
@pytest.mark.parametrize("interpolation", EXACT)
def test_windowed_views_equal_full_resize(size, interpolation):
    img = _img(*size, seed=size[0] * 7 + size[1])
    unique, _ = union_views(ALL, *size)
    full = _full(img, unique, interpolation)
    assert torch.equal(_windowed(img, unique, interpolation), full)
    assert torch.equal(cut_views(img, unique, interpolation=interpolation), full)


@pytest.mark.parametrize("size", [(1, 1), (2, 1), (2000, 3), (3, 2000), (700, 2)])
def test_windowed_bicubic_thin_photos_exact(size):
    # A side under 4 px: OpenCV runs its own bicubic kernel, which the windows replay exactly.
    img = _img(*size, seed=5)
    views = get_protocol("paper144").views(*size)
    assert torch.equal(cut_views(img, views, interpolation="bicubic"), _full(img, views, "bicubic"))


@pytest.mark.parametrize("size", [(60, 40), (37, 1001), (500, 375)])
def test_windowed_bicubic_within_one_level(size):
    img = _img(*size, seed=3)
    unique, _ = union_views(ALL, *size)
    diff = (_windowed(img, unique, "bicubic").int() - _full(img, unique, "bicubic").int()).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3


@pytest.mark.parametrize("size", [(60, 40), (2000, 3)])
def test_full_path_matches_reference_cut(size):
    img = _img(*size, seed=11)
    views = get_protocol("paper144").views(*size)[::7]
    ref = torch.from_numpy(np.stack([reference_cut(img, v) for v in views])).permute(0, 3, 1, 2)
    assert torch.equal(_full(img, views, "auto"), ref)
    assert torch.equal(cut_views(img, views), ref)


def test_windowed_views_equal_full_resize_real_photos(imagenet_samples):
    # Shrunk and enlarged photos (the first two are smaller than every scale), landscape and portrait.
    names = ["n01871265_tusker.JPEG", "n03825788_nipple.JPEG", "n02992529_cellular_telephone.JPEG",
             "n02391049_zebra.JPEG", "n03781244_monastery.JPEG", "n04238763_slide_rule.JPEG"]
    for name in names:
        img = decode_image(imagenet_samples / name)
        h, w = img.shape[:2]
        unique, _ = union_views(ALL, w, h)
        for interpolation in EXACT:
            assert torch.equal(_windowed(img, unique, interpolation), _full(img, unique, interpolation)), (name, interpolation)


def test_auto_picks_windows_only_for_large_enlargements(monkeypatch):
    calls = []
    real = views_mod.resize_window
    monkeypatch.setattr(views_mod, "resize_window", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    cut_views(_img(500, 375), get_protocol("paper144").views(500, 375))
    assert calls == []  # a normal photo: one full resize per scale
    cut_views(_img(2000, 3), get_protocol("center").views(2000, 3))
    assert calls == [(170667, 256)]


# ---------------------------------------------------------------- the pixel limit
def test_pixel_limit_refuses_with_a_decode_error(monkeypatch):
    assert MAX_DECODED_PIXELS == 178_956_970
    with pytest.raises(ImageDecodeError, match=r"cannot decode image big\.png: too large: 20000x10000"):
        check_image_size(20000, 10000, "big.png")
    check_image_size(13000, 13000)  # 169 Mpx: accepted
    monkeypatch.setattr(decode_mod, "MAX_DECODED_PIXELS", 100)
    img = _img(20, 6)
    views = get_protocol("center").views(20, 6)
    with pytest.raises(ImageDecodeError, match="photo.png: too large: 20x6 = 120 pixels") as e:
        cut_views(img, views, source="photo.png")
    assert e.value.source == "photo.png" and "above the limit of 100" in e.value.reason
    with pytest.raises(ImageDecodeError):
        reference_cut(img, views[0])


def test_scoring_loader_reports_oversized_photo_as_unreadable(tmp_path, monkeypatch):
    from PIL import Image

    from inception_eval.view_loader import ViewSource

    path = tmp_path / "wide.png"
    Image.fromarray(_img(40, 30)).save(path)
    monkeypatch.setattr(decode_mod, "MAX_DECODED_PIXELS", 1000)

    class _Data:
        paths = [str(path)]

        def load(self, index):
            return decode_image(self.paths[index])

    item = ViewSource(_Data(), [0], (get_protocol("center"),), "auto")[0]
    assert item.failure is None and item.image is None
    assert item.unreadable.startswith("too large: 40x30 = 1,200 pixels")


# ---------------------------------------------------------------- peak memory, in a child process
_CHILD = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from PIL import Image
    from inception_aug.decode import decode_image
    from inception_eval.protocols import get_protocol
    from inception_eval.views import cut_views
    w, h, proto, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    img = decode_image(path)
    x = cut_views(img, get_protocol(proto).views(w, h))
    assert x.shape[0] == len(get_protocol(proto).views(w, h)) and int(x.float().std()) > 0
    # Peak RSS of this process in MB. VmHWM is this program's own high-water mark; ru_maxrss
    # (the fallback) also counts the parent's memory at fork time, which a large pytest process
    # would dominate.
    try:
        with open("/proc/self/status") as f:
            print(int(next(l for l in f if l.startswith("VmHWM:")).split()[1]) // 1024)
    except OSError:
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")


@pytest.mark.parametrize("w, h, proto", [(200000, 2, "paper144"), (2, 200000, "paper144"), (20000, 2, "center")])
def test_thin_photo_peak_memory_under_1gb(tmp_path, w, h, proto):
    # A full resize at every scale would need 2e5 * 352 / 2 * 352 * 3 bytes = 37 GB for the first.
    run = subprocess.run([sys.executable, "-c", _CHILD, str(w), str(h), proto, str(tmp_path / "thin.png")],
                         capture_output=True, text=True, timeout=240, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert run.returncode == 0, run.stderr[-2000:]
    peak_mb = int(run.stdout.split()[-1])
    assert peak_mb < 1024, f"peak RSS {peak_mb} MB"
