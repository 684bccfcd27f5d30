"""The scoring engine against a straightforward reference loop, bf16 agreement, dedupe counts, heads,
unreadable images and non-finite outputs. Tiny models (width 0.25, 64-112 px) keep it fast."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD
from inception_aug.decode import decode_image
from inception_eval import data, engine
from inception_eval.aggregate import average_views
from inception_eval.models.googlenet import googlenet
from inception_eval.models.inference import prepare_for_inference
from inception_eval.protocols import get_protocol, union_views
from inception_eval.views import DEFAULT_INTERPOLATION, reference_cut

MEAN, STD = IMAGENET_MEAN, IMAGENET_STD
CROP = 64  # paper scales 256/288/320/352 become 73/82/91/101 px


# landscape, portrait (very tall), square (3 squares coincide), tiny (75x56 < crop: upsampled), EXIF-rotated
PHOTOS = ("n01440764_tench.JPEG", "n03272010_electric_guitar.JPEG", "n04254680_soccer_ball.JPEG",
          "n01871265_tusker.JPEG", "n02951585_can_opener.JPEG")


def tiny(seed: int = 0, num_classes: int = 10, variant: str = "paper", width: float = 0.25, aux: bool = True):
    torch.manual_seed(seed)
    return googlenet(variant, num_classes=num_classes, width_mult=width, aux_logits=aux).eval()


def photos_dataset(root: Path) -> data.ImageDataset:
    paths = [str(root / p) for p in PHOTOS]
    return data.ImageDataset(paths, [0, 1, 2, 3, 4], root=root)


def reference_probs(model, paths, protocol, heads=("main",)) -> dict:
    """The plain definition: each nominal view cut alone (reference_cut), one forward per view,
    softmax mean with unit weights over the nominal list (repeats included). Only a View object
    that is *equal* to one already run (same photo, same resize, same box, same mirror) reuses its
    logits, to keep the test fast."""
    infer = prepare_for_inference(model, precision="fp32")
    out = {h: [] for h in heads}
    _reference_loop(infer, paths, protocol, heads, out)
    return {h: np.stack(v) for h, v in out.items()}


def _reference_loop(infer, paths, protocol, heads, out) -> None:
    for path in paths:
        img = decode_image(path)
        memo: dict = {}
        per_head = {h: [] for h in heads}
        for v in protocol.views(img.shape[1], img.shape[0]):
            if v not in memo:
                pix = torch.from_numpy(reference_cut(img, v, DEFAULT_INTERPOLATION)).permute(2, 0, 1)[None]
                memo[v] = engine.run_heads(infer, engine.to_model_input(pix, MEAN, STD), heads)
            for h in heads:
                per_head[h].append(memo[v][h][0].numpy())
        for h in heads:
            out[h].append(average_views(np.stack(per_head[h]), None))


@pytest.mark.parametrize("photos,names", [
    ((0, 2), ["paper144", "ten", "center", "tencrop-torchvision"]),   # landscape + square, all protocols
    ((1, 3, 4), ["ten", "center", "tencrop-torchvision"]),            # portrait, tiny, EXIF-rotated
])
def test_fp32_equals_reference_loop(imagenet_samples, photos, names):
    model = tiny()
    ds = photos_dataset(imagenet_samples).subset(photos)
    # max_batch 37 splits images' views across batches; 2 workers decode and cut in parallel.
    res = engine.score(model, ds, names, crop_size=CROP, checkpoint_sha256="t", max_batch=37, workers=2,
                       progress=False)
    assert res.valid.all() and res.skipped == []
    for name in names:
        ref = reference_probs(model, ds.paths, get_protocol(name, CROP))["main"]
        got = res.probs[(name, "main")]
        # Same pixels, same model: only float rounding differs (batched vs single-view convolution,
        # weighted sum over deduplicated views vs repeated sum).
        np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6, err_msg=name)
        assert (np.argsort(-got, 1, kind="stable")[:, :5] == np.argsort(-ref, 1, kind="stable")[:, :5]).all()
    expected_unique = 0
    for p in ds.paths:
        img = decode_image(p)
        expected_unique += len(union_views([get_protocol(n, CROP) for n in names], img.shape[1], img.shape[0])[0])
    assert res.forward_views == res.total_unique_views == expected_unique
    assert res.nominal_views == {n: get_protocol(n, CROP).nominal_views for n in names}


def test_dedupe_square_photo_and_subsets(imagenet_samples):
    ds = data.ImageDataset([str(imagenet_samples / "n04254680_soccer_ball.JPEG"),
                            str(imagenet_samples / "n01440764_tench.JPEG")], [0, 1])
    res = engine.score(tiny(), ds, ["paper144", "ten", "center"], crop_size=CROP, checkpoint_sha256="t",
                       workers=0, progress=False)
    # 500x500: left/centre/right squares coincide -> 4 scales x 6 crops x 2 mirrors = 48 unique views;
    # 500x375: 144; ten and center are subsets of paper144 and cost nothing extra.
    assert res.forward_views == 48 + 144
    assert res.total_nominal_views == {"paper144": 288, "ten": 20, "center": 2}


def test_batch_size_and_workers_do_not_change_results(imagenet_samples):
    ds = photos_dataset(imagenet_samples).subset([0, 2, 3])
    kw = dict(crop_size=CROP, checkpoint_sha256="t", progress=False)
    a = engine.score(tiny(), ds, ["ten", "center"], max_batch=1000, workers=0, **kw)
    b = engine.score(tiny(), ds, ["ten", "center"], max_batch=3, workers=1, **kw)
    for k in a.probs:
        np.testing.assert_allclose(a.probs[k], b.probs[k], rtol=0, atol=2e-6)
    assert a.forward_views == b.forward_views == 30


def test_aux_heads_and_main_unchanged(imagenet_samples):
    ds = photos_dataset(imagenet_samples).subset([0, 1])
    kw = dict(crop_size=112, checkpoint_sha256="t", progress=False, workers=0)
    main = engine.score(tiny(), ds, ["center"], **kw)
    allh = engine.score(tiny(), ds, ["center"], heads=("main", "aux1", "aux2"), **kw)
    assert set(allh.probs) == {("center", "main"), ("center", "aux1"), ("center", "aux2")}
    np.testing.assert_allclose(allh.probs[("center", "main")], main.probs[("center", "main")], atol=2e-6, rtol=0)
    ref = reference_probs(tiny(), ds.paths, get_protocol("center", 112), heads=("aux1", "aux2"))
    for h in ("aux1", "aux2"):
        np.testing.assert_allclose(allh.probs[("center", h)], ref[h], atol=2e-6, rtol=0)
        assert not np.allclose(allh.probs[("center", h)], main.probs[("center", "main")])
    with pytest.raises(ValueError, match="no auxiliary heads"):
        engine.score(tiny(aux=False), ds, ["center"], heads=("main", "aux1"), **kw)


def test_bf16_agrees_with_fp32_on_real_photos(small_classification):
    """bf16 vs fp32 top-1 on 200 real photos (20 per Imagenette class, centre crop at 112 px).

    A random-init paper GoogLeNet is useless here: its features are dominated by one common
    component (bias 0.2 everywhere), so class scores are near-ties and bf16 rounding flips them
    (measured: ~77% agreement with a centroid head). So the model is a random torchvision-variant
    trunk (BatchNorm, width 0.5) with a *fitted* head: ridge regression of +-1 class targets on its
    fp32 centre-crop features of these photos. That model is confident and right on them (fp32
    top-1 = 100%), like a trained model on easy images; bf16 must then agree on >= 99.5%.
    """
    val = data.image_folder(small_classification / "val")
    ds = val.subset([i for c in range(10) for i in np.flatnonzero(val.labels == c)[:20]])
    model = tiny(variant="torchvision", width=0.5, aux=False)
    proto = get_protocol("center", 112)
    pix = []
    for p in ds.paths:
        img = decode_image(p)
        pix.append(torch.from_numpy(reference_cut(img, proto.views(img.shape[1], img.shape[0])[0])).permute(2, 0, 1))
    x = engine.to_model_input(torch.stack(pix), MEAN, STD)
    with torch.inference_mode():
        f = torch.flatten(model.avgpool(model.forward_features(x)[0]), 1).double()
    g = f.mean(0)
    fc = f - g
    y = torch.nn.functional.one_hot(torch.from_numpy(ds.labels), 10).double() * 2 - 1
    lam = 1e-4 * fc.pow(2).sum() / len(fc)
    w = torch.linalg.solve(fc.T @ fc + lam * torch.eye(fc.shape[1], dtype=torch.float64), fc.T @ y).T * 5
    with torch.no_grad():
        model.fc.weight.copy_(w.float())
        model.fc.bias.copy_((-(w @ g)).float())
    kw = dict(crop_size=112, checkpoint_sha256="t", progress=False, workers=1)
    r32 = engine.score(model, ds, ["center"], precision="fp32", **kw)
    r16 = engine.score(model, ds, ["center"], precision="bf16", **kw)
    a, b = r32.probs[("center", "main")], r16.probs[("center", "main")]
    assert r32.accuracy("center").top1 == 1.0
    assert np.abs(a - b).max() > 1e-4  # bf16 really ran (results are not bit-identical)
    agree = float((a.argmax(1) == b.argmax(1)).mean())
    assert agree >= 0.995, agree


def _bad_tree(root: Path, samples: Path) -> Path:
    good = samples / "n01440764_tench.JPEG"
    blob = good.read_bytes()
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    shutil.copy(good, root / "a" / "1_good.jpg")
    (root / "a" / "2_truncated.jpg").write_bytes(blob[: len(blob) // 2])
    (root / "a" / "3_empty.jpg").write_bytes(b"")
    (root / "b" / "4_text.jpg").write_bytes(b"this is not an image\n")
    shutil.copy(samples / "n04254680_soccer_ball.JPEG", root / "b" / "5_good.jpg")
    return root


def test_unreadable_images_skipped_listed_and_excluded(tmp_path, imagenet_samples):
    ds = data.image_folder(_bad_tree(tmp_path / "d", imagenet_samples))
    res = engine.score(tiny(), ds, ["center"], crop_size=CROP, checkpoint_sha256="t", workers=2, progress=False)
    assert res.valid.tolist() == [True, False, False, False, True]
    reasons = {Path(p).name: r for p, r in res.skipped}
    assert set(reasons) == {"2_truncated.jpg", "3_empty.jpg", "4_text.jpg"}
    assert "truncated" in reasons["2_truncated.jpg"] or "corrupt" in reasons["2_truncated.jpg"]
    assert "empty" in reasons["3_empty.jpg"]
    assert "not an image" in reasons["4_text.jpg"]
    assert res.accuracy("center").count == 2  # the denominator excludes them
    assert not res.probs[("center", "main")][~res.valid].any()
    with pytest.raises(engine.StrictModeError, match="2_truncated.jpg"):
        engine.score(tiny(), ds, ["center"], crop_size=CROP, checkpoint_sha256="t", workers=0, progress=False,
                     strict=True)


class _NaNOnWhite(torch.nn.Module):
    """Wraps a model; returns NaN logits for views that are pure white (a stand-in for a broken model)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.num_classes = inner.num_classes

    def forward(self, x, return_aux: bool = False):
        out = self.inner(x)
        white = x.flatten(1).amin(1) > 2.0  # (255/255 - mean) / std > 2.1 for every channel
        return torch.where(white[:, None], torch.full_like(out, float("nan")), out)


