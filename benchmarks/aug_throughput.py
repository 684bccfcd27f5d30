"""Training-augmentation throughput on one core: encoded JPEG bytes in memory -> normalised
float32 CHW tensor (224 x 224; the ``tensor_uint8`` row: uint8 CHW, normalised later on the batch),
this toolkit vs albumentations 2.0.8 (after a cv2 and after a simplejpeg decode) vs torchvision (if importable)
vs decode only (PIL, cv2, simplejpeg; simplejpeg also with fastdct+fastupsample, the baseline
for our ``fast_dct`` row).

    python benchmarks/aug_throughput.py            # full run (115 photos + large versions)
    python benchmarks/aug_throughput.py --quick    # 24 photos, 3 repeats
    python benchmarks/aug_throughput.py --alternatives   # measured alternatives not adopted
    python benchmarks/aug_throughput.py --stages [--quick]  # only the per-stage table of `paper`
    python benchmarks/aug_throughput.py --presets [--quick] [--batch 32 --device cuda]
                                                   # per-image time of each photometric preset

Two image sets, both from ../shared/data/imagenet-samples:
- "imagenet": the JPEG files as they are (median 500x375).
- "large": the same photos upscaled (bicubic) to 1600 px on the long side and JPEG-encoded once
  (quality 90, 4:2:0) before timing.

Each repeat times one pass over the set for every pipeline, the pipelines interleaved image by
image in a rotating order so that machine noise hits all of them alike; we report the median images/s over repeats and
ratios of medians measured in the same run. Time is process CPU time by default (``--clock cpu``:
with one thread this is the one-core cost, and it is robust when other jobs share the machine);
``--clock wall`` uses ``time.perf_counter``. Prints JSON, then a Markdown table.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import simplejpeg  # noqa: E402

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from inception_aug.decode import decode_image, region_decode_status  # noqa: E402
from inception_aug.transforms import InceptionTrainTransform  # noqa: E402

DATA = (REPO / ".." / "shared" / "data" / "imagenet-samples").resolve()
MEAN, STD = IMAGENET_MEAN, IMAGENET_STD


def load_sets(n: int | None, large_side: int = 1600) -> dict[str, list[bytes]]:
    files = sorted(DATA.glob("*.JPEG"))
    if not files:
        raise SystemExit(f"no photos in {DATA}")
    if n:
        files = files[:: max(1, len(files) // n)][:n]
    imagenet = [f.read_bytes() for f in files]
    large = []
    for data in imagenet:
        im = Image.open(io.BytesIO(data)).convert("RGB")
        s = large_side / max(im.size)
        im = im.resize((round(im.width * s), round(im.height * s)), Image.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90, subsampling=2)
        large.append(buf.getvalue())
    return {"imagenet": imagenet, "large": large}


def pipelines(seed: int = 0) -> dict[str, Callable[[bytes], object]]:
    rng = np.random.default_rng(seed)
    p: dict[str, Callable[[bytes], object]] = {}

    paper = InceptionTrainTransform.from_preset("paper")
    p["ours: paper (howard)"] = lambda b: paper(b, rng)
    final = InceptionTrainTransform.from_preset("paper", photometric_options={"clamp": "final"})
    p["ours: paper (howard, clamp=final)"] = lambda b: final(b, rng)
    u8 = InceptionTrainTransform.from_preset("paper", output="tensor_uint8")
    p["ours: paper (howard), tensor_uint8"] = lambda b: u8(b, rng)
    whole = InceptionTrainTransform.from_preset("paper", region_decode=False)
    p["ours: paper (howard), whole-file decode"] = lambda b: whole(b, rng)
    whole_u8 = InceptionTrainTransform.from_preset("paper", output="tensor_uint8", region_decode=False)
    p["ours: paper (howard), tensor_uint8, whole-file decode"] = lambda b: whole_u8(b, rng)
    fast = InceptionTrainTransform.from_preset("paper", fast_dct=True)
    p["ours: paper (howard), fast_dct"] = lambda b: fast(b, rng)
    cj = InceptionTrainTransform.from_preset("paper", photometric="colorjitter")
    p["ours: paper crop + colorjitter"] = lambda b: cj(b, rng)
    none = InceptionTrainTransform.from_preset("paper", photometric="none")
    p["ours: paper crop, no colour"] = lambda b: none(b, rng)
    bil = InceptionTrainTransform.from_preset("paper", photometric="none", interpolations=("bilinear",))
    p["ours: paper crop, bilinear only, no colour"] = lambda b: bil(b, rng)

    try:
        import albumentations as A
        from albumentations.pytorch import ToTensorV2

        alb = A.Compose([
            A.RandomResizedCrop(size=(224, 224), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
            A.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0, p=1.0),
            A.HorizontalFlip(p=0.5),
            A.Normalize(mean=MEAN, std=STD),
            ToTensorV2(),
        ], seed=seed)

        def albu(b: bytes):
            img = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            return alb(image=img)["image"]

        p["albumentations 2.0.8"] = albu
        # The same pipeline after the decoder ours uses (simplejpeg): the like-for-like comparison.
        p["albumentations 2.0.8 (simplejpeg decode)"] = lambda b: alb(image=simplejpeg.decode_jpeg(b, colorspace="RGB"))["image"]
    except ImportError as e:  # pragma: no cover
        print(f"albumentations not importable: {e}", file=sys.stderr)

    try:
        import torchvision.transforms as TV  # optional anchor, never a dependency

        tv = TV.Compose([
            TV.RandomResizedCrop(224), TV.ColorJitter(0.4, 0.4, 0.4), TV.RandomHorizontalFlip(),
            TV.ToTensor(), TV.Normalize(MEAN, STD),
        ])
        p["torchvision"] = lambda b: tv(Image.open(io.BytesIO(b)).convert("RGB"))
    except ImportError:
        print("torchvision not importable: skipped", file=sys.stderr)

    p["decode only: PIL"] = lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))
    p["decode only: cv2"] = lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
    p["decode only: simplejpeg"] = lambda b: simplejpeg.decode_jpeg(b, colorspace="RGB")
    # Same libjpeg-turbo options as the fast_dct row above (the honest baseline for it).
    p["decode only: simplejpeg fastdct+fastupsample"] = lambda b: simplejpeg.decode_jpeg(
        b, colorspace="RGB", fastdct=True, fastupsample=True)
    # Not a competitor (different output size): how much libjpeg DCT scaling saves at all.
    p["(reference) simplejpeg at 1/4 size"] = lambda b: decode_image(b, reduce=4)
    return p


def measure(images: list[bytes], pipes: dict[str, Callable], repeats: int,
            clock: Callable[[], float] = time.process_time) -> dict[str, dict]:
    names = list(pipes)
    for name in names:  # warm-up: imports, caches, lazy tables
        for b in images[:3]:
            pipes[name](b)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        # Interleave per image (rotating order) so load changes on a shared machine hit every
        # pipeline alike; one repeat = one pass over the set for every pipeline.
        total = dict.fromkeys(names, 0.0)
        for i, b in enumerate(images):
            k = (i + r) % len(names)
            for name in names[k:] + names[:k]:
                fn = pipes[name]
                t0 = clock()
                fn(b)
                total[name] += clock() - t0
        for name in names:
            times[name].append(total[name])
    return {n: {"images_per_s": len(images) / statistics.median(t), "repeats_s": t} for n, t in times.items()}


def breakdown(images: list[bytes], repeats: int, seed: int = 0) -> dict[str, float]:
    """Where the time of the ``paper`` pipeline goes: every stage timed on the SAME draws (one
    ``AugParams`` per image, sampled once), CPU ms per image, median over repeats. The stages run in
    pipeline order per image, so cache effects after the decode are included. ``crop+resize`` is
    ``crop.resize_decoded`` of the pixels just decoded (the pixel half of ``crop_resize``);
    ``decode`` is the pipeline's: the crop's region (``crop.crop_region``, ``decode.decode_region``)
    at full or reduced scale, the whole file where that path does not apply; ``resize <method>`` is
    the mean per sample of that method. The two output rows are the
    alternatives: ``tensor`` (normalised float) or ``tensor_uint8`` (normalised later on the batch),
    each with the colour chain's trailing per-channel ops folded in (``apply_photometric_deferred``);
    rows marked (reference) are not on the pipeline's path (the same draws applied another way).
    Order matters for the output rows: the first float output after the colour pass pays ~0.05 ms
    of cache misses that a second one does not (measured by swapping them)."""
    from inception_aug import color
    from inception_aug.convert import input_size, load_input, to_output
    from inception_aug.crop import choose_reduce, crop_region, resize_decoded
    from inception_aug.decode import decode_region

    t = InceptionTrainTransform.from_preset("paper")
    rng = np.random.default_rng(seed)
    srcs = [load_input(b) for b in images]
    params = [t.sample(*input_size(s), rng) for s in srcs]
    fused = [dataclasses.replace(p.photometric, clamp="final") for p in params]  # the same draws, fused
    clock = time.process_time
    runs: dict[str, list[float]] = {}
    for _ in range(repeats):
        acc: dict[str, float] = {}
        per_method: dict[str, list[float]] = {}
        for b, src, p, pf in zip(images, srcs, params, fused):
            t0 = clock()
            load_input(b)
            ta = clock()
            t.sample(*input_size(src), rng)  # a throw-away draw (the timed params were sampled above)
            t1 = clock()
            r = choose_reduce(p.crop, t.out_wh) if src.header.jpeg else 1
            rect = crop_region(src, p.crop, r, p.interpolation)
            pixels = None if rect is None else decode_region(src.data, src.header, rect, src.name, reduce=r)
            origin = None if pixels is None else rect[:2]
            if pixels is None:
                pixels = decode_image(src.name, reduce=r, data=src.data, header=src.header)
            t2 = clock()
            out = resize_decoded(src, pixels, r, p.crop, t.out_wh, p.interpolation, origin=origin)
            t3 = clock()
            out2 = out.copy()
            t4 = clock()
            if p.flip:
                cv2.flip(out, 1, dst=out)
            t5 = clock()
            color.apply_photometric(out2.copy(), p.photometric)
            t6 = clock()
            color.apply_photometric(out2.copy(), pf, dst=out2)
            t7 = clock()
            out, ops = color.apply_photometric_deferred(out, p.photometric, dst=out)
            t8 = clock()
            table = color.channel_lut(ops) if ops else None
            to_output(out, "tensor", t.normalize.luts, table)
            t9 = clock()
            to_output(out, "tensor_uint8", None, table)
            t10 = clock()
            t.normalize(out)
            t11 = clock()
            torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))
            t12 = clock()
            decode_image(src.name, reduce=r, data=src.data, header=src.header)
            t13 = clock()
            for k, v in (("header (read_header)", ta - t0), ("sample draws (crop, interpolation, flip, colour)", t1 - ta),
                         ("decode", t2 - t1), ("crop+resize", t3 - t2),
                         ("flip", t5 - t4), ("(reference) colour, clamp=each, all ops on the pixels", t6 - t5),
                         ("(reference) colour, clamp=final (fused)", t7 - t6),
                         ("colour, clamp=each, trailing channel ops deferred (pipeline)", t8 - t7),
                         ("output tensor (channel table folded into normalise, HWC -> float CHW)", t9 - t8),
                         ("output tensor_uint8 (channel table folded into the CHW split)", t10 - t9),
                         ("(reference) normalise only, no table (runs second: warm caches)", t11 - t10),
                         ("(reference) tensor_uint8 by numpy transpose copy (warm)", t12 - t11),
                         ("(reference) whole-file decode (region_decode=False)", t13 - t12)):
                acc[k] = acc.get(k, 0.0) + v
            per_method.setdefault(p.interpolation, []).append(t3 - t2)
        for k, v in acc.items():
            runs.setdefault(k, []).append(1e3 * v / len(images))
        for k, v in per_method.items():
            runs.setdefault(f"resize {k} (mean per sample of it)", []).append(1e3 * sum(v) / len(v))
    return {k: statistics.median(v) for k, v in runs.items()}


def _box_taps(s: float) -> np.ndarray:
    """1-D weights of a continuous box of width ``s`` (> 1) centred on a pixel centre, integrated
    over unit pixels (the prefilter of the rejected area approximation)."""
    r = s / 2
    n = int(np.ceil(r - 0.5))
    taps = [max(0.0, min(k + 0.5, r) - max(k - 0.5, -r)) for k in range(-n, n + 1)]
    return (np.array(taps) / s).astype(np.float32)


def alternatives(images: list[bytes], repeats: int = 3, seed: int = 0) -> dict:
    """Measured alternatives that were NOT adopted (CPU ms per image, best of ``repeats``):
    colour + normalisation fused in one float32 transform; libjpeg-turbo DCT scales n/8; faster
    stand-ins for OpenCV INTER_AREA at non-integer shrink (with their pixel difference)."""
    from torch.utils.data import default_collate

    from inception_aug import color
    from inception_aug.sampling import sample_crop
    from inception_aug.transforms import ToNormalizedTensor

    rng = np.random.default_rng(seed)
    clock = time.process_time

    def best(fn, items) -> float:
        out = []
        for _ in range(repeats):
            t0 = clock()
            for it in items:
                fn(it)
            out.append((clock() - t0) / len(items) * 1e3)
        return min(out)

    res: dict[str, dict[str, float]] = {}
    # colour + normalisation on 224x224 crops of the photos
    crops = [cv2.resize(decode_image(b), (224, 224), interpolation=cv2.INTER_AREA) for b in images]
    draws = [color.sample_photometric("howard", rng) for _ in crops]
    norm = ToNormalizedTensor(MEAN, STD)
    scale = np.array([1 / (255 * s) for s in STD])
    shift = np.array([-m / s for m, s in zip(MEAN, STD)])
    lo, hi = tuple(shift) + (0.0,), tuple(shift + 255 * scale) + (0.0,)

    def ours(i):
        return norm(color.apply_photometric(crops[i], draws[i]))

    def fused_float(i, contiguous=False):
        m = color.color_matrix(draws[i], cv2.mean(crops[i]))
        m = m * scale[:, None]
        m[:, 3] += shift
        x = crops[i].astype(np.float32)
        cv2.transform(x, m, dst=x)
        cv2.max(x, lo, dst=x)
        cv2.min(x, hi, dst=x)
        t = torch.from_numpy(x).permute(2, 0, 1)
        return t.contiguous() if contiguous else t

    idx = list(range(len(crops)))
    batch_cl = [fused_float(i) for i in idx[:32]]
    batch_c = [t.contiguous() for t in batch_cl]
    res["colour + normalise, 224x224"] = {
        "ours: 8-bit colour matrix + cv2.LUT normalise": best(ours, idx),
        "float32 fused transform, channels-last view": best(fused_float, idx),
        "float32 fused transform, made contiguous": best(lambda i: fused_float(i, True), idx),
        "default_collate of 32 channels-last tensors, per image": best(lambda _: default_collate(batch_cl), [0]) / 32,
        "default_collate of 32 contiguous tensors, per image": best(lambda _: default_collate(batch_c), [0]) / 32,
    }
    # DCT scales
    sizes = [simplejpeg.decode_jpeg_header(b)[:2] for b in images]
    res["simplejpeg decode at scale n/8"] = {
        f"{n}/8": best(lambda i: simplejpeg.decode_jpeg(images[i], colorspace="RGB", min_height=-(-sizes[i][0] * n // 8),
                                                        min_width=-(-sizes[i][1] * n // 8)), idx)
        for n in range(1, 9)}
    # area at shrink factors above 1 (the slow case), on paper crops of the full photos
    full = [decode_image(b) for b in images]
    views = []
    for im in full:
        for _ in range(4):
            b = sample_crop(im.shape[1], im.shape[0], rng)
            if b.w > 224 * 1.05 and b.h > 224 * 1.05:
                views.append(im[b.y:b.y + b.h, b.x:b.x + b.w])

    def exact(v):
        return cv2.resize(v, (224, 224), interpolation=cv2.INTER_AREA)

    def prefilter(v):
        sx, sy = v.shape[1] / 224, v.shape[0] / 224
        f = cv2.sepFilter2D(v, -1, _box_taps(sx), _box_taps(sy), borderType=cv2.BORDER_REPLICATE)
        return cv2.resize(f, (224, 224), interpolation=cv2.INTER_LINEAR)

    def as_float(v):
        return cv2.convertScaleAbs(cv2.resize(v.astype(np.float32), (224, 224), interpolation=cv2.INTER_AREA))

    ref = [exact(v).astype(np.int16) for v in views]
    d = [np.abs(prefilter(v).astype(np.int16) - r) for v, r in zip(views, ref)]
    res[f"area, shrink > 1.05 ({len(views)} paper crops)"] = {
        "cv2 INTER_AREA (exact)": best(exact, views),
        "float32 input INTER_AREA": best(as_float, views),
        "box prefilter + bilinear": best(prefilter, views),
        "box prefilter + bilinear: mean |diff| (levels)": float(np.mean([x.mean() for x in d])),
        "box prefilter + bilinear: max |diff| (levels)": float(max(x.max() for x in d)),
        "cv2 INTER_LINEAR (reference)": best(lambda v: cv2.resize(v, (224, 224)), views),
    }
    return res


def preset_speed(data: Path, size: int = 224, quick: bool = False, batch: int = 0,
                 device: str = "cpu") -> dict:
    """Per-image time of each photometric preset on ``size`` x ``size`` uint8 crops of the photos in
    ``data`` (one thread): wall and CPU ms per image, median over repeats. With ``batch`` > 0 also
    ``inception_aug.batch.apply_photometric_batch`` on a (batch, 3, size, size) tensor on ``device``."""
    from inception_aug import color

    files = sorted(Path(data).glob("*.JPEG"))[: (8 if quick else 32)]
    if not files:
        raise SystemExit(f"no *.JPEG files in {data}")
    crops = [cv2.resize(decode_image(f), (size, size), interpolation=cv2.INTER_AREA) for f in files]
    cases = [("howard", {}), ("howard", {"clamp": "final"}), ("colorjitter", {}), ("colorjitter", {"hue": 0.1}),
             ("tf-slim", {"fast_mode": True}), ("tf-slim", {})]
    repeats, per = (3, 100) if quick else (7, 400)
    rng = np.random.default_rng(0)
    rows = []
    for preset, opts in cases:
        draws = [color.sample_photometric(preset, rng, **opts) for _ in range(per)]
        for p, im in zip(draws[:10], crops * 10):
            color.apply_photometric(im, p)  # warm-up
        name = preset + ("" if not opts else " " + ",".join(f"{k}={v}" for k, v in opts.items()))
        rows.append(_timed(name, lambda: [color.apply_photometric(crops[i % len(crops)], p)
                                          for i, p in enumerate(draws)], per, repeats))
    if batch:
        rows += _batch_speed(crops, batch, device, repeats)
    return {"size": size, "images": len(crops), "repeats": repeats, "per_repeat": per, "results": rows}


def _timed(name: str, fn: Callable[[], object], per: int, repeats: int, sync: Callable[[], None] = lambda: None
           ) -> dict:
    """Median wall and CPU ms per image of ``fn`` (which handles ``per`` images) over ``repeats``.
    CPU time is reported next to wall time: on a shared machine it is the steadier number."""
    wall, cpu = [], []
    for _ in range(repeats):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append((time.perf_counter() - t0) / per)
        cpu.append((time.process_time() - c0) / per)
    return {"preset": name, "wall_ms": round(1e3 * float(np.median(wall)), 4),
            "cpu_ms": round(1e3 * float(np.median(cpu)), 4)}


def _batch_speed(crops: list, batch: int, device_name: str, repeats: int) -> list[dict]:
    """Per-image time of ``batch.apply_photometric_batch`` on a (B, 3, S, S) uint8 tensor."""
    from inception_aug.batch import apply_photometric_batch, sample_batch_photometric

    device = torch.device(device_name)
    x = torch.from_numpy(np.stack([crops[i % len(crops)] for i in range(batch)])).permute(0, 3, 1, 2).contiguous()
    x = x.to(device)
    g = torch.Generator(device=device).manual_seed(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for preset, opts in (("howard", {}), ("howard", {"clamp": "final"}), ("tf-slim", {})):
        params = sample_batch_photometric(preset, batch, g, device=device, **opts)
        apply_photometric_batch(x, params)  # warm-up
        label = "" if not opts else " " + ",".join(f"{k}={v}" for k, v in opts.items())
        rows.append(_timed(f"{preset}{label} batch={batch} {device.type}", lambda: apply_photometric_batch(x, params),
                           batch, repeats, sync))
    return rows


def print_preset_speed(res: dict) -> None:
    """The preset timings as JSON (one line) and a Markdown table."""
    print(json.dumps(res))
    print(f"\n| preset ({res['size']}x{res['size']} uint8, 1 thread) | wall ms / image | CPU ms / image |\n|---|---|---|")
    for r in res["results"]:
        print(f"| {r['preset']} | {r['wall_ms']:.3f} | {r['cpu_ms']:.3f} |")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="24 photos, 3 repeats")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="cpu: process CPU time (robust on a shared machine; one thread, so it is "
                         "the one-core cost); wall: perf_counter")
    ap.add_argument("--alternatives", action="store_true",
                    help="only measure the alternatives that were not adopted (ImageNet-size photos)")
    ap.add_argument("--stages", action="store_true",
                    help="only the per-stage table of the paper preset (ImageNet-size photos)")
    ap.add_argument("--presets", action="store_true",
                    help="only time each photometric preset on square uint8 crops (one thread)")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of *.JPEG photos for --presets")
    ap.add_argument("--size", type=int, default=224, help="crop side in pixels for --presets (default 224)")
    ap.add_argument("--batch", type=int, default=0, help="with --presets: also time inception_aug.batch on a "
                                                         "batch of this size")
    ap.add_argument("--device", default="cpu", help="device for --batch (cpu, cuda, ...)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    if args.presets:
        res = preset_speed(args.data, args.size, args.quick, args.batch, args.device)
        print_preset_speed(res)
        return res
    if args.stages:
        images = load_sets(24 if args.quick else None)["imagenet"]
        stages = breakdown(images, args.repeats or (3 if args.quick else 7))
        print(json.dumps(stages))
        print("\n| `paper` stage (same draws, CPU ms / image) | ms |\n| --- | ---: |")
        for k, v in stages.items():
            print(f"| {k} | {v:.3f} |")
        return stages
    if args.alternatives:
        images = load_sets(24 if args.quick else 60)["imagenet"]
        alt = alternatives(images, args.repeats or 3)
        print(json.dumps(alt, indent=1))
        for group, rows in alt.items():
            print(f"\n| {group} | CPU ms / image (or as named) |\n| --- | ---: |")
            for k, v in rows.items():
                print(f"| {k} | {v:.3f} |")
        return alt
    n, repeats = (24, 3) if args.quick else (None, 7)
    repeats = args.repeats or repeats
    sets = load_sets(n)
    result = {
        "setup": {"threads": 1, "repeats": repeats, "images": {k: len(v) for k, v in sets.items()},
                  "python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__,
                  "torch": torch.__version__, "simplejpeg": simplejpeg.__version__,
                  "machine": platform.machine(), "quick": args.quick, "clock": args.clock,
                  "region_decode": region_decode_status()},
        "sets": {},
    }
    for set_name, images in sets.items():
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        res = measure(images, pipelines(), repeats, clock)
        # full size, accurate IDCT (the fast-IDCT decoder is the baseline of the fast_dct row only)
        dec = {k: v["images_per_s"] for k, v in res.items() if k.startswith("decode only") and "fastdct" not in k}
        fastest = max(dec, key=dec.get)
        ours = res["ours: paper (howard)"]["images_per_s"]
        ratios = {"fastest_decoder": fastest}
        if "albumentations 2.0.8" in res:
            alb = res["albumentations 2.0.8"]["images_per_s"]
            ratios["paper_vs_albumentations"] = ours / alb
            ratios["paper_clamp_final_vs_albumentations"] = res["ours: paper (howard, clamp=final)"]["images_per_s"] / alb
            ratios["paper_colorjitter_vs_albumentations"] = res["ours: paper crop + colorjitter"]["images_per_s"] / alb
        ours_u8 = res["ours: paper (howard), tensor_uint8"]["images_per_s"]
        if "albumentations 2.0.8" in res:
            ratios["paper_uint8_vs_albumentations"] = ours_u8 / res["albumentations 2.0.8"]["images_per_s"]
            alb_sj = res["albumentations 2.0.8 (simplejpeg decode)"]["images_per_s"]
            ratios["paper_vs_albumentations_simplejpeg"] = ours / alb_sj
            ratios["paper_uint8_vs_albumentations_simplejpeg"] = ours_u8 / alb_sj
        ratios["paper_vs_fastest_decode"] = ours / dec[fastest]
        ratios["paper_uint8_vs_fastest_decode"] = ours_u8 / dec[fastest]
        ratios["paper_fast_dct_vs_simplejpeg_fastdct"] = (res["ours: paper (howard), fast_dct"]["images_per_s"]
                                                          / res["decode only: simplejpeg fastdct+fastupsample"]["images_per_s"])
        ratios["paper_region_vs_whole_file_decode"] = ours / res["ours: paper (howard), whole-file decode"]["images_per_s"]
        ratios["paper_no_colour_vs_fastest_decode"] = res["ours: paper crop, no colour"]["images_per_s"] / dec[fastest]
        result["sets"][set_name] = {"pipelines": res, "ratios": ratios,
                                    "breakdown_ms": breakdown(images, repeats)}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print()
    print("| pipeline | " + " | ".join(f"{s} (img/s)" for s in sets) + " |")
    print("| --- | " + " | ".join("---:" for _ in sets) + " |")
    for name in result["sets"]["imagenet"]["pipelines"]:
        cells = [f"{result['sets'][s]['pipelines'][name]['images_per_s']:.0f}" for s in sets]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for key in result["sets"]["imagenet"]["ratios"]:
        if key == "fastest_decoder":
            continue
        cells = [f"{result['sets'][s]['ratios'][key]:.2f}x" for s in sets]
        print(f"| ratio {key} | " + " | ".join(cells) + " |")
    print()
    print("| `paper` stage (same draws, CPU ms / image) | " + " | ".join(sets) + " |")
    print("| --- | " + " | ".join("---:" for _ in sets) + " |")
    for key in result["sets"]["imagenet"]["breakdown_ms"]:
        cells = [f"{result['sets'][s]['breakdown_ms'].get(key, float('nan')):.3f}" for s in sets]
        print(f"| {key} | " + " | ".join(cells) + " |")
    return result


if __name__ == "__main__":
    main()
