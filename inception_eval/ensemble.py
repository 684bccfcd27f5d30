"""Ensemble configurations from stored per-image probabilities (the paper's Table 3 for your models).

Everything here works on arrays (or ``.npy`` files) of per-image probabilities, never on a model:
score each member once (``engine.score``), then evaluate every configuration from what was stored.

A configuration is (subset of members, protocol, classifier set). Its prediction for an image is the
mean over the subset of each member's probabilities (optionally weighted), where a member's
probabilities for a classifier set are the weighted mean of its heads' probabilities.

How it stays cheap (127 subsets x 3 protocols x 50,000 images x 1,000 classes in seconds):
the error of a subset depends only on the rank of the true class y,
``rank_S = #{c : sum_{m in S} w_m p_m(c) > sum_{m in S} w_m p_m(y)}``. A class with
``p_m(c) <= p_m(y)`` for every member can never beat y, whatever the subset, so per image we keep only
the *candidate* classes (union over members of the classes scoring above y) with their per-member
probabilities; every subset is then evaluated on that compact table with one small matrix product.

Tie rule: a class whose (weighted) sum equals the true class's sum does NOT beat it (the true class
wins ties), so top-k is correct iff ``rank < k``. Sums are compared in float64 as
``sum_m w_m (p_m(c) - p_m(y)) > 0`` on float32 inputs: exact equality (a tie) is detected exactly;
otherwise the sign is exact up to float64 rounding (relative 1e-16).

Errors are fractions in [0, 1]; "change" is a difference of fractions (percentage points / 100).
"""
from __future__ import annotations

import itertools
import math
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np



@dataclass(frozen=True)
class RawArrayFile:
    """A headerless C-order array file (e.g. the engine store's ``probs.<k>.f32``): path, (N, C), dtype."""

    path: str
    shape: tuple[int, int]
    dtype: str = "float32"
    offset: int = 0


ProbSource = Union[np.ndarray, str, os.PathLike, RawArrayFile]
"""(N, C) probabilities: an array (memmaps are read through their file), a path to a ``.npy`` file,
or a :class:`RawArrayFile`."""

DEFAULT_AUX_WEIGHT = 0.3
"""Weight of each auxiliary head in ``main+aux`` (the paper's training weight of the aux losses)."""

TOPK = (1, 5)

# ---------------------------------------------------------------------------------------------
# Reading (N, C) sources in row chunks (bounded memory: no memmap left resident)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NpyFile:
    path: str
    offset: int  # bytes to the first element
    shape: tuple[int, int]
    dtype: np.dtype


def _npy_header(path: str) -> _NpyFile:
    from numpy.lib import format as npf

    try:
        with open(path, "rb") as f:
            version = npf.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npf.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = npf.read_array_header_2_0(f)
            offset = f.tell()
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read probabilities from {path}: {e}") from e
    if len(shape) != 2 or fortran or dtype.hasobject:
        raise ValueError(f"cannot read probabilities from {path}: expected a C-order (N, C) array, "
                         f"got shape {shape}{' (Fortran order)' if fortran else ''} dtype {dtype}")
    return _NpyFile(path, offset, (int(shape[0]), int(shape[1])), dtype)


def source_shape(src: ProbSource) -> tuple[int, int]:
    """(N, C) of a probability source without reading its data."""
    if isinstance(src, RawArrayFile):
        return _as_file(src).shape
    if isinstance(src, np.ndarray):
        if src.ndim != 2:
            raise ValueError(f"probabilities must be (N, C), got shape {src.shape}")
        return int(src.shape[0]), int(src.shape[1])
    return _npy_header(os.fspath(src)).shape


