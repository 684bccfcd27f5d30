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
- engine fp32 / bf16: ``inception_eval.engine.score(..., ["paper144"], compile="off")``: DataLoader
  worker(s) cut the views (one resize per scale), packed batches of ``--max-batch`` views (default
  the engine's: 16 on CPU), channels_last, autocast for bf16, eager. No result cache.
- engine bf16 auto: the engine's default compile rule (``compile="auto"``) on a run long enough for
  it: the photos repeated until the run's eager time, as the first repeat's "engine bf16" row
  measured it, is 1.2x ``constants.AUTO_COMPILE_MIN_EAGER_SECONDS`` (``--auto-images`` to choose). Its s / image leaves out the one-time compile, which is
  reported apart per repeat (the first repeat compiles into an empty Inductor cache, the next ones
  hit it) together with s / image including it.
- GPU rows (only when ``torch.cuda.is_available()``): the hand-tuned loop under bf16 autocast on
  CUDA and the engine on ``cuda`` in fp16 and bf16 (default CUDA batch, eager).

Reported per method: seconds per photo and views per second (medians over ``--repeats`` passes;
for naive, the median over photos of one pass per repeat), and the share of wall time spent
outside the model's forward calls. Ratios are naive time / method time, measured in the same run.
Targets: engine fp32 >= 2.5x naive, bf16 >= 5x naive, outside-model <= 10%.
Also printed: top-1 agreement of engine bf16 vs fp32 and of engine fp32 vs naive (the naive loop
uses PIL's resize, the engine OpenCV's, so they are close but not equal), and the machine load
(``os.getloadavg``) before and after: the machine may be shared.

    python benchmarks/eval_throughput.py --quick     # 2 photos, 1 repeat (~1-2 min on 2 cores)
    python benchmarks/eval_throughput.py             # 6 photos, 2 repeats (~5 min on 2 idle cores)
    python benchmarks/eval_throughput.py --compile   # + forced torch.compile rows (~2 min more)
    python benchmarks/eval_throughput.py --images 4 --repeats 2 --threads 1   # shared 2-core machine
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from inception_eval import data, engine  # noqa: E402
from inception_eval.constants import AUTO_COMPILE_MIN_EAGER_SECONDS  # noqa: E402
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


def run_tuned(model: torch.nn.Module, paths: list[str], chunk: int = 16, device: str = "cpu") -> dict:
    """The hand-tuned loop: PIL views (:func:`tuned_crops`), one uint8 NHWC stack whose NCHW view is
    already channels_last, normalised in torch, chunks of ``chunk`` views under bf16 autocast."""
    model = model.to(device=device, memory_format=torch.channels_last)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    dev_type = torch.device(device).type
    per_image, model_s, probs = [], 0.0, []
    for p in paths:
        t0 = time.perf_counter()
        im = Image.open(p).convert("RGB")
        u8 = torch.from_numpy(np.stack([np.asarray(c) for c in tuned_crops(im)])).permute(0, 3, 1, 2)
        x = u8.to(device).float().div_(255.0).sub_(mean).div_(std)  # keeps the channels_last strides
        tm = time.perf_counter()
        with torch.inference_mode(), torch.autocast(dev_type, dtype=torch.bfloat16):
            logits = torch.cat([model(x[i:i + chunk]) for i in range(0, len(x), chunk)])
        probs.append(torch.softmax(logits.float(), 1).mean(0).cpu().numpy())  # .cpu() waits for a GPU
        model_s += time.perf_counter() - tm
        per_image.append(time.perf_counter() - t0)
    return {"per_image": per_image, "seconds": sum(per_image), "model_seconds": model_s,
            "views": 144 * len(paths), "probs": np.stack(probs)}


def run_engine(model: torch.nn.Module, ds, precision: str, max_batch: int | None, workers: int,
               compile: bool | str = "off", device: str = "cpu") -> dict:
    """One ``engine.score`` pass; ``compile_seconds``: the one-time compile (the first compiled
    call less one steady batch), 0 when the run did not compile."""
    r = engine.score(model, ds, ["paper144"], precision=precision, max_batch=max_batch, workers=workers,
                     progress=False, cache_dir=None, crop_size=CROP, compile=compile, device=device)
    st = r.provenance.settings
    out = {"seconds": r.stats.seconds, "model_seconds": r.stats.model_seconds, "views": r.stats.forward_views,
           "nominal": 144 * len(ds), "probs": r.scores.probs[("paper144", "main")], "max_batch": st["max_batch"],
           "compiled": bool(st["compile"]), "compile_reason": st["compile_reason"], "compile_seconds": 0.0}
    first = st.get("compile_seconds")
    if out["compiled"] and first:
        batches = math.ceil(out["views"] / st["max_batch"])
        per_batch = (out["model_seconds"] - first) / max(batches - 1, 1)
        out["compile_seconds"] = max(first - per_batch, 0.0)
    return out


def _summary(name: str, rs: list[dict], n: int) -> dict:
    """Median s / image of a method's repeats (per photo for the loops; less the compile for the engine)."""
    if "per_image" in rs[0]:
        spi = statistics.median([t for r in rs for t in r["per_image"]])
    else:
        spi = statistics.median([(r["seconds"] - r.get("compile_seconds", 0.0)) / r["images"] for r in rs])
    outside = statistics.median([1 - (r["model_seconds"] - r.get("compile_seconds", 0.0))
                                 / (r["seconds"] - r.get("compile_seconds", 0.0)) for r in rs])
    row = {"seconds_per_image": spi, "views_per_second": rs[0]["views"] / rs[0].get("images", n) / spi,
           "forward_views_per_image": rs[0]["views"] / rs[0].get("images", n), "outside_model_share": outside,
           "raw_seconds_per_image": [r.get("per_image", r["seconds"] / r.get("images", n)) for r in rs]}
    if any(r.get("compiled") for r in rs):
        row["compile_seconds"] = [r["compile_seconds"] for r in rs]
        row["seconds_per_image_incl_compile"] = [r["seconds"] / r["images"] for r in rs]
    if "compile_reason" in rs[0]:
        row["compile_decision"] = rs[0]["compile_reason"]
    return row


def _auto_dataset(ds, images: int | None, eager_bf16: dict):
    """The benchmark photos repeated to ``images``; default: enough for 1.2x the auto-compile
    threshold at ``eager_bf16``'s (an eager engine bf16 run of ``ds``) model seconds per view."""
    n = len(ds)
    if images is None:
        per_view = eager_bf16["model_seconds"] / eager_bf16["views"]
        images = math.ceil(1.2 * AUTO_COMPILE_MIN_EAGER_SECONDS / (per_view * eager_bf16["views"] / n))
    return ds.subset([i % n for i in range(max(images, 1))])


def _timed_runs(args, ds, base) -> tuple[dict, dict]:
    """{method: [one result per repeat]} timed interleaved, and the untimed --compile warm-ups (s)."""
    auto_ds = None
    runs: dict[str, list[dict]] = {"naive": [], "hand-tuned loop bf16": [], "engine fp32": [], "engine bf16": [],
                                   "engine bf16 auto": []}
    compiled, warmups = {}, {}
    if args.compile:  # one model object per precision, so the warm-up's compiled graph is reused
        for prec in ("fp32", "bf16"):
            compiled[prec] = copy.deepcopy(base)
            runs[f"engine {prec} --compile"] = []
            warmups[prec] = run_engine(compiled[prec], ds.subset([0]), prec, args.max_batch, args.workers,
                                       compile="on")["seconds"]
    naive_model, tuned_model = copy.deepcopy(base), copy.deepcopy(base)
    for _ in range(args.repeats):  # interleaved, so a change in machine load hits all methods alike
        runs["naive"].append(run_naive(naive_model, ds.paths))
        runs["hand-tuned loop bf16"].append(run_tuned(tuned_model, ds.paths))
        runs["engine fp32"].append(run_engine(copy.deepcopy(base), ds, "fp32", args.max_batch, args.workers))
        runs["engine bf16"].append(run_engine(copy.deepcopy(base), ds, "bf16", args.max_batch, args.workers))
        auto_ds = auto_ds or _auto_dataset(ds, args.auto_images, runs["engine bf16"][0])
        runs["engine bf16 auto"].append(dict(run_engine(copy.deepcopy(base), auto_ds, "bf16", args.max_batch,
                                                        args.workers, compile="auto"), images=len(auto_ds)))
        for prec, m in compiled.items():
            runs[f"engine {prec} --compile"].append(run_engine(m, ds, prec, args.max_batch, args.workers,
                                                               compile="on"))
    for name, rs in runs.items():
        for r in rs:
            r.setdefault("images", len(ds))
    return runs, warmups


def _gpu_rows(args, ds, base) -> dict | None:
    """GPU figures (hand-tuned loop bf16 vs engine fp16 / bf16 on cuda), or None without a device."""
    if not torch.cuda.is_available():
        return None
    runs: dict[str, list[dict]] = {"cuda hand-tuned loop bf16": [], "cuda engine fp16": [], "cuda engine bf16": []}
    tuned = copy.deepcopy(base)
    run_tuned(tuned, ds.paths[:1], device="cuda")  # CUDA context and cuDNN autotune, untimed
    for _ in range(args.repeats):
        runs["cuda hand-tuned loop bf16"].append(run_tuned(tuned, ds.paths, device="cuda"))
        for prec in ("fp16", "bf16"):
            r = run_engine(copy.deepcopy(base), ds, prec, None, args.workers, device="cuda")
            runs[f"cuda engine {prec}"].append(dict(r, images=len(ds)))
    rows = {name: _summary(name, rs, len(ds)) for name, rs in runs.items()}
    ref = rows["cuda hand-tuned loop bf16"]["seconds_per_image"]
    for r in rows.values():
        r["speedup_vs_hand_tuned"] = ref / r["seconds_per_image"]
    return {"device": torch.cuda.get_device_name(0), "methods": rows}


def _agreement(runs: dict, n: int) -> dict:
    """Top-1 agreement (share of the first ``n`` photos) between methods' per-image probabilities."""
    first = {k: v[0]["probs"][:n].argmax(1) for k, v in runs.items()}
    out = {"top1_agreement_bf16_vs_fp32": float((first["engine fp32"] == first["engine bf16"]).mean()),
           "top1_agreement_engine_vs_naive": float((first["engine fp32"] == first["naive"]).mean()),
           "top1_agreement_engine_bf16_vs_hand_tuned": float(
               (first["engine bf16"] == first["hand-tuned loop bf16"]).mean()),
           "top1_agreement_bf16_auto_vs_fp32": float((first["engine bf16 auto"] == first["engine fp32"]).mean())}
    for prec in ("fp32", "bf16"):
        if f"engine {prec} --compile" in first:
            out[f"top1_agreement_compiled_vs_eager_{prec}"] = float(
                (first[f"engine {prec} --compile"] == first[f"engine {prec}"]).mean())
    return out


def _print_tables(result: dict) -> None:
    r_auto = result["methods"]["engine bf16 auto"]
    print(f"paper GoogLeNet 224 px, paper144, {result['images']} photos x {result['repeats']} repeats "
          f"(engine bf16 auto: {result['auto_images']} photos, those repeated), engine max batch "
          f"{result['max_batch']}, {result['torch_threads']} torch threads, load avg "
          f"{result['load_avg_before'][0]:.1f} -> {result['load_avg_after'][0]:.1f}")
    print()
    print("| method | s / image | views / s | forward views / image | outside model | vs naive | vs hand-tuned |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in result["methods"].items():
        print(f"| {name} | {r['seconds_per_image']:.2f} | {r['views_per_second']:.1f} | "
              f"{r['forward_views_per_image']:.0f} | {100 * r['outside_model_share']:.1f}% | "
              f"{r['speedup_vs_naive']:.2f}x | {r['speedup_vs_hand_tuned']:.2f}x |")
    print()
    print(f"engine bf16 auto: {r_auto['compile_decision']}; one-time compile per repeat (s, left out of its "
          f"s / image): {', '.join(f'{v:.1f}' for v in r_auto.get('compile_seconds', []))}; s / image including "
          f"it: {', '.join(f'{v:.2f}' for v in r_auto.get('seconds_per_image_incl_compile', []))}")
    print("top-1 agreement: " + ", ".join(f"{k[len('top1_agreement_'):]} {v:.0%}" for k, v in result.items()
                                          if k.startswith("top1_agreement_")))
    if result.get("compile_warmup_seconds"):
        print("--compile rows: untimed warm-up on one photo (s): "
              + ", ".join(f"{k} {v:.0f}" for k, v in result["compile_warmup_seconds"].items()))
    gpu = result.get("gpu")
    if gpu is None:
        print("no CUDA device: GPU rows skipped")
        return
    print()
    print(f"GPU: {gpu['device']}")
    print()
    print("| method | s / image | views / s | outside model | vs hand-tuned |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in gpu["methods"].items():
        print(f"| {name} | {r['seconds_per_image']:.3f} | {r['views_per_second']:.0f} | "
              f"{100 * r['outside_model_share']:.1f}% | {r['speedup_vs_hand_tuned']:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 photos, 1 repeat")
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--auto-images", type=int, default=None,
                    help="photos in the engine bf16 auto run (the --images photos repeated; default: enough "
                    "for the bf16 auto-compile threshold)")
    ap.add_argument("--max-batch", type=int, default=None, help="engine views per forward (default: the engine's)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--data", default=str(REPO / ".." / "shared" / "data" / "imagenet-samples"))
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice); 1 avoids "
                    "OpenMP barrier stalls when other processes share the cores")
    ap.add_argument("--compile", action="store_true",
                    help="also time the engine with compile forced on (fp32 and bf16); the one-time compile is "
                    "done in an untimed warm-up on one photo and reported apart")
    ap.add_argument("--inductor-cache", default=None,
                    help="TORCHINDUCTOR_CACHE_DIR for this run (default: a new empty folder, so the first "
                    "compile is cold)")
    ap.add_argument("--json", help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.images, args.repeats = 2, 1
    with tempfile.TemporaryDirectory(prefix="eval-throughput-inductor-") as tmp:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = args.inductor_cache or tmp
        result = measure(args)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print()
    _print_tables(result)
    return 0


def measure(args: argparse.Namespace) -> dict:
    """Every row of the benchmark as a JSON-able dict (see the module docstring)."""
    ds = data.open_dataset(args.data).subset(range(args.images))
    load_before = os.getloadavg()
    torch.manual_seed(0)
    base = googlenet("paper", num_classes=1000, aux_logits=False).eval()
    runs, warmups = _timed_runs(args, ds, base)
    gpu = _gpu_rows(args, ds, base)
    load_after = os.getloadavg()
    n = len(ds)
    rows = {name: _summary(name, rs, n) for name, rs in runs.items()}
    naive_spi = rows["naive"]["seconds_per_image"]
    tuned_spi = rows["hand-tuned loop bf16"]["seconds_per_image"]
    for r in rows.values():
        r["speedup_vs_naive"] = naive_spi / r["seconds_per_image"]
        r["speedup_vs_hand_tuned"] = tuned_spi / r["seconds_per_image"]
    result = {
        "images": n, "repeats": args.repeats, "auto_images": runs["engine bf16 auto"][0]["images"],
        "max_batch": runs["engine fp32"][0]["max_batch"], "workers": args.workers,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "load_avg_before": load_before, "load_avg_after": load_after, "methods": rows, **_agreement(runs, n),
        "targets": {"engine fp32 >= 2.5x naive": rows["engine fp32"]["speedup_vs_naive"] >= 2.5,
                    "engine bf16 >= 5x naive": rows["engine bf16"]["speedup_vs_naive"] >= 5.0,
                    "engine bf16 auto >= 1.3x hand-tuned": rows["engine bf16 auto"]["speedup_vs_hand_tuned"] >= 1.3,
                    "outside model <= 10% (fp32)": rows["engine fp32"]["outside_model_share"] <= 0.10,
                    "outside model <= 10% (bf16)": rows["engine bf16"]["outside_model_share"] <= 0.10},
        "gpu": gpu,
    }
    if warmups:
        result["compile_warmup_seconds"] = warmups
    return result


if __name__ == "__main__":
    sys.exit(main())
