"""Constants of the evaluation side, written here once and imported everywhere else."""
from __future__ import annotations

__all__ = ["AUX_WEIGHT", "PRECISIONS", "PRECISION_CHOICES", "DEFAULT_PRECISION", "COMPILE_MODES", "DEFAULT_COMPILE",
           "AUTO_COMPILE_MIN_EAGER_SECONDS"]

#: Weight of each auxiliary classifier relative to the main one: the 0.3 the paper (section 5)
#: gave their losses during training, reused when their softmax outputs are averaged at test time.
AUX_WEIGHT: float = 0.3

#: Numerical precisions of the forward pass: fp32, or autocast to bf16 / fp16.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
DEFAULT_PRECISION: str = "fp32"
#: What ``--precision`` / ``engine.score(precision=...)`` accept: a name of PRECISIONS, or ``auto``
#: (bf16 where the device computes bf16 natively, else fp32; ``models.inference.resolve_precision``).
PRECISION_CHOICES: tuple[str, ...] = PRECISIONS + ("auto",)

#: ``torch.compile`` modes of a scoring run: ``auto`` (compile when the run is long enough to repay
#: the one-time compile, ``models.inference.decide_compile``), ``on`` (``--compile``), ``off``
#: (``--no-compile``).
COMPILE_MODES: tuple[str, ...] = ("auto", "on", "off")
DEFAULT_COMPILE: str = "auto"

#: ``auto`` compiles when the run's remaining eager model time reaches this many seconds: the
#: remaining planned forward views x the eager seconds per view timed on the run's second batch
#: (the first warms oneDNN up). It is the break-even of the one-time compile into an *empty*
#: Inductor cache, compile seconds / (share of eager time that compiling saves), rounded up, so a
#: first run on a fresh machine does not lose; counting seconds rather than views carries it over to
#: narrower models, other input sizes and faster machines (a width-0.25 GoogLeNet is timed as such).
#: Measured with ``python benchmarks/model_throughput.py --compile-cost --threads 1`` (paper GoogLeNet
#: 224 px, channels_last, batch 16, 1 thread, torch 2.13, a 2-core AVX512-BF16 CPU without AMX, load 1.1-1.5):
#: bf16 cold compile 34.9 s (warm 2.9 s), eager 0.0222 vs compiled 0.0146 s/view (34% saved):
#: 102 s of eager time, 4,634 views (388 warm); fp32 cold 25.3 s (warm 2.8 s), 0.0383 vs 0.0290
#: s/view (24% saved): 104 s, 2,752 views (306 warm). For that model: ~34 (bf16) / ~20 (fp32)
#: paper144 photos. Applied on CPU only (fp16 too, unmeasured); other devices stay eager under auto.
AUTO_COMPILE_MIN_EAGER_SECONDS: float = 105.0