def _as_file(src: ProbSource) -> _NpyFile | None:
    """A file view of ``src`` when it is a path or a C-contiguous memmap; else None (plain array)."""
    if (isinstance(src, np.memmap) and src.filename and src.ndim == 2 and src.flags.c_contiguous
            and isinstance(src.base, mmap.mmap)):  # a whole mapping, not a slice of one
        base = src
        # np.load(mmap_mode=...) gives a memmap whose .offset is the header size.
        return _NpyFile(os.fspath(base.filename), int(base.offset), (int(src.shape[0]), int(src.shape[1])),
                        src.dtype)
    if isinstance(src, RawArrayFile):
        dt = np.dtype(src.dtype)
        want = src.offset + src.shape[0] * src.shape[1] * dt.itemsize
        try:
            size = os.path.getsize(src.path)
        except OSError as e:
            raise ValueError(f"cannot read probabilities from {src.path}: {e}") from e
        if size < want:
            raise ValueError(f"cannot read probabilities from {src.path}: {size} bytes, expected {want} "
                             f"for shape {src.shape} {dt}")
        return _NpyFile(src.path, src.offset, (int(src.shape[0]), int(src.shape[1])), dt)
    if isinstance(src, np.ndarray):
        return None
    return _npy_header(os.fspath(src))


