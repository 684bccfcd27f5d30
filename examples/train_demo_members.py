"""Train the seven GoogLeNet members bundled in ``demo/members/`` (what ``inception-eval demo`` compares).

    python examples/train_demo_members.py [--data ../shared/data/small-classification/train]
                                          [--out demo/members] [--threads 1] [--only 0 3]

The paper's ensemble (section 7): seven GoogLeNets, one of them wider, trained with the same recipe,
differing in "sampling methodologies and the random order in which they see input images". Here:
seeds 0-6 (so data order, initial weights and every augmentation draw differ), crop areas of 8-100%
(smaller crops, the paper's range), 25-100% or 50-100% (larger crops), one member of width x0.375
instead of x0.25, Polyak averaging of the weights. Scaled down so all seven train in minutes on two
CPU cores: 64 px crops, the BatchNorm (torchvision) variant, 15 epochs over the 2,000 training photos
of the 10-class Imagenette subset, a 1-epoch warm-up + cosine learning rate from 0.1, no photometric
distortion. Each checkpoint is stored with half-precision weights and carries its recipe, class
names, input size and normalisation, so ``inception-eval model --checkpoint demo/members/m0.pt``
shows how it was made and ``score``/``compare`` need no flags.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from inception_eval.models import load_checkpoint, save_checkpoint
from inception_eval.train import TrainConfig, train

#: (name, seed, crop area range, width multiplier) of each member.
MEMBERS = (
    ("m0", 0, (0.08, 1.0), 0.25),
    ("m1", 1, (0.08, 1.0), 0.25),
    ("m2", 2, (0.25, 1.0), 0.25),
    ("m3", 3, (0.25, 1.0), 0.25),
    ("m4", 4, (0.5, 1.0), 0.25),
    ("m5", 5, (0.5, 1.0), 0.25),
    ("m6", 6, (0.25, 1.0), 0.375),
)

#: The recipe every member shares.
COMMON = dict(size=64, epochs=15, batch_size=32, lr=0.1, schedule="cosine", warmup_epochs=1.0,
              variant="torchvision", sampler="paper", photometric="none", polyak_decay=0.99,
              weight_decay_rule="caffe", cache_decoded=True, cache_side=128, workers=0)


def train_member(name: str, seed: int, crop_scale: tuple[float, float], width: float, *, data: str,
                 out_dir: Path, threads: int) -> Path:
    """Train one member and rewrite its checkpoint with float16 weights; returns its path."""
    out = out_dir / f"{name}.pt"
    cfg = TrainConfig(data=data, out=str(out), seed=seed, crop_scale=crop_scale, width_mult=width,
                      threads=threads, **COMMON)
    train(cfg, log=lambda s: print(f"[{name}] {s}", file=sys.stderr))
    model, info = load_checkpoint(out)
    save_checkpoint(out, model, input_size=info.input_size, mean=tuple(info.mean), std=tuple(info.std),
                    class_names=list(info.class_names), training=dict(info.training, member=name), half=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/small-classification/train")
    p.add_argument("--out", default="demo/members")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", type=int, nargs="*", help="indices of the members to train (default: all)")
    args = p.parse_args(argv)
    if not Path(args.data).is_dir():
        print(f"training data not found: {args.data} (pass --data)", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, (name, seed, scale, width) in enumerate(MEMBERS):
        if args.only is not None and k not in args.only:
            continue
        t0 = time.perf_counter()
        path = train_member(name, seed, scale, width, data=args.data, out_dir=out_dir, threads=args.threads)
        print(f"{path}: {time.perf_counter() - t0:.0f} s, {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
