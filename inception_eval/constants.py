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
#: remaining planned forward views x the least eager seconds per view timed on the run's batches
#: 2-5 (the first warms oneDNN up, the next may share the cores with loader workers filling up).
#: It is the largest break-even of the one-time compile into an *empty* Inductor cache measured
#: (compile seconds / share of eager time that compiling saves), rounded up, so that a first run on
#: a fresh machine does not lose; counting seconds rather than views carries it over to narrower
#: models, other input sizes and faster machines (a width-0.25 GoogLeNet is timed as such).
#: Measured with ``python benchmarks/model_throughput.py --compile-cost --threads T --batches 16``
#: (paper GoogLeNet 224 px, channels_last, torch 2.13, a 2-core AVX512-BF16 CPU without AMX):
#: 1 thread: bf16 103 s (cold compile 34.9 s, 34% saved per view), fp32 105 s (25.3 s, 24%);
#: 2 threads: bf16 97 s (36.5 s, 38%), fp32 132 s (27.2 s, 21%). For that model at batch 16:
#: about 40-70 bf16 or 25-45 fp32 paper144 photos. Applied on CPU only (fp16 too, unmeasured);
#: other devices stay eager under auto.
AUTO_COMPILE_MIN_EAGER_SECONDS: float = 135.0