def test_non_finite_output_stops_naming_the_image(tmp_path, imagenet_samples):
    shutil.copy(imagenet_samples / "n01440764_tench.JPEG", tmp_path / "a.jpg")
    Image.new("RGB", (90, 70), (255, 255, 255)).save(tmp_path / "white.png")
    ds = data.ImageDataset([str(tmp_path / "a.jpg"), str(tmp_path / "white.png")], [0, 1])
    with pytest.raises(engine.NonFiniteOutputError, match=r"white\.png"):
        engine.score(_NaNOnWhite(tiny()), ds, ["ten"], crop_size=CROP, checkpoint_sha256="t", workers=0,
                     progress=False)


def test_class_names_checked_against_checkpoint(tmp_path, imagenet_samples):
    for c in ("n01", "n02"):
        (tmp_path / c).mkdir()
        shutil.copy(imagenet_samples / "n01440764_tench.JPEG", tmp_path / c / "x.jpg")
    ds = data.image_folder(tmp_path)
    names = [f"n{i:02d}" for i in range(10)]
    res = engine.score(tiny(), ds, ["center"], crop_size=CROP, class_names=names, workers=0, progress=False)
    assert res.labels.tolist() == [1, 2]
    with pytest.raises(data.ClassNameMismatch, match="class_map='index'"):
        engine.score(tiny(), ds, ["center"], crop_size=CROP, class_names=[f"c{i}" for i in range(10)],
                     workers=0, progress=False)
    res = engine.score(tiny(), ds, ["center"], crop_size=CROP, class_names=[f"c{i}" for i in range(10)],
                       class_map="index", workers=0, progress=False)
    assert res.labels.tolist() == [0, 1]


