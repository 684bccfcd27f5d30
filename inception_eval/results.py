"""What a scoring run returns: the per-image results, how the run went, and where they came from.

:class:`ScoreResult` groups three parts: ``scores`` (:class:`Scores`: probabilities, labels,
validity), ``stats`` (:class:`RunStats`: time and work of this call) and ``provenance``
(:class:`Provenance`: checkpoint, precision, device, store, settings). Every field of the parts
is also readable directly on the result (``result.probs`` is ``result.scores.probs``,
``result.seconds`` is ``result.stats.seconds``, ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from inception_eval import metrics

__all__ = ["Scores", "RunStats", "Provenance", "ScoreResult"]


@dataclass
class Scores:
    """Per-image probabilities of one checkpoint on one dataset under several protocols.

    ``probs[(protocol, head)]``: (N, C) float32, probabilities averaged over the protocol's views
    (rows of unreadable images are zeros); ``labels`` (N,) int64; ``valid`` (N,) bool (False: the
    image was unreadable, see ``skipped`` = [(path, reason)]); ``paths`` (N,); ``class_names``
    index -> name or None; ``nominal_views[protocol]``: the protocol's views per image as defined
    (144 for paper144).
    """

    probs: dict[tuple[str, str], np.ndarray]
    labels: np.ndarray
    valid: np.ndarray
    skipped: list[tuple[str, str]]
    nominal_views: dict[str, int]
    paths: list[str] = field(default_factory=list)
    class_names: list[str] | None = None
    protocols: tuple[str, ...] = ()
    heads: tuple[str, ...] = ("main",)


@dataclass
class RunStats:
    """How the call went. ``seconds``: wall time of this call; ``model_seconds``: part of it inside
    the model's forward calls; ``forward_views``: forward passes (unique views) run by this call (0
    when everything came from the cache); ``images_computed`` / ``images_cached``: images computed
    now / found in the store; ``total_nominal_views[protocol]`` and ``total_unique_views``: the cost
    over all valid images, nominal and actually needed (dedupe across protocols and identical
    views); ``stored_seconds``: wall seconds all runs (interrupted ones too) spent computing the
    stored rows. Distributed: seconds are the slowest rank's, counts are sums over the
    ``world_size`` processes.
    """

    seconds: float
    forward_views: int
    images_computed: int
    images_cached: int = 0
    model_seconds: float = 0.0
    total_nominal_views: dict[str, int] = field(default_factory=dict)
    total_unique_views: int = 0
    stored_seconds: float = 0.0
    world_size: int = 1

    @property
    def images_per_second(self) -> float:
        return self.images_computed / self.seconds if self.seconds > 0 else float("nan")

    @property
    def views_per_second(self) -> float:
        return self.forward_views / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class Provenance:
    """Where the numbers come from: ``checkpoint_sha256`` ("" for an uncached bare model),
    ``precision``, ``device`` (this rank's), ``cache_path`` (the store folder, None in memory) and
    ``settings`` (interpolation, averaging, crop size, batching, protocol definitions, ...)."""

    checkpoint_sha256: str = ""
    precision: str = "fp32"
    device: str = "cpu"
    cache_path: str | None = None
    settings: dict = field(default_factory=dict)


@dataclass
class ScoreResult:
    """The result of ``engine.score``: ``scores``, ``stats`` and ``provenance`` (see the module doc;
    their fields are readable on the result itself)."""

    scores: Scores
    stats: RunStats
    provenance: Provenance

    def accuracy(self, protocol: str, head: str = "main") -> metrics.Accuracy:
        """Top-1/top-5 over the valid images (ties: see :mod:`inception_eval.metrics`)."""
        s = self.scores
        return metrics.accuracy(s.probs[(protocol, head)], s.labels, s.valid)

    @property
    def images_per_second(self) -> float:
        return self.stats.images_per_second

    @property
    def views_per_second(self) -> float:
        return self.stats.views_per_second


def _alias(part: str, name: str) -> property:
    return property(lambda self: getattr(getattr(self, part), name), doc=f"``{part}.{name}``")


# Read-only attributes for every field of the parts: result.probs, result.seconds, result.device, ...
for _part, _cls in (("scores", Scores), ("stats", RunStats), ("provenance", Provenance)):
    for _f in fields(_cls):
        setattr(ScoreResult, _f.name, _alias(_part, _f.name))
del _part, _cls, _f
