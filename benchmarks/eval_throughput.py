"""Benchmark: the scoring engine against a hand-written naive 144-crop loop, same model, same photos.

Model: the paper GoogLeNet at 224 px, random init (seed 0), 1000 classes, main head.
Photos: the first ``--images`` photos of ``../shared/data/imagenet-samples`` (labels.csv order).

- naive: one photo at a time; PIL decode; for each of the paper's 144 views the whole photo is
  resized with PIL (bilinear) to the view's scale, the box cropped (the "whole square" resized to
  224), mirrored with PIL; the 144 crops go through the fp32 model in NCHW (contiguous) memory as
  one batch; softmax; mean.
- hand-tuned loop bf16: what a careful user writes with PIL (as torchvision's TenCrop users do):
  one PIL resize per scale, PIL crops and mirrors of it, one uint8 stack viewed as channels_last
  NCHW, normalised in torch, chunks of 16 views through the same model (channels_last) under bf16
  autocast. The engine's ratio to it (``vs hand-tuned``) is what the engine adds over good code.
- engine fp32 / bf16: ``inception_eval.engine.score(..., ["paper144"])``: DataLoader worker(s) cut
  the views (one resize per scale), packed batches of ``--max-batch`` views (default the
  engine's: 16 on CPU), channels_last,
  autocast for bf16. No result cache.

Reported per method: seconds per photo and views per second (medians over ``--repeats`` passes;
for naive, the median over photos of one pass per repeat), and the share of wall time spent
outside the model's forward calls. Ratios are naive time / method time, measured in the same run.
Targets: engine fp32 >= 2.5x naive, bf16 >= 5x naive, outside-model <= 10%.
Also printed: top-1 agreement of engine bf16 vs fp32 and of engine fp32 vs naive (the naive loop
uses PIL's resize, the engine OpenCV's, so they are close but not equal), and the machine load
(``os.getloadavg``) before and after: the machine may be shared.

    python benchmarks/eval_throughput.py --quick     # 2 photos, 1 repeat (~1-2 min on 2 cores)
    python benchmarks/eval_throughput.py             # 6 photos, 2 repeats (~5 min on 2 idle cores)
    python benchmarks/eval_throughput.py --compile   # + torch.compile rows (~2 min more)
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from inception_eval import data, engine  # noqa: E402
from inception_eval.models.googlenet import googlenet  # noqa: E402

MEAN = np.array(IMAGENET_MEAN, dtype=np.float32)
STD = np.array(IMAGENET_STD, dtype=np.float32)
SCALES = (256, 288, 320, 352)
CROP = 224


def naive_crops(im: Image.Image) -> list[Image.Image]:
    """The paper's 144 crops of a PIL image, written out plainly (one resize per crop)."""
    w, h = im.size
    out = []
    for s in SCALES:
        nw, nh = (s, int(round(h * s / w))) if w <= h else (int(round(w * s / h)), s)
        long = max(nw, nh)
        for off in (0, (long - s) // 2, long - s):
            sx, sy = (off, 0) if nw >= nh else (0, off)
            far = s - CROP
            boxes = [(0, 0), (far, 0), (0, far), (far, far), (far // 2, far // 2), None]
            for b in boxes:
                resized = im.resize((nw, nh), Image.BILINEAR)
                if b is None:
                    crop = resized.crop((sx, sy, sx + s, sy + s)).resize((CROP, CROP), Image.BILINEAR)
                else:
                    x, y = sx + b[0], sy + b[1]
                    crop = resized.crop((x, y, x + CROP, y + CROP))
                out += [crop, crop.transpose(Image.FLIP_LEFT_RIGHT)]
    return out


def run_naive(model: torch.nn.Module, paths: list[str]) -> dict:
    per_image, model_s, probs = [], 0.0, []
    for p in paths:
        t0 = time.perf_counter()
        im = Image.open(p).convert("RGB")
        crops = naive_crops(im)
        x = np.stack([np.asarray(c, dtype=np.float32) / 255.0 for c in crops])
        x = torch.from_numpy(((x - MEAN) / STD).transpose(0, 3, 1, 2).copy())
        tm = time.perf_counter()
        with torch.inference_mode():
            logits = model(x)
        model_s += time.perf_counter() - tm
        probs.append(torch.softmax(logits, 1).mean(0).numpy())
        per_image.append(time.perf_counter() - t0)
    return {"per_image": per_image, "seconds": sum(per_image), "model_seconds": model_s,
            "views": 144 * len(paths), "probs": np.stack(probs)}


def tuned_crops(im: Image.Image) -> list[Image.Image]:
    """The same 144 crops as :func:`naive_crops`, written the way a careful torchvision user does:
    one PIL resize per scale (not per crop), PIL crops of it, PIL mirror."""
    w, h = im.size
    out = []
    for s in SCALES:
        nw, nh = (s, int(round(h * s / w))) if w <= h else (int(round(w * s / h)), s)
        resized = im.resize((nw, nh), Image.BILINEAR)
        long, far = max(nw, nh), s - CROP
        for off in (0, (long - s) // 2, long - s):
            sx, sy = (off, 0) if nw >= nh else (0, off)
            crops = [resized.crop((sx + x, sy + y, sx + x + CROP, sy + y + CROP))
                     for x, y in ((0, 0), (far, 0), (0, far), (far, far), (far // 2, far // 2))]
            crops.append(resized.crop((sx, sy, sx + s, sy + s)).resize((CROP, CROP), Image.BILINEAR))
            for crop in crops:
                out += [crop, crop.transpose(Image.FLIP_LEFT_RIGHT)]
    return out


def run_tuned(model: torch.nn.Module, paths: list[str], chunk: int = 16) -> dict:
    """The hand-tuned loop: PIL views (:func:`tuned_crops`), one uint8 NHWC stack whose NCHW view is
    already channels_last, normalised in torch, chunks of ``chunk`` views under bf16 autocast."""
    model = model.to(memory_format=torch.channels_last)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    per_image, model_s, probs = [], 0.0, []
    for p in paths:
        t0 = time.perf_counter()
        im = Image.open(p).convert("RGB")
        u8 = torch.from_numpy(np.stack([np.asarray(c) for c in tuned_crops(im)])).permute(0, 3, 1, 2)
        x = u8.float().div_(255.0).sub_(mean).div_(std)  # keeps the channels_last strides
        tm = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            logits = torch.cat([model(x[i:i + chunk]) for i in range(0, len(x), chunk)])
        model_s += time.perf_counter() - tm
        probs.append(torch.softmax(logits.float(), 1).mean(0).numpy())
        per_image.append(time.perf_counter() - t0)
    return {"per_image": per_image, "seconds": sum(per_image), "model_seconds": model_s,
            "views": 144 * len(paths), "probs": np.stack(probs)}


def run_engine(model: torch.nn.Module, ds, precision: str, max_batch: int, workers: int,
               compile: bool = False) -> dict:
    r = engine.score(model, ds, ["paper144"], precision=precision, max_batch=max_batch, workers=workers,
                     progress=False, cache_dir=None, crop_size=CROP, compile=compile)
    return {"seconds": r.stats.seconds, "model_seconds": r.stats.model_seconds, "views": r.stats.forward_views,
            "nominal": 144 * len(ds), "probs": r.scores.probs[("paper144", "main")],
            "max_batch": r.provenance.settings["max_batch"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 photos, 1 repeat")
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=None, help="engine views per forward (default: the engine's)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--data", default=str(REPO / ".." / "shared" / "data" / "imagenet-samples"))
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice); 1 avoids "
                    "OpenMP barrier stalls when other processes share the cores")
    ap.add_argument("--compile", action="store_true",
                    help="also time the engine with torch.compile (fp32 and bf16); the one-time compile is "
                    "done in an untimed warm-up on one photo and reported apart")
    ap.add_argument("--json", help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.images, args.repeats = 2, 1
    ds = data.open_dataset(args.data).subset(range(args.images))
    load_before = os.getloadavg()
    torch.manual_seed(0)
    base = googlenet("paper", num_classes=1000, aux_logits=False).eval()
    naive_model = copy.deepcopy(base)            # contiguous NCHW fp32
    tuned_model = copy.deepcopy(base)            # channels_last inside run_tuned
    runs = {"naive": [], "hand-tuned loop bf16": [], "engine fp32": [], "engine bf16": []}
    compiled = {}
    compile_seconds = {}
    if args.compile:  # one model object per precision, so the warm-up's compiled graph is reused
        for prec in ("fp32", "bf16"):
            compiled[prec] = copy.deepcopy(base)
            runs[f"engine {prec} compiled"] = []
            t = time.perf_counter()
            run_engine(compiled[prec], ds.subset([0]), prec, args.max_batch, args.workers, compile=True)
            compile_seconds[prec] = time.perf_counter() - t
    for _ in range(args.repeats):  # interleaved, so a change in machine load hits all methods alike
        runs["naive"].append(run_naive(naive_model, ds.paths))
        runs["hand-tuned loop bf16"].append(run_tuned(tuned_model, ds.paths))
        runs["engine fp32"].append(run_engine(copy.deepcopy(base), ds, "fp32", args.max_batch, args.workers))
        runs["engine bf16"].append(run_engine(copy.deepcopy(base), ds, "bf16", args.max_batch, args.workers))
        for prec, m in compiled.items():
            runs[f"engine {prec} compiled"].append(run_engine(m, ds, prec, args.max_batch, args.workers, compile=True))
    load_after = os.getloadavg()

    n = len(ds)
    rows = {}
    for name, rs in runs.items():
        if name in ("naive", "hand-tuned loop bf16"):
            spi = statistics.median([t for r in rs for t in r["per_image"]])
        else:
            spi = statistics.median([r["seconds"] / n for r in rs])
        outside = statistics.median([1 - r["model_seconds"] / r["seconds"] for r in rs])
        rows[name] = {"seconds_per_image": spi, "views_per_second": rs[0]["views"] / n / spi,
                      "forward_views_per_image": rs[0]["views"] / n, "outside_model_share": outside,
                      "raw_seconds_per_image": [r.get("per_image", r["seconds"] / n) for r in rs]}
    naive_spi = rows["naive"]["seconds_per_image"]
    tuned_spi = rows["hand-tuned loop bf16"]["seconds_per_image"]
    for r in rows.values():
        r["speedup_vs_naive"] = naive_spi / r["seconds_per_image"]
        r["speedup_vs_hand_tuned"] = tuned_spi / r["seconds_per_image"]
    p32, p16, pn = (runs[k][0]["probs"] for k in ("engine fp32", "engine bf16", "naive"))
    result = {
        "images": n, "repeats": args.repeats, "max_batch": runs["engine fp32"][0]["max_batch"], "workers": args.workers,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "load_avg_before": load_before, "load_avg_after": load_after,
        "methods": rows,
        "top1_agreement_bf16_vs_fp32": float((p32.argmax(1) == p16.argmax(1)).mean()),
        "top1_agreement_engine_vs_naive": float((p32.argmax(1) == pn.argmax(1)).mean()),
        "top1_agreement_engine_bf16_vs_hand_tuned": float(
            (p16.argmax(1) == runs["hand-tuned loop bf16"][0]["probs"].argmax(1)).mean()),
        "targets": {"engine fp32 >= 2.5x naive": rows["engine fp32"]["speedup_vs_naive"] >= 2.5,
                    "engine bf16 >= 5x naive": rows["engine bf16"]["speedup_vs_naive"] >= 5.0,
                    "outside model <= 10% (fp32)": rows["engine fp32"]["outside_model_share"] <= 0.10,
                    "outside model <= 10% (bf16)": rows["engine bf16"]["outside_model_share"] <= 0.10},
    }
    if compiled:
        result["compile_warmup_seconds"] = compile_seconds
        result["targets"]["engine fp32 compiled >= 2.5x naive"] = rows["engine fp32 compiled"]["speedup_vs_naive"] >= 2.5
        result["targets"]["engine bf16 compiled >= 5x naive"] = rows["engine bf16 compiled"]["speedup_vs_naive"] >= 5.0
        for prec in compiled:
            pc = runs[f"engine {prec} compiled"][0]["probs"]
            pe = p32 if prec == "fp32" else p16
            result[f"top1_agreement_compiled_vs_eager_{prec}"] = float((pc.argmax(1) == pe.argmax(1)).mean())
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(f"paper GoogLeNet 224 px, paper144, {n} photos x {args.repeats} repeats, engine max batch "
          f"{result['max_batch']}, {torch.get_num_threads()} torch "
          f"threads, load avg {load_before[0]:.1f} -> {load_after[0]:.1f}")
    print()
    print("| method | s / image | views / s | forward views / image | outside model | vs naive | vs hand-tuned |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        print(f"| {name} | {r['seconds_per_image']:.2f} | {r['views_per_second']:.1f} | "
              f"{r['forward_views_per_image']:.0f} | {100 * r['outside_model_share']:.1f}% | "
              f"{r['speedup_vs_naive']:.2f}x | {r['speedup_vs_hand_tuned']:.2f}x |")
    if compiled:
        print()
        print("one-time compile (untimed warm-up on one photo, s): "
              + ", ".join(f"{k} {v:.0f}" for k, v in compile_seconds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
