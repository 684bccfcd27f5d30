"""Inference throughput of the bundled GoogLeNet (paper variant, 224 px by default).

Configurations, all through ``prepare_for_inference``:
  fp32 contiguous (NCHW) | fp32 channels_last | bf16 autocast + channels_last
at batch 32 and 144 (the paper's 144-crop protocol scores one image per 144-view batch).
Reports the median images/s over --repeats timed forward passes (after --warmup untimed ones),
timed round-robin (each round runs every configuration once), the ratio against fp32 contiguous
as the median of same-round ratios, and the largest absolute difference between bf16 and fp32
softmax probabilities over the batch.

Inputs are real photos from ../shared/data/imagenet-samples (centre-cropped, ImageNet-normalised)
when present, random normal noise otherwise. Weights: --checkpoint, else the variant's own random
initialisation (seed 0). Random weights give flat probabilities (max ~0.001), which would make the
bf16 probability error look tiny, so without a checkpoint the classifier is rescaled once so that
the fp32 logits have a standard deviation of --logit-std (default 4, like a trained ImageNet model;
0 keeps the raw init); the largest fp32 probability is reported for scale.

    python benchmarks/model_throughput.py            # full: batch 32 and 144, 5 repeats
    python benchmarks/model_throughput.py --quick    # seconds: batch 4 and 8, 2 repeats
    python benchmarks/model_throughput.py --compile-cost --threads 1   # compile break-even (~10 min)

``--compile-cost`` measures what ``constants.AUTO_COMPILE_MIN_EAGER_SECONDS`` is derived from: for fp32 and bf16
(channels_last) at each ``--batches`` size (default 16 32), in a fresh child process each, the
one-time ``torch.compile`` cost (first compiled call minus one steady compiled batch) with an empty
Inductor cache ("cold") and again in a new process with the cache that run filled ("warm"), and the
steady-state seconds per view of eager and compiled (median of --repeats interleaved rounds). The
break-even is compile cost / (eager - compiled seconds per view): the forward views a run needs
before compiling pays; times the eager seconds per view, the eager seconds (the constant's unit).

Prints JSON, then a Markdown table. The machine may be shared: numbers are medians, ratios are
within-run; set --threads to the cores you actually have (default 2).
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from inception_eval.models import googlenet, load_checkpoint, prepare_for_inference  # noqa: E402

SAMPLES = REPO / ".." / "shared" / "data" / "imagenet-samples"
CONFIGS = (("fp32 contiguous", "fp32", False), ("fp32 channels_last", "fp32", True),
           ("bf16 channels_last", "bf16", True))


def load_inputs(n: int, size: int) -> tuple[torch.Tensor, str]:
    """(n, 3, size, size) float32 normalised batch: real photos (repeated if fewer) or noise."""
    files = sorted(SAMPLES.glob("*.JPEG")) + sorted(SAMPLES.glob("*.jpg")) if SAMPLES.is_dir() else []
    if files:
        try:
            from PIL import Image
            imgs = []
            for f in files[:n]:
                im = Image.open(f).convert("RGB")
                w, h = im.size
                s = min(w, h)
                im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((size, size), Image.BILINEAR)
                imgs.append(np.asarray(im, dtype=np.float32) / 255.0)
            arr = np.stack(imgs)
            arr = (arr - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
            x = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
            reps = -(-n // x.shape[0])
            return x.repeat(reps, 1, 1, 1)[:n].contiguous(), f"{min(n, len(files))} imagenet-samples photos"
        except Exception as e:  # unreadable data must not stop a benchmark
            print(f"warning: could not read photos ({e}); using noise", file=sys.stderr)
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, size, size, generator=g), "random normal noise"


def time_interleaved(models: dict, x: torch.Tensor, warmup: int, repeats: int):
    """Round-robin timing: each round times every configuration once, so load changes on a shared
    machine hit all configurations alike. Returns ({name: [images/s per round]}, {name: probs})."""
    for im in models.values():
        for _ in range(warmup):
            im(x)
    rates: dict[str, list[float]] = {name: [] for name in models}
    probs = {}
    for _ in range(repeats):
        for name, im in models.items():
            t0 = time.perf_counter()
            out = im(x)
            rates[name].append(x.shape[0] / (time.perf_counter() - t0))
            probs[name] = torch.softmax(out, 1)
    return rates, probs


def _compile_child(precision: str, batch: int, size: int, threads: int, repeats: int) -> dict:
    """In this (fresh) process: one-time compile seconds and steady s/view, eager vs compiled."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    base = googlenet("paper").eval()
    x, _ = load_inputs(batch, size)
    eager = prepare_for_inference(copy.deepcopy(base), precision=precision)
    compiled = prepare_for_inference(copy.deepcopy(base), precision=precision, compile=True)
    t0 = time.perf_counter()
    compiled(x)
    first = time.perf_counter() - t0
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    eager(x)
    for _ in range(repeats):
        for name, im in (("eager", eager), ("compiled", compiled)):
            t0 = time.perf_counter()
            im(x)
            times[name].append((time.perf_counter() - t0) / batch)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"first_call_s": first, "compile_s": first - med["compiled"] * batch,
            "eager_s_per_view": med["eager"], "compiled_s_per_view": med["compiled"],
            "raw_s_per_view": {k: [round(t, 5) for t in v] for k, v in times.items()}}


