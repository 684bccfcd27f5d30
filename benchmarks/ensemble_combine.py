"""Benchmark: combine stored per-image probabilities into every ensemble configuration.

Times what ``inception-eval compare`` does after scoring (errors, 95% Wilson and paired intervals,
ties, NLL/ECE/Brier; ``--plain``: errors alone): all 2**7 - 1 = 127 subsets of 7 members x 3
protocols over 50,000 images x 1,000 classes of synthetic probabilities stored as the scoring
engine's result store keeps them (``inception_eval/store.py``: one folder per member, headerless
little-endian float32 C-order ``probs.<k>.f32`` per protocol, (N, C)), read in row chunks. Target:
< 10 s on one core, peak RSS < 4 GB.

Synthetic data: logits = shared per-image noise (what all members find hard) + per-member noise,
with a boost on the true class tuned so a single member has ~70% top-1; probabilities = softmax.

The combine runs in a fresh child process pinned to one BLAS/OpenMP thread, so its peak RSS
(``resource.getrusage``) excludes data generation. As a ratio measured in the same run, the child
also times the plain dense way (mean of the members' full arrays, then the rank of the true class)
for a few subsets of one protocol and extrapolates it to all configurations.

    python benchmarks/ensemble_combine.py --quick        # 5,000 images, about a minute
    python benchmarks/ensemble_combine.py                # the target size (writes ~4.2 GB to --dir)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _write_f32_chunks(path: Path, chunks) -> None:
    """Headerless little-endian float32 rows, as the engine's store writes ``probs.<k>.f32``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for block in chunks:
            np.ascontiguousarray(block, dtype="<f4").tofile(f)


def _source(data: Path, p: int, m: int, images: int, classes: int):
    from inception_eval.ensemble import RawArrayFile

    return RawArrayFile(str(data / f"member{m}" / f"probs.{p}.f32"), (images, classes))