def read_rows(src: ProbSource, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``src`` as a fresh float32 array (file sources are read with plain I/O)."""
    nf = _as_file(src)
    if nf is None:
        return np.asarray(src[start:stop], dtype=np.float32)
    n, c = nf.shape
    start, stop = max(0, start), min(stop, n)
    out = np.empty((max(0, stop - start), c), dtype=nf.dtype)
    if out.size:
        with open(nf.path, "rb") as f:
            f.seek(nf.offset + start * c * nf.dtype.itemsize)
            got = f.readinto(memoryview(out).cast("B"))
        if got != out.nbytes:
            raise ValueError(f"cannot read probabilities from {nf.path}: file is truncated "
                             f"(rows {start}:{stop} of {n})")
    return out.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------
# Classifier sets
# ---------------------------------------------------------------------------------------------


def parse_classifiers(spec: str, *, aux_weight: float = DEFAULT_AUX_WEIGHT) -> dict[str, float]:
    """Head weights of a classifier set.

    ``main`` -> {main: 1}; ``main+aux`` -> {main: 1, aux1: w, aux2: w} with w = ``aux_weight``
    (0.3 by default, the paper's aux-loss weight); ``main+aux:W`` sets w; any ``+``-joined list of
    head names (``main+aux1``) gives each weight 1 unless written ``head:W``.
    """
    heads: dict[str, float] = {}
    for part in spec.split("+"):
        name, _, w = part.strip().partition(":")
        name = name.strip()
        if not name:
            raise ValueError(f"bad classifier set {spec!r}: empty head name")
        try:
            weight = float(w) if w else (aux_weight if name == "aux" else 1.0)
        except ValueError:
            raise ValueError(f"bad classifier set {spec!r}: weight {w!r} is not a number") from None
        if weight < 0:
            raise ValueError(f"bad classifier set {spec!r}: negative weight")
        for head in (("aux1", "aux2") if name == "aux" else (name,)):
            heads[head] = heads.get(head, 0.0) + weight
    if sum(heads.values()) <= 0:
        raise ValueError(f"bad classifier set {spec!r}: weights sum to zero")
    return heads


# ---------------------------------------------------------------------------------------------
# The compact candidate table
# ---------------------------------------------------------------------------------------------


@dataclass
class CandidateTable:
    """Per image, the classes that can beat the true class in some subset, with member probabilities.

    ``true[i, m]``: member m's probability of image i's true class; ``cand[r, m]``: member m's
    probability of candidate row r; rows of one image are contiguous; ``group_image[g]`` is the image
    of group g and ``group_start[g]`` its first row (groups in increasing image order, images without
    candidates have no group and rank 0 in every subset). ``n_images`` counts the evaluated images.
    """

    n_images: int
    n_members: int
    true: np.ndarray  # (n_images, M) float32
    cand: np.ndarray  # (T, M) float32
    group_image: np.ndarray  # (G,) int64
    group_start: np.ndarray  # (G,) int64

    @property
    def n_rows(self) -> int:
        return int(self.cand.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.true.nbytes + self.cand.nbytes + self.group_image.nbytes + self.group_start.nbytes)


def build_table(
    members: Sequence[Sequence[tuple[ProbSource, float]]],
    labels: np.ndarray,
    keep: np.ndarray | None = None,
    *,
    chunk_bytes: int = 64 << 20,
) -> CandidateTable:
    """Build the candidate table for one (protocol, classifier set).

    ``members[m]`` is a list of (source, weight) pairs, the heads of member m to mix (weights are
    normalised to sum to 1, so each member's mixture is a probability vector). ``labels`` (N,) are
    the true classes; ``keep`` (N,) bool selects the images to evaluate (default: all). Sources are
    read in chunks of about ``chunk_bytes`` for all members together.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = labels.shape[0]
    keep = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    if keep.shape != (n,):
        raise ValueError(f"keep has shape {keep.shape}, expected ({n},)")
    if not members:
        raise ValueError("no members")
    n_classes = None
    for m, heads in enumerate(members):
        if not heads:
            raise ValueError(f"member {m} has no heads")
        for src, _ in heads:
            shape = source_shape(src)
            if shape[0] != n:
                raise ValueError(f"member {m}: probabilities have {shape[0]} rows, labels have {n}")
            if n_classes is None:
                n_classes = shape[1]
            elif shape[1] != n_classes:
                raise ValueError(f"member {m}: {shape[1]} classes, expected {n_classes}")
    assert n_classes is not None
    bad = keep & ((labels < 0) | (labels >= n_classes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"label {labels[i]} of image {i} is outside 0..{n_classes - 1}")

    n_members = len(members)
    rows_per_chunk = max(1, chunk_bytes // (4 * n_classes * (n_members + 1)))
    true_parts, cand_parts, gimg_parts, gcount_parts = [], [], [], []
    done = 0  # evaluated images before this chunk
    for a in range(0, n, rows_per_chunk):
        b = min(n, a + rows_per_chunk)
        sel = np.flatnonzero(keep[a:b])
        if sel.size == 0:
            continue
        y = labels[a:b][sel]
        probs = []
        for heads in members:
            total = sum(w for _, w in heads)
            mix = None
            for src, w in heads:
                part = read_rows(src, a, b)[sel]
                if w != total:  # mixing: weights normalised so the mixture sums to 1
                    part *= np.float32(w / total)
                mix = part if mix is None else np.add(mix, part, out=mix)
            probs.append(mix)
        ar = np.arange(sel.size)
        t = np.stack([p[ar, y] for p in probs], axis=1)  # (n, M)
        above = probs[0] > t[:, :1]
        for m in range(1, n_members):
            above |= probs[m] > t[:, m:m + 1]
        r, c = np.nonzero(above)  # row-major: grouped by image, increasing
        cand_parts.append(np.stack([p[r, c] for p in probs], axis=1))
        true_parts.append(t)
        counts = np.bincount(r, minlength=sel.size)
        has = np.flatnonzero(counts)
        gimg_parts.append(has + done)
        gcount_parts.append(counts[has])
        done += sel.size
    m_ = n_members
    true = np.concatenate(true_parts) if true_parts else np.zeros((0, m_), np.float32)
    cand = np.concatenate(cand_parts) if cand_parts else np.zeros((0, m_), np.float32)
    gimg = np.concatenate(gimg_parts).astype(np.int64) if gimg_parts else np.zeros(0, np.int64)
    gcount = np.concatenate(gcount_parts).astype(np.int64) if gcount_parts else np.zeros(0, np.int64)
    gstart = np.concatenate([[0], np.cumsum(gcount)[:-1]]).astype(np.int64) if gcount.size else gcount
    return CandidateTable(done, n_members, np.ascontiguousarray(true, np.float32),
                          np.ascontiguousarray(cand, np.float32), gimg, gstart)


def subset_matrix(subsets: Sequence[Sequence[int]], n_members: int,
                  member_weights: Sequence[float] | None = None) -> np.ndarray:
    """(M, S) float64 matrix: column s holds member weights for members in subset s, else 0."""
    w = np.ones(n_members) if member_weights is None else np.asarray(member_weights, dtype=np.float64)
    if w.shape != (n_members,) or (w <= 0).any():
        raise ValueError(f"member weights must be {n_members} positive numbers, got {list(w)}")
    mat = np.zeros((n_members, len(subsets)))
    for s, sub in enumerate(subsets):
        if len(sub) == 0:
            raise ValueError("empty subset")
        for m in sub:
            if not 0 <= m < n_members:
                raise ValueError(f"subset {tuple(sub)} names member {m}; there are {n_members}")
            mat[m, s] = w[m]
    return mat


def subset_errors(table: CandidateTable, weights: np.ndarray, *, topk: Sequence[int] = TOPK,
                  block_elems: int = 1 << 22) -> np.ndarray:
    """Top-k errors of every subset: (len(topk), S) fractions in [0, 1].

    ``weights`` is (M, S) from :func:`subset_matrix` (the scale of a column does not matter: the
    rank of the true class is invariant to it). Work is done in blocks of about ``block_elems``
    (rows x subsets) so memory stays bounded.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_sub = weights.shape[1]
    wrong = np.zeros((len(topk), n_sub), dtype=np.int64)
    g_total = table.group_start.shape[0]
    if table.n_images == 0:
        return np.full((len(topk), n_sub), np.nan)
    ends = np.append(table.group_start[1:], table.n_rows)
    rows_per_block = max(1, block_elems // max(1, n_sub))
    g0 = 0
    kmax = np.asarray(topk)
    while g0 < g_total:
        # as many whole groups as fit in rows_per_block rows (at least one group)
        limit = table.group_start[g0] + rows_per_block
        g1 = int(np.searchsorted(table.group_start, limit, side="left"))
        g1 = min(max(g1, g0 + 1), g_total)
        r0, r1 = int(table.group_start[g0]), int(ends[g1 - 1])
        lengths = ends[g0:g1] - table.group_start[g0:g1]
        true_rows = np.repeat(table.true[table.group_image[g0:g1]], lengths, axis=0)
        diff = table.cand[r0:r1].astype(np.float64) - true_rows  # exact for float32 inputs
        beats = (diff @ weights) > 0.0  # (R, S); equality (a tie) does not beat the true class
        counts = np.add.reduceat(beats.view(np.uint8), table.group_start[g0:g1] - r0, axis=0,
                                 dtype=np.int32)  # (G, S): rank of the true class
        for j, k in enumerate(kmax):
            wrong[j] += np.count_nonzero(counts >= k, axis=0)
        g0 = g1
    return wrong / table.n_images


def reference_errors(probs: Sequence[np.ndarray], labels: np.ndarray, subset: Sequence[int], *,
                     member_weights: Sequence[float] | None = None, topk: Sequence[int] = TOPK) -> list[float]:
    """Plain dense evaluation of one subset (for tests and small data): mean, then count classes above y."""
    w = np.ones(len(probs)) if member_weights is None else np.asarray(member_weights, dtype=np.float64)
    avg = sum(w[m] * np.asarray(probs[m], dtype=np.float64) for m in subset) / sum(w[m] for m in subset)
    y = np.asarray(labels)
    rank = (avg > avg[np.arange(len(y)), y][:, None]).sum(1)
    return [float(np.mean(rank >= k)) for k in topk]


# ---------------------------------------------------------------------------------------------
# Which subsets to evaluate
# ---------------------------------------------------------------------------------------------


def all_subsets(n: int) -> list[tuple[int, ...]]:
    """All non-empty subsets of range(n), by size then lexicographic (2**n - 1 of them)."""
    return [s for k in range(1, n + 1) for s in itertools.combinations(range(n), k)]


def select_subsets(n: int, *, max_exhaustive: int = 10, per_size: int = 64, seed: int = 0,
                   order: Sequence[int] | None = None) -> list[tuple[int, ...]]:
    """The subsets evaluated for ``n`` members.

    ``n <= max_exhaustive``: every non-empty subset. Beyond that, for every size k in 1..n: the
    greedy prefix ``sorted(order[:k])`` (``order`` = members ranked by greedy forward selection,
    default 0..n-1) plus a seeded uniform sample of ``per_size`` distinct subsets of size k (every
    subset of that size when there are no more than ``per_size``). Sorted by size then lexicographic.
    """
    if n < 1:
        raise ValueError("need at least one member")
    if n <= max_exhaustive:
        return all_subsets(n)
    order = list(range(n)) if order is None else list(order)
    if sorted(order) != list(range(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1}")
    rng = np.random.default_rng(seed)
    chosen: set[tuple[int, ...]] = set()
    for k in range(1, n + 1):
        chosen.add(tuple(sorted(order[:k])))
        if math.comb(n, k) <= per_size:
            chosen.update(itertools.combinations(range(n), k))
            continue
        got: set[tuple[int, ...]] = set()
        while len(got) < per_size:
            got.add(tuple(sorted(rng.choice(n, size=k, replace=False).tolist())))
        chosen.update(got)
    return sorted(chosen, key=lambda s: (len(s), s))


# ---------------------------------------------------------------------------------------------
# Members, configurations, comparison
# ---------------------------------------------------------------------------------------------


@dataclass
class MemberScores:
    """What the comparison needs from one scored member (an ``engine.ScoreResult`` adapts to this).

    ``probs[(protocol, head)]``: (N, C) per-image probabilities; ``labels`` (N,) int; ``valid`` (N,)
    bool; ``seconds``: measured scoring time of the member over all protocols (s);
    ``nominal_views[protocol]``: crops per image of the protocol (the paper's crop count).
    """

    name: str
    probs: Mapping[tuple[str, str], ProbSource]
    labels: np.ndarray
    valid: np.ndarray | None = None
    seconds: float = 0.0
    nominal_views: Mapping[str, int] = field(default_factory=dict)

    def protocol_seconds(self, protocol: str) -> float:
        """Scoring seconds attributed to ``protocol``: the member's seconds split in proportion to
        nominal views per protocol (one pass scores the union of the protocols' views)."""
        total = sum(self.nominal_views.values())
        if total <= 0 or protocol not in self.nominal_views:
            return float("nan")
        return float(self.seconds) * self.nominal_views[protocol] / total


@dataclass(frozen=True)
class Config:
    """One evaluated configuration. Errors are fractions; deltas are vs the baseline (same units)."""

    classifiers: str
    protocol: str
    members: tuple[str, ...]
    n_models: int
    n_crops: int
    cost: int  # n_models x n_crops (the paper's definition)
    seconds: float  # sum over members of their protocol seconds
    top1: float
    top5: float
    d_top1: float
    d_top5: float


@dataclass(frozen=True)
class SizeRow:
    """One row of the report: configurations of one (classifier set, protocol, number of models)."""

    classifiers: str
    protocol: str
    n_models: int
    n_crops: int
    cost: int
    n_subsets: int
    best: Config  # lowest top-5 error (ties: top-1, then first in subset order)
    mean_top1: float
    mean_top5: float
    mean_seconds: float
    d_mean_top1: float
    d_mean_top5: float


@dataclass(frozen=True)
class GreedyStep:
    members: tuple[str, ...]
    top1: float
    top5: float


@dataclass
class Comparison:
    """All configurations plus the report rows, baseline and (optionally) greedy paths."""

    member_names: list[str]
    protocols: list[str]
    classifier_sets: list[str]
    n_images: int
    n_excluded: int
    baseline: Config
    baseline_rule: str
    configs: list[Config]
    rows: list[SizeRow]
    greedy: dict[tuple[str, str], list[GreedyStep]] = field(default_factory=dict)
    subset_rule: str = ""
    rank_by: str = "top5"
    candidate_rows: dict[tuple[str, str], int] = field(default_factory=dict)


def _metric_index(rank_by: str) -> int:
    if rank_by not in ("top1", "top5"):
        raise ValueError(f"rank_by must be 'top1' or 'top5', got {rank_by!r}")
    return 0 if rank_by == "top1" else 1


def greedy_path(table: CandidateTable, *, rank_by: str = "top5", stop: bool = True,
                member_weights: Sequence[float] | None = None) -> list[tuple[tuple[int, ...], float, float]]:
    """Greedy forward selection: start from the best single member, repeatedly add the member whose
    addition lowers the ``rank_by`` error most (ties: the other error, then the lower index).

    With ``stop`` the path ends when no addition strictly lowers the error; without it, it runs to
    all members (used to rank members). Returns [(sorted subset, top1, top5), ...].
    """
    key = _metric_index(rank_by)
    n = table.n_members
    chosen: list[int] = []
    path: list[tuple[tuple[int, ...], float, float]] = []
    current = math.inf
    while len(chosen) < n:
        rest = [m for m in range(n) if m not in chosen]
        subsets = [tuple(sorted(chosen + [m])) for m in rest]
        err = subset_errors(table, subset_matrix(subsets, n, member_weights))
        order = sorted(range(len(rest)), key=lambda j: (err[key, j], err[1 - key, j], rest[j]))
        j = order[0]
        if stop and path and not err[key, j] < current:
            break
        chosen.append(rest[j])
        current = float(err[key, j])
        path.append((subsets[j], float(err[0, j]), float(err[1, j])))
    return path


def compare(
    members: Sequence[MemberScores],
    protocols: Sequence[str],
    classifier_sets: Sequence[str] = ("main",),
    *,
    baseline: str | int | None = None,
    baseline_protocol: str | None = None,
    member_weights: Sequence[float] | None = None,
    aux_weight: float = DEFAULT_AUX_WEIGHT,
    greedy: bool = False,
    rank_by: str = "top5",
    max_exhaustive: int = 10,
    per_size: int = 64,
    seed: int = 0,
) -> Comparison:
    """Evaluate every configuration (see the module docstring) and build the report rows.

    Baseline (the paper's single model): the member with the lowest top-1 error at
    ``baseline_protocol`` (default ``center`` if scored, else the first protocol) with the first
    classifier set; ties go to the first listed member. ``baseline`` (a name or index) overrides the
    choice. Every configuration's change is its error minus the baseline's (that member, that
    protocol, that classifier set). ``rank_by`` picks the error that "best subset" and greedy use.
    """
    if not members:
        raise ValueError("no members to compare")
    metric = _metric_index(rank_by)
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"member names must be unique: {names}")
    labels = np.asarray(members[0].labels, dtype=np.int64)
    keep = np.ones(labels.shape[0], dtype=bool)
    for m in members:
        if np.asarray(m.labels).shape != labels.shape or not np.array_equal(m.labels, labels):
            raise ValueError(f"member {m.name} was scored on different images or labels than {names[0]}")
        if m.valid is not None:
            keep &= np.asarray(m.valid, dtype=bool)
    keep &= labels >= 0  # unlabelled images cannot be scored
    n_excluded = int((~keep).sum())
    heads_of = {c: parse_classifiers(c, aux_weight=aux_weight) for c in classifier_sets}
    for m in members:
        for p in protocols:
            for c, heads in heads_of.items():
                missing = [h for h in heads if (p, h) not in m.probs]
                if missing:
                    raise ValueError(f"member {m.name} has no probabilities for protocol {p!r}, "
                                     f"head(s) {missing} (classifier set {c!r})")
    crops = {}
    for p in protocols:
        vals = {int(m.nominal_views.get(p, 0)) for m in members}
        if len(vals) != 1 or 0 in vals:
            raise ValueError(f"nominal views of protocol {p!r} differ or are missing: {sorted(vals)}")
        crops[p] = vals.pop()

    tables: dict[tuple[str, str], CandidateTable] = {}

    def table(c: str, p: str) -> CandidateTable:
        if (c, p) not in tables:
            tables[(c, p)] = build_table(
                [[(m.probs[(p, h)], w) for h, w in heads_of[c].items()] for m in members], labels, keep)
        return tables[(c, p)]

    n_members = len(members)
    base_c = classifier_sets[0]
    base_p = baseline_protocol or ("center" if "center" in protocols else protocols[0])
    if base_p not in protocols:
        raise ValueError(f"baseline protocol {base_p!r} is not among the protocols {list(protocols)}")
    singles = subset_errors(table(base_c, base_p), subset_matrix([(i,) for i in range(n_members)], n_members))
    if baseline is None:
        b = min(range(n_members), key=lambda i: (singles[0, i], i))
        rule = (f"member with the lowest top-1 error at protocol {base_p!r}, classifiers {base_c!r} "
                f"(first listed on ties)")
    else:
        if isinstance(baseline, int) or (isinstance(baseline, str) and baseline.isdigit() and baseline not in names):
            b = int(baseline)
            if not 0 <= b < n_members:
                raise ValueError(f"baseline index {b} out of range 0..{n_members - 1}")
        else:
            matches = [i for i, nm in enumerate(names) if nm == baseline or Path(nm).name == Path(str(baseline)).name]
            if not matches:
                raise ValueError(f"baseline {baseline!r} is not one of the members {names}")
            b = matches[0]
        rule = f"chosen by the user, at protocol {base_p!r}, classifiers {base_c!r}"
    b_top1, b_top5 = float(singles[0, b]), float(singles[1, b])
    mk = lambda c, p, sub, e1, e5: Config(  # noqa: E731
        c, p, tuple(names[i] for i in sub), len(sub), crops[p], len(sub) * crops[p],
        float(sum(members[i].protocol_seconds(p) for i in sub)), float(e1), float(e5),
        float(e1) - b_top1, float(e5) - b_top5)
    base_cfg = mk(base_c, base_p, (b,), b_top1, b_top5)

    order = None
    if n_members > max_exhaustive:
        order = [s for s in _greedy_order(table(base_c, base_p), rank_by, member_weights)]
    subsets = select_subsets(n_members, max_exhaustive=max_exhaustive, per_size=per_size, seed=seed,
                             order=order)
    weights = subset_matrix(subsets, n_members, member_weights)
    configs: list[Config] = []
    rows: list[SizeRow] = []
    greedy_paths: dict[tuple[str, str], list[GreedyStep]] = {}
    cand_rows: dict[tuple[str, str], int] = {}
    for c in classifier_sets:
        for p in protocols:
            tab = table(c, p)
            err = subset_errors(tab, weights)
            group: dict[int, list[Config]] = {}
            for s, sub in enumerate(subsets):
                cfg = mk(c, p, sub, err[0, s], err[1, s])
                configs.append(cfg)
                group.setdefault(len(sub), []).append(cfg)
            for k, cfgs in sorted(group.items()):
                best = min(cfgs, key=lambda x: ((x.top1, x.top5)[metric], (x.top1, x.top5)[1 - metric]))
                mt1 = float(np.mean([x.top1 for x in cfgs]))
                mt5 = float(np.mean([x.top5 for x in cfgs]))
                rows.append(SizeRow(c, p, k, crops[p], k * crops[p], len(cfgs), best, mt1, mt5,
                                    float(np.mean([x.seconds for x in cfgs])), mt1 - b_top1, mt5 - b_top5))
            if greedy:
                greedy_paths[(c, p)] = [GreedyStep(tuple(names[i] for i in sub), e1, e5)
                                        for sub, e1, e5 in greedy_path(tab, rank_by=rank_by,
                                                                       member_weights=member_weights)]
            cand_rows[(c, p)] = tab.n_rows
            del tables[(c, p)], tab  # one table in memory at a time
    if n_members <= max_exhaustive:
        subset_rule = f"all {len(subsets)} non-empty subsets of {n_members} members"
    else:
        subset_rule = (f"{len(subsets)} subsets of {n_members} members: per size, the greedy prefix "
                       f"(ranked at {base_p!r}/{base_c!r}) plus {per_size} seeded random subsets (seed {seed})")
    return Comparison(
        names, list(protocols), list(classifier_sets), int(keep.sum()), n_excluded, base_cfg, rule,
        configs, rows, greedy_paths, subset_rule, rank_by,
        cand_rows)


def _greedy_order(tab: CandidateTable, rank_by: str, member_weights) -> list[int]:
    path = greedy_path(tab, rank_by=rank_by, stop=False, member_weights=member_weights)
    order: list[int] = []
    for sub, _, _ in path:
        order.extend(m for m in sub if m not in order)
    return order


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated in (cost, error), both lower-is-better, sorted by cost.

    A point is on the front when no other point has cost <= and error < (or cost < and error <=).
    """
    idx = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    front: list[int] = []
    best = math.inf
    for i in idx:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front