def test_bad_settings_fail_before_any_image(imagenet_samples):
    ds = photos_dataset(imagenet_samples).subset([0])
    kw = dict(crop_size=CROP, workers=0, progress=False)
    for bad, match in ((dict(interpolation="lanczos"), "interpolation"), (dict(averaging="median"), "averaging"),
                       (dict(heads=("main", "aux3")), "unknown heads"), (dict(precision="int8"), "precision"),
                       (dict(max_batch=0), "max_batch")):
        with pytest.raises(ValueError, match=match):
            engine.score(tiny(), ds, ["center"], **kw, **bad)
    with pytest.raises(ValueError, match="unknown protocol"):
        engine.score(tiny(), ds, ["paper145"], **kw)


def _can_compile() -> str | None:
    try:
        f = torch.compile(lambda x: x * 2 + 1)
        f(torch.ones(2))
    except Exception as e:  # no C++ compiler, unsupported platform, ...
        return f"torch.compile unavailable here: {type(e).__name__}"
    return None


def test_compiled_engine_agrees_with_eager_and_pads_the_last_batch(imagenet_samples, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # not the user's cache
    why = _can_compile()
    if why:
        pytest.skip(why)
    model = tiny(aux=False)
    ds = photos_dataset(imagenet_samples).subset((0, 3))
    # 2 photos x 10 views = 20 views in batches of 8: the last batch (4 views) is zero-padded to 8.
    kw = dict(crop_size=CROP, checkpoint_sha256="t", max_batch=8, workers=0, progress=False)
    eager = engine.score(model, ds, ["ten"], compile="off", **kw)
    compiled = engine.score(model, ds, ["ten"], compile=True, **kw)
    assert compiled.settings["compile"] is True and eager.settings["compile"] is False
    a, b = eager.probs[("ten", "main")], compiled.probs[("ten", "main")]
    assert a.shape == b.shape == (2, 10)
    assert np.abs(a - b).max() < 1e-4  # Inductor fuses ops: float rounding, not bit equality
    assert (a.argmax(1) == b.argmax(1)).all()


class _LoaderBug(data.ImageDataset):
    """A dataset whose loader has a bug for one file (ZeroDivisionError), or reports one file as
    unreadable through the data-level error."""

    def __init__(self, paths, labels, bug: str | None = None, unreadable: str | None = None) -> None:
        super().__init__(paths, labels)
        self.bug, self.unreadable = bug, unreadable

    def load(self, i: int):
        name = Path(self.paths[i]).name
        if name == self.bug:
            return 1 // 0
        if name == self.unreadable:
            raise data.UnreadableImageError(f"{self.paths[i]}: locked by the archive")
        return super().load(i)


@pytest.mark.parametrize("workers", [0, 1])
def test_unexpected_loader_error_stops_the_run_naming_the_image(imagenet_samples, workers):
    paths = [str(imagenet_samples / p) for p in PHOTOS[:3]]
    ds = _LoaderBug(paths, [0, 1, 2], bug=PHOTOS[1])
    with pytest.raises(engine.ImageLoadError) as err:
        engine.score(tiny(), ds, ["center"], crop_size=CROP, checkpoint_sha256="t", workers=workers,
                     progress=False)
    msg = str(err.value)
    assert PHOTOS[1] in msg and "index 1" in msg
    assert "ZeroDivisionError" in msg and "Traceback" in msg  # the loader's traceback is kept
    assert not isinstance(err.value, ValueError)  # a bug, not a data error: never exit 1 / skipped


def test_data_level_unreadable_error_is_skipped_and_reported(imagenet_samples):
    paths = [str(imagenet_samples / p) for p in PHOTOS[:3]]
    ds = _LoaderBug(paths, [0, 1, 2], unreadable=PHOTOS[2])
    res = engine.score(tiny(), ds, ["center"], crop_size=CROP, checkpoint_sha256="t", workers=0, progress=False)
    assert res.valid.tolist() == [True, True, False]
    assert res.skipped == [(paths[2], f"{paths[2]}: locked by the archive")]


def test_result_parts_and_flat_attributes(imagenet_samples):
    ds = photos_dataset(imagenet_samples).subset([0])
    res = engine.score(tiny(), ds, ["center"], crop_size=CROP, checkpoint_sha256="t", workers=0, progress=False,
                       max_batch=5)
    assert res.probs is res.scores.probs and res.valid is res.scores.valid
    assert res.seconds == res.stats.seconds > 0 and res.forward_views == res.stats.forward_views == 1
    assert res.device == res.provenance.device == "cpu" and res.checkpoint_sha256 == "t"
    assert res.settings["max_batch"] == 5 and res.world_size == 1 and res.cache_path is None
    assert res.images_per_second == res.stats.images_computed / res.stats.seconds
    with pytest.raises(AttributeError):
        res.seconds = 1.0  # the flat names are read-only views of the parts


def test_every_model_input_kind_resolves_alike(tmp_path):
    from inception_aug.constants import IMAGENET_MEAN
    from inception_aug.errors import InputError
    from inception_eval.models.checkpoint import load_checkpoint, save_checkpoint
    from inception_eval.resolve import resolve_model

    model = tiny(num_classes=10)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, input_size=CROP, class_names=[f"c{i}" for i in range(10)])
    _, by_path = resolve_model(path)
    _, by_pair = resolve_model(load_checkpoint(path))
    assert by_path == by_pair
    assert (by_path.crop_size, by_path.num_classes, by_path.class_names[:2]) == (CROP, 10, ["c0", "c1"])
    assert len(by_path.sha256) == 64 and by_path.source == str(path)
    m, bare = resolve_model(model, checkpoint_sha256="s")
    assert m is model and (bare.sha256, bare.crop_size, bare.mean, bare.num_classes) == ("s", 224, IMAGENET_MEAN, 10)
    assert resolve_model(model, crop_size=96, mean=(0.5, 0.5, 0.5))[1].crop_size == 96
    with pytest.raises(InputError, match="number of classes"):
        resolve_model(torch.nn.Identity())
    with pytest.raises(TypeError, match="checkpoint must be"):
        resolve_model(42)


def test_settings_errors_are_usage_errors():
    from inception_aug.errors import UsageError

    assert engine.ScoreSettings().max_batch == engine.DEFAULT_MAX_BATCH["cpu"]
    assert engine.ScoreSettings(device="cuda:1").max_batch == engine.DEFAULT_MAX_BATCH["cuda"]
    for bad in (dict(precision="int8"), dict(heads=()), dict(class_map="wnid"), dict(max_batch=-1)):
        with pytest.raises(UsageError):
            engine.ScoreSettings(**bad)