def compile_cost(batches: list[int], size: int, threads: int, repeats: int) -> list[dict]:
    """Cold then warm child runs per (precision, batch); see the module docstring."""
    import os
    import subprocess
    import tempfile

    rows = []
    for precision in ("bf16", "fp32"):
        for b in batches:
            with tempfile.TemporaryDirectory(prefix="inductor-cost-") as cache:
                env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
                row = {"precision": precision, "batch": b, "load_avg_before": os.getloadavg()}
                for phase in ("cold", "warm"):
                    cmd = [sys.executable, __file__, "--_compile-child", precision, str(b), str(size),
                           str(threads), str(repeats)]
                    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
                    row[phase] = json.loads(out.strip().splitlines()[-1])
                row["load_avg_after"] = os.getloadavg()
                saving = statistics.median([row[p]["eager_s_per_view"] - row[p]["compiled_s_per_view"]
                                            for p in ("cold", "warm")])
                row["saving_s_per_view"] = saving
                row["break_even_views"] = {p: (row[p]["compile_s"] / saving if saving > 0 else None)
                                           for p in ("cold", "warm")}
                eager = statistics.median([row[p]["eager_s_per_view"] for p in ("cold", "warm")])
                row["break_even_eager_seconds"] = {p: (None if v is None else v * eager)
                                                   for p, v in row["break_even_views"].items()}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def _print_compile_cost(rows: list[dict], threads: int) -> None:
    print(f"torch.compile cost, paper GoogLeNet 224 px, channels_last, {threads} threads, torch {torch.__version__}")
    print()
    print("| precision | batch | compile cold s | compile warm s | eager s/view | compiled s/view | saving | "
          "break-even views cold | warm | break-even eager s cold |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        c, w = r["cold"], r["warm"]
        e = statistics.median([c["eager_s_per_view"], w["eager_s_per_view"]])
        k = statistics.median([c["compiled_s_per_view"], w["compiled_s_per_view"]])
        be = {p: ("never" if v is None else f"{v:,.0f}") for p, v in r["break_even_views"].items()}
        cold = r["break_even_views"]["cold"]
        secs = "never" if cold is None else f"{cold * e:.0f}"
        print(f"| {r['precision']} | {r['batch']} | {c['compile_s']:.1f} | {w['compile_s']:.1f} | {e:.4f} | "
              f"{k:.4f} | {100 * (1 - k / e):.0f}% | {be['cold']} | {be['warm']} | {secs} |")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_compile-child"]:
        prec, b, size, threads, repeats = argv[1], *map(int, argv[2:6])
        print(json.dumps(_compile_child(prec, b, size, threads, repeats)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compile-cost", action="store_true",
                    help="measure the torch.compile break-even instead (cold/warm compile, eager vs compiled)")
    ap.add_argument("--quick", action="store_true", help="batch 4 and 8, 1 warm-up, 2 repeats")
    ap.add_argument("--variant", default="paper", choices=("paper", "torchvision"))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="default 32 144 (quick: 4 8)")
    ap.add_argument("--repeats", type=int, default=None, help="timed passes per config (default 5, quick 2)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed passes per config (default 2, quick 1)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--checkpoint", default=None, help="weights to use (default: random init, seed 0)")
    ap.add_argument("--logit-std", type=float, default=4.0,
                    help="without --checkpoint: rescale fc so fp32 logits have this std (0: raw init)")
    ap.add_argument("--json-out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.compile_cost:
        rows = compile_cost(args.batches or [16, 32], args.size, args.threads, args.repeats or 7)
        report = {"benchmark": "compile_cost", "threads": args.threads, "torch": str(torch.__version__),
                  "command": "python benchmarks/model_throughput.py " + " ".join(argv), "results": rows}
        print(json.dumps(report, indent=2))
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")
        print()
        _print_compile_cost(rows, args.threads)
        return 0
    batches = args.batches or ([4, 8] if args.quick else [32, 144])
    repeats = args.repeats or (2 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    torch.set_num_threads(args.threads)

    if args.checkpoint:
        model, info = load_checkpoint(args.checkpoint)
        weights = f"{args.checkpoint} (sha256 {info.sha256[:12]})"
    else:
        torch.manual_seed(0)
        model = googlenet(args.variant)
        weights = f"random init ({args.variant}, seed 0)"
    model.eval()
    x_all, source = load_inputs(max(batches), args.size)
    if not args.checkpoint and args.logit_std > 0:
        torch.set_num_threads(args.threads)
        with torch.inference_mode():
            std = model(x_all[: min(8, len(x_all))]).std().item()
            model.fc.weight.mul_(args.logit_std / std)
        weights += f", fc rescaled x{args.logit_std / std:.3g} so logits have std {args.logit_std:g}"

    # One copy per configuration: prepare_for_inference changes the memory format in place.
    models = {name: prepare_for_inference(copy.deepcopy(model), device="cpu", precision=precision,
                                          channels_last=cl) for name, precision, cl in CONFIGS}
    base_name = CONFIGS[0][0]
    results = []
    for b in batches:
        x = x_all[:b]
        rates, probs = time_interleaved(models, x, warmup, repeats)
        row = {"batch": b, "configs": {}}
        for name, r in rates.items():
            row["configs"][name] = {
                "images_per_s_median": statistics.median(r),
                "images_per_s_all": [round(v, 2) for v in r],
                "ratio_vs_fp32_contiguous": statistics.median(r) / statistics.median(rates[base_name]),
                # Same-round ratios are more robust to drifting load than a ratio of medians.
                "ratio_median_of_rounds": statistics.median(a / b_ for a, b_ in zip(r, rates[base_name])),
            }
        row["max_abs_prob_diff_bf16_vs_fp32"] = (probs["bf16 channels_last"] - probs[base_name]).abs().max().item()
        row["max_abs_prob_diff_channels_last_vs_contiguous"] = (
            probs["fp32 channels_last"] - probs[base_name]).abs().max().item()
        row["max_prob_fp32"] = probs[base_name].max().item()
        row["top1_agreement_bf16_vs_fp32"] = (
            probs["bf16 channels_last"].argmax(1) == probs[base_name].argmax(1)).float().mean().item()
        results.append(row)

    report = {"benchmark": "model_throughput", "variant": model.variant, "input_size": args.size,
              "weights": weights, "inputs": source, "threads": args.threads, "repeats": repeats, "warmup": warmup,
              "torch": str(torch.__version__), "cpu": platform.processor() or platform.machine(),
              "command": "python benchmarks/model_throughput.py" + ("".join(" " + a for a in argv)),
              "results": results}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")

    print()
    print(f"GoogLeNet ({model.variant}) {args.size}px, {weights}, {source}, {args.threads} threads, "
          f"median of {repeats} (after {warmup} warm-up), torch {torch.__version__}")
    print()
    print("| batch | config | images/s (median) | vs fp32 contiguous (same-round median) | max abs prob diff vs fp32 |")
    print("|---:|---|---:|---:|---:|")
    for row in results:
        for name, c in row["configs"].items():
            diff = {"fp32 contiguous": "0 (reference)",
                    "fp32 channels_last": f"{row['max_abs_prob_diff_channels_last_vs_contiguous']:.1e}",
                    "bf16 channels_last": f"{row['max_abs_prob_diff_bf16_vs_fp32']:.1e}"}[name]
            print(f"| {row['batch']} | {name} | {c['images_per_s_median']:.1f} | {c['ratio_median_of_rounds']:.2f}x | {diff} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