def generate(out: Path, *, images: int, classes: int, members: int, protocols: int, seed: int,
             boost: float, chunk: int = 2000) -> dict:
    """Write labels.npy and member{m}/probs.{p}.f32; return timing and accuracy of member 0."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, images)
    np.save(out / "labels.npy", labels)
    top1_hits = 0
    for p in range(protocols):
        for m in range(members):
            def chunks(p=p, m=m):
                nonlocal top1_hits
                for a in range(0, images, chunk):
                    b = min(images, a + chunk)
                    # same shared noise for every member/protocol of an image block: members agree
                    # on which images are hard; crops (protocols) reduce per-member noise a little.
                    shared = np.random.default_rng([seed, a]).standard_normal((b - a, classes), np.float32)
                    own = np.random.default_rng([seed, a, p, m]).standard_normal((b - a, classes), np.float32)
                    logits = shared + (0.12 - 0.01 * p) * own
                    logits[np.arange(b - a), labels[a:b]] += boost
                    logits *= 2.0
                    logits -= logits.max(1, keepdims=True)
                    np.exp(logits, out=logits)
                    logits /= logits.sum(1, keepdims=True)
                    if p == 0 and m == 0:
                        top1_hits += int((logits.argmax(1) == labels[a:b]).sum())
                    yield logits
            _write_f32_chunks(out / f"member{m}" / f"probs.{p}.f32", chunks())
    return {"generate_s": time.perf_counter() - t0, "member0_top1_acc_protocol0": top1_hits / images}


def combine_child(data: Path, *, members: int, protocols: int, repeats: int, dense_subsets: int,
                  plain: bool = False) -> dict:
    """Run in the child: time build_table + subset statistics for every protocol; dense reference.

    By default the statistics are what ``compare`` reports (errors, Wilson and paired intervals,
    ties, NLL/ECE/Brier); ``plain`` times the errors alone."""
    from inception_eval import ensemble as E
    from inception_eval.metrics import true_class_rank

    labels = np.load(data / "labels.npy")
    n = labels.shape[0]
    probe = data / "member0" / "probs.0.f32"
    classes = probe.stat().st_size // (4 * n)
    subsets = E.all_subsets(members)
    weights = E.subset_matrix(subsets, members)
    times, rows, errs = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out, nrows, base_wrong = [], 0, None
        for p in range(protocols):
            tab = E.build_table([[(_source(data, p, m, n, classes), 1.0)] for m in range(members)], labels,
                                gram=not plain)
            if plain:
                out.append(E.subset_errors(tab, weights))
            else:  # as compare does: intervals, paired intervals vs member 0 at protocol 0, ties, calibration
                if base_wrong is None:
                    base_wrong = E.image_ranks(tab, E.subset_matrix([(0,)], members)) >= np.array([1, 5])
                counts = E.subset_counts(tab, weights, reference_wrong=base_wrong, calibration=True)
                counts.error_intervals(), counts.change_intervals()
                out.append(counts.errors)
            nrows += tab.n_rows
            del tab
        times.append(time.perf_counter() - t0)
        rows.append(nrows)
        errs = out
    # dense reference on protocol 0: mean of full arrays read in chunks, rank of the true class
    picks = [subsets[i] for i in np.linspace(0, len(subsets) - 1, dense_subsets).round().astype(int)]
    t0 = time.perf_counter()
    dense = []
    for sub in picks:
        wrong = np.zeros(2, np.int64)
        for a in range(0, n, 2000):
            b = min(n, a + 2000)
            acc = sum(E.read_rows(_source(data, 0, m, n, classes), a, b).astype(np.float64) for m in sub) / len(sub)
            rank = true_class_rank(acc, labels[a:b])
            wrong += [(rank >= 1).sum(), (rank >= 5).sum()]
        dense.append(wrong / n)
    dense_s = (time.perf_counter() - t0) / len(picks)
    agree = all(np.allclose(dense[j], errs[0][:, subsets.index(sub)]) for j, sub in enumerate(picks))
    return {
        "combine_s_median": float(np.median(times)), "combine_s_all": times,
        "candidate_rows": rows[-1], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "dense_s_per_subset_protocol": dense_s,
        "dense_s_extrapolated": dense_s * len(subsets) * protocols,
        "dense_agrees": bool(agree),
        "top1_err_single_p0": float(errs[0][0, 0]), "top5_err_single_p0": float(errs[0][1, 0]),
        "top1_err_all_p0": float(errs[0][0, -1]), "top5_err_all_p0": float(errs[0][1, -1]),
        "subsets": len(subsets),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=50_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--members", type=int, default=7)
    ap.add_argument("--protocols", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dense-subsets", type=int, default=3)
    ap.add_argument("--boost", type=float, default=4.3, help="true-class logit boost (sets the accuracy)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="5,000 images, 2 repeats")
    ap.add_argument("--plain", action="store_true",
                    help="time the errors alone (no intervals, ties or calibration)")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the data (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON result here")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.repeats = 5_000, 2

    if args.child is not None:
        res = combine_child(args.child, members=args.members, protocols=args.protocols,
                            repeats=args.repeats, dense_subsets=args.dense_subsets, plain=args.plain)
        print(json.dumps(res))
        return 0

    if args.dir is not None:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="ens-bench-", dir=args.dir))
    try:
        gen = generate(data, images=args.images, classes=args.classes, members=args.members,
                       protocols=args.protocols, seed=args.seed, boost=args.boost)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        cmd = [sys.executable, __file__, "--child", str(data), "--members", str(args.members),
               "--protocols", str(args.protocols), "--repeats", str(args.repeats),
               "--dense-subsets", str(args.dense_subsets)] + (["--plain"] if args.plain else [])
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    result = {
        "images": args.images, "classes": args.classes, "members": args.members,
        "protocols": args.protocols, "repeats": args.repeats, "threads": 1, "plain": args.plain,
        "data_gb": args.images * args.classes * 4 * args.members * args.protocols / 1e9,
        **gen, **res,
        "speedup_vs_dense": res["dense_s_extrapolated"] / res["combine_s_median"],
        "target": "combine < 10 s, peak RSS < 4096 MB",
        "meets_target": res["combine_s_median"] < 10 and res["peak_rss_mb"] < 4096,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print()
    print("| images x classes | configs | combine s (median) | peak RSS MB | candidate rows | "
          "dense s (extrap.) | speed-up | generate s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.images:,} x {args.classes:,} | {res['subsets']} x {args.protocols} | "
          f"{res['combine_s_median']:.2f} | {res['peak_rss_mb']:.0f} | {res['candidate_rows']:,} | "
          f"{res['dense_s_extrapolated']:.1f} | {result['speedup_vs_dense']:.1f}x | {gen['generate_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
