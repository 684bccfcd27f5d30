"""Ensemble configurations from stored per-image probabilities (the paper's Table 3 for your models).

Everything here works on arrays (or ``.npy`` files) of per-image probabilities, never on a model:
score each member once (``engine.score``), then evaluate every configuration from what was stored.

A configuration is (subset of members, protocol, classifier set). Its prediction for an image is the
mean over the subset of each member's probabilities (optionally weighted), where a member's
probabilities for a classifier set are the weighted mean of its heads' probabilities
(:func:`inception_eval.aggregate.weighted_mean`).

How it stays cheap (127 subsets x 3 protocols x 50,000 images x 1,000 classes in seconds):
the error of a subset depends only on the rank of the true class y, the number of classes c with
``beats_true(sum_{m in S} w_m (p_m(c) - p_m(y)))`` (:func:`inception_eval.metrics.beats_true`, the
one tie rule: a class scoring equal to y ranks above it). A class with ``p_m(c) < p_m(y)`` for every
member can never reach y, whatever the subset, so per image we keep only the *candidate* classes
(union over members of the classes scoring at least y) with their per-member probabilities; every
subset is then evaluated on that compact table with one small matrix product. Margins are summed in
float64 from float32 inputs: an exact tie is detected exactly; otherwise the sign is exact up to
float64 rounding (relative 1e-16).

Per configuration the comparison also reports 95% Wilson intervals of the errors, Newcombe's paired
interval (method 10) of the change vs the baseline on the same images (:mod:`inception_eval.intervals`),
the images a tie decided, and calibration (NLL, ECE, Brier; :mod:`inception_eval.calibration`),
all from the same table (the true class's mixed probability, the top candidate's margin and a
per-image Gram matrix of the members' probabilities).

Errors are fractions in [0, 1]; "change" is a difference of fractions (percentage points / 100).
"""
from __future__ import annotations

import itertools
import math
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence, Union

import numpy as np

from inception_aug.errors import InputError, UsageError
from inception_eval import intervals
from inception_eval.aggregate import weighted_mean
from inception_eval.calibration import NLL_EPS, ece_columns
from inception_eval.constants import AUX_WEIGHT
from inception_eval.metrics import TOPK, beats_true, true_class_rank

__all__ = ["RawArrayFile", "ProbSource", "source_shape", "read_rows", "parse_classifiers", "CandidateTable",
           "build_table", "subset_matrix", "SubsetCounts", "subset_counts", "subset_errors", "image_ranks",
           "reference_errors", "all_subsets", "select_subsets", "MemberScores", "Config", "SizeRow",
           "GreedyStep", "Comparison", "greedy_path", "compare_configurations", "pareto_front"]


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
        raise InputError(f"cannot read probabilities from {path}: {e}") from e
    if len(shape) != 2 or fortran or dtype.hasobject:
        raise InputError(f"cannot read probabilities from {path}: expected a C-order (N, C) array, "
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
            raise InputError(f"cannot read probabilities from {src.path}: {e}") from e
        if size < want:
            raise InputError(f"cannot read probabilities from {src.path}: {size} bytes, expected {want} "
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
            raise InputError(f"cannot read probabilities from {nf.path}: file is truncated "
                             f"(rows {start}:{stop} of {n})")
    return out.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------
# Classifier sets
# ---------------------------------------------------------------------------------------------


def parse_classifiers(spec: str, *, aux_weight: float = AUX_WEIGHT) -> dict[str, float]:
    """Head weights of a classifier set.

    ``main`` -> {main: 1}; ``main+aux`` -> {main: 1, aux1: w, aux2: w} with w = ``aux_weight``
    (:data:`inception_eval.constants.AUX_WEIGHT` by default, the paper's aux-loss weight);
    ``main+aux:W`` sets w; any ``+``-joined list of head names (``main+aux1``) gives each weight 1
    unless written ``head:W``.
    """
    heads: dict[str, float] = {}
    for part in spec.split("+"):
        name, _, w = part.strip().partition(":")
        name = name.strip()
        if not name:
            raise UsageError(f"bad classifier set {spec!r}: empty head name")
        try:
            weight = float(w) if w else (aux_weight if name == "aux" else 1.0)
        except ValueError:
            raise UsageError(f"bad classifier set {spec!r}: weight {w!r} is not a number") from None
        if weight < 0:
            raise UsageError(f"bad classifier set {spec!r}: negative weight")
        for head in (("aux1", "aux2") if name == "aux" else (name,)):
            heads[head] = heads.get(head, 0.0) + weight
    if sum(heads.values()) <= 0:
        raise UsageError(f"bad classifier set {spec!r}: weights sum to zero")
    return heads


# ---------------------------------------------------------------------------------------------
# The compact candidate table
# ---------------------------------------------------------------------------------------------


@dataclass
class CandidateTable:
    """Per image, the classes that can reach the true class in some subset, with member probabilities.

    ``true[i, m]``: member m's probability of image i's true class; ``cand[r, m]``: member m's
    probability of candidate row r; rows of one image are contiguous; ``group_image[g]`` is the image
    of group g and ``group_start[g]`` its first row (groups in increasing image order, images without
    candidates have no group and rank 0 in every subset). ``n_images`` counts the evaluated images.
    ``gram[i, m, m']``: ``sum_c p_m(c) p_m'(c)`` of image i (for the Brier score), or None.
    """

    n_images: int
    n_members: int
    true: np.ndarray  # (n_images, M) float32
    cand: np.ndarray  # (T, M) float32
    group_image: np.ndarray  # (G,) int64
    group_start: np.ndarray  # (G,) int64
    gram: np.ndarray | None = None  # (n_images, M, M) float64

    @property
    def n_rows(self) -> int:
        return int(self.cand.shape[0])

    @property
    def nbytes(self) -> int:
        extra = 0 if self.gram is None else self.gram.nbytes
        return int(self.true.nbytes + self.cand.nbytes + self.group_image.nbytes + self.group_start.nbytes + extra)


def _check_members(members, labels: np.ndarray, keep: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Validate shapes and labels; returns (keep mask, number of classes)."""
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
                raise InputError(f"member {m}: probabilities have {shape[0]} rows, labels have {n}")
            if n_classes is None:
                n_classes = shape[1]
            elif shape[1] != n_classes:
                raise InputError(f"member {m}: {shape[1]} classes, expected {n_classes}")
    assert n_classes is not None
    bad = keep & ((labels < 0) | (labels >= n_classes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"label {labels[i]} of image {i} is outside 0..{n_classes - 1}")
    return keep, n_classes


def _member_rows(heads: Sequence[tuple[ProbSource, float]], a: int, b: int, sel: np.ndarray) -> np.ndarray:
    """One member's probabilities of rows ``a:b`` (selected ``sel``), its heads mixed (weights normalised)."""
    every = sel.size == b - a  # all rows kept: skip the copy of a fancy index
    parts = [read_rows(src, a, b) if every else read_rows(src, a, b)[sel] for src, _ in heads]
    if len(parts) == 1:
        return parts[0]  # one head: its weight normalises to 1
    return weighted_mean(parts, [w for _, w in heads], "heads")


def _chunk_table(probs: list[np.ndarray], y: np.ndarray, gram: bool):
    """(true (n, M), candidate rows (T, M), candidates per image (n,), gram (n, M, M) or None)."""
    ar = np.arange(y.shape[0])
    t = np.stack([p[ar, y] for p in probs], axis=1)
    reach = beats_true(probs[0], t[:, :1])
    for m in range(1, len(probs)):
        reach |= beats_true(probs[m], t[:, m:m + 1])
    reach[ar, y] = False  # the true class itself is no candidate
    r, c = np.nonzero(reach)  # row-major: grouped by image, increasing
    cand = np.stack([p[r, c] for p in probs], axis=1)
    return t, cand, np.bincount(r, minlength=y.shape[0]), _gram(probs) if gram else None


def _gram(probs: list[np.ndarray]) -> np.ndarray:
    """(n, M, M) float64: ``sum_c p_m(c) p_m'(c)`` per image (float32 products and sums, about 1e-6
    relative; the fastest of the ways measured)."""
    m_ = len(probs)
    g = np.empty((probs[0].shape[0], m_, m_))
    for i in range(m_):
        for j in range(i, m_):
            g[:, i, j] = g[:, j, i] = np.einsum("ic,ic->i", probs[i], probs[j])
    return g


def build_table(
    members: Sequence[Sequence[tuple[ProbSource, float]]],
    labels: np.ndarray,
    keep: np.ndarray | None = None,
    *,
    chunk_bytes: int = 64 << 20,
    gram: bool = False,
) -> CandidateTable:
    """Build the candidate table for one (protocol, classifier set).

    ``members[m]`` is a list of (source, weight) pairs, the heads of member m to mix (weights are
    normalised to sum to 1, so each member's mixture is a probability vector). ``labels`` (N,) are
    the true classes; ``keep`` (N,) bool selects the images to evaluate (default: all). Sources are
    read in chunks of about ``chunk_bytes`` for all members together. ``gram`` also stores the
    per-image Gram matrices the Brier score needs.
    """
    labels = np.asarray(labels, dtype=np.int64)
    keep, n_classes = _check_members(members, labels, keep)
    n, n_members = labels.shape[0], len(members)
    rows_per_chunk = max(1, chunk_bytes // (4 * n_classes * (n_members + 1)))
    parts: dict[str, list] = {"true": [], "cand": [], "gimg": [], "gcount": [], "gram": []}
    done = 0  # evaluated images before this chunk
    for a in range(0, n, rows_per_chunk):
        b = min(n, a + rows_per_chunk)
        sel = np.flatnonzero(keep[a:b])
        if sel.size == 0:
            continue
        probs = [_member_rows(heads, a, b, sel) for heads in members]
        t, cand, counts, g = _chunk_table(probs, labels[a:b][sel], gram)
        has = np.flatnonzero(counts)
        parts["true"].append(t)
        parts["cand"].append(cand)
        parts["gimg"].append(has + done)
        parts["gcount"].append(counts[has])
        parts["gram"].append(g)
        done += sel.size
    return _assemble(parts, done, n_members, gram)


def _assemble(parts: dict[str, list], n_images: int, n_members: int, gram: bool) -> CandidateTable:
    def cat(key, empty_shape, dtype):
        return np.concatenate(parts[key]).astype(dtype, copy=False) if parts[key] else np.zeros(empty_shape, dtype)

    true = cat("true", (0, n_members), np.float32)
    cand = cat("cand", (0, n_members), np.float32)
    gimg = cat("gimg", 0, np.int64)
    gcount = cat("gcount", 0, np.int64)
    gstart = np.concatenate([[0], np.cumsum(gcount)[:-1]]).astype(np.int64) if gcount.size else gcount
    g = cat("gram", (0, n_members, n_members), np.float64) if gram else None
    return CandidateTable(n_images, n_members, np.ascontiguousarray(true), np.ascontiguousarray(cand),
                          gimg, gstart, g)


def subset_matrix(subsets: Sequence[Sequence[int]], n_members: int,
                  member_weights: Sequence[float] | None = None) -> np.ndarray:
    """(M, S) float64 matrix: column s holds member weights for members in subset s, else 0."""
    w = np.ones(n_members) if member_weights is None else np.asarray(member_weights, dtype=np.float64)
    if w.shape != (n_members,) or (w <= 0).any():
        raise UsageError(f"member weights must be {n_members} positive numbers, got {list(w)}")
    mat = np.zeros((n_members, len(subsets)))
    for s, sub in enumerate(subsets):
        if len(sub) == 0:
            raise ValueError("empty subset")
        for m in sub:
            if not 0 <= m < n_members:
                raise ValueError(f"subset {tuple(sub)} names member {m}; there are {n_members}")
            mat[m, s] = w[m]
    return mat


# ---------------------------------------------------------------------------------------------
# Evaluating subsets on the table
# ---------------------------------------------------------------------------------------------


@dataclass
class _Block:
    """Groups ``g0:g1`` (candidate rows ``r0:r1``): per group and subset, the rank of the true
    class, the number of classes strictly above it, and the largest candidate margin."""

    g0: int
    g1: int
    rank: np.ndarray  # (G, S) int32
    higher: np.ndarray  # (G, S) int32
    top_margin: np.ndarray  # (G, S) float64, in the units of the weights


def _blocks(table: CandidateTable, weights: np.ndarray, block_elems: int) -> Iterator[_Block]:
    """Walk the table in blocks of about ``block_elems`` (rows x subsets) whole groups."""
    n_sub = weights.shape[1]
    g_total = table.group_start.shape[0]
    ends = np.append(table.group_start[1:], table.n_rows)
    rows_per_block = max(1, block_elems // max(1, n_sub))
    g0 = 0
    while g0 < g_total:
        limit = table.group_start[g0] + rows_per_block
        g1 = int(np.searchsorted(table.group_start, limit, side="left"))
        g1 = min(max(g1, g0 + 1), g_total)
        r0, r1 = int(table.group_start[g0]), int(ends[g1 - 1])
        starts = table.group_start[g0:g1] - r0
        true_rows = np.repeat(table.true[table.group_image[g0:g1]], ends[g0:g1] - table.group_start[g0:g1], axis=0)
        margin = (table.cand[r0:r1].astype(np.float64) - true_rows) @ weights  # (R, S); exact differences
        rank = np.add.reduceat(beats_true(margin).view(np.uint8), starts, axis=0, dtype=np.int32)
        tied = margin == 0.0
        if tied.any():
            higher = rank - np.add.reduceat(tied.view(np.uint8), starts, axis=0, dtype=np.int32)
        else:
            higher = rank
        yield _Block(g0, g1, rank, higher, np.maximum.reduceat(margin, starts, axis=0))
        g0 = g1


@dataclass
class SubsetCounts:
    """What every subset got right and wrong on one table (counts over ``n_images`` images).

    ``wrong[j, s]``: images top-``topk[j]`` wrong; ``ties[j, s]``: images whose top-k outcome a tie
    decided (counted wrong); ``both_wrong[j, s]``: images wrong in subset s and in the reference
    (e.g. the baseline; None without one), ``ref_wrong[j]`` images wrong in the reference;
    ``nll`` / ``ece`` / ``brier`` (S,) calibration (None unless asked; Brier needs a table built
    with ``gram=True``).
    """

    n_images: int
    topk: tuple[int, ...]
    wrong: np.ndarray
    ties: np.ndarray
    both_wrong: np.ndarray | None = None
    ref_wrong: np.ndarray | None = None
    nll: np.ndarray | None = None
    ece: np.ndarray | None = None
    brier: np.ndarray | None = None

    @property
    def errors(self) -> np.ndarray:
        """(K, S) error fractions (NaN without images)."""
        return self.wrong / self.n_images if self.n_images else np.full(self.wrong.shape, np.nan)

    def error_intervals(self) -> tuple[np.ndarray, np.ndarray]:
        """95% Wilson intervals of the errors: (lo, hi), each (K, S)."""
        return intervals.wilson(self.wrong, self.n_images)

    def change_intervals(self) -> tuple[np.ndarray, np.ndarray]:
        """95% Newcombe (method 10) paired intervals of error minus reference error: (lo, hi), (K, S)."""
        if self.both_wrong is None or self.ref_wrong is None:
            raise ValueError("no reference: pass reference_wrong to subset_counts")
        n10 = self.wrong - self.both_wrong
        n01 = self.ref_wrong[:, None] - self.both_wrong
        return intervals.newcombe_paired(self.both_wrong, n10, n01, self.n_images)


def subset_counts(table: CandidateTable, weights: np.ndarray, *, topk: Sequence[int] = TOPK,
                  reference_wrong: np.ndarray | None = None, calibration: bool = False,
                  block_elems: int = 1 << 22) -> SubsetCounts:
    """Count errors, ties (and, optionally, paired outcomes and calibration) of every subset.

    ``weights`` (M, S) from :func:`subset_matrix` (a column's scale does not matter).
    ``reference_wrong`` (n_images, K) bool: per image, is the reference (the baseline) wrong at
    each k; it adds the paired counts. ``calibration`` adds NLL, ECE and (with a Gram table) Brier.
    """
    weights = np.asarray(weights, dtype=np.float64)
    kk = np.asarray(topk)
    n_sub = weights.shape[1]
    wrong = np.zeros((len(kk), n_sub), np.int64)
    ties = np.zeros_like(wrong)
    both = None if reference_wrong is None else np.zeros_like(wrong)
    cal = _Calibrator(table, weights) if calibration else None
    for blk in _blocks(table, weights, block_elems):
        wrong_k = blk.rank[None] >= kk[:, None, None]  # (K, G, S)
        wrong += np.count_nonzero(wrong_k, axis=1)
        if blk.higher is not blk.rank:
            ties += np.count_nonzero(wrong_k & (blk.higher[None] < kk[:, None, None]), axis=1)
        if both is not None:
            ref = reference_wrong[table.group_image[blk.g0:blk.g1]].T  # (K, G)
            both += np.count_nonzero(wrong_k & ref[:, :, None], axis=1)
        if cal is not None:
            cal.add(table.group_image[blk.g0:blk.g1], blk)
    out = SubsetCounts(table.n_images, tuple(int(k) for k in kk), wrong, ties, both,
                       None if reference_wrong is None else np.asarray(reference_wrong).sum(0).astype(np.int64))
    if cal is not None:
        out.nll, out.ece, out.brier = cal.result()
    return out


class _Calibrator:
    """NLL, ECE and Brier of every subset's mixture, from the table (see the module docstring)."""

    def __init__(self, table: CandidateTable, weights: np.ndarray) -> None:
        self.table = table
        self.wsum = weights.sum(axis=0)
        self.wn = weights / self.wsum
        self.true_mix = table.true.astype(np.float64) @ self.wn  # (n, S): mixed p(y)
        self.conf = self.true_mix.copy()  # top-1 confidence: p(y) unless a candidate is higher
        self.correct = np.ones(self.true_mix.shape, dtype=bool)

    def add(self, images: np.ndarray, blk: _Block) -> None:
        self.conf[images] += np.maximum(blk.top_margin, 0.0) / self.wsum
        self.correct[images] = blk.rank == 0

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        n = self.table.n_images
        if n == 0:
            nan = np.full(self.wn.shape[1], np.nan)
            return nan, nan, nan
        nll = -np.log(np.maximum(self.true_mix, NLL_EPS)).mean(axis=0)
        ece = ece_columns(self.conf, self.correct)
        brier = None
        if self.table.gram is not None:
            m = self.table.n_members
            outer = (self.wn[:, None, :] * self.wn[None, :, :]).reshape(m * m, -1)  # (M*M, S)
            sumsq = self.table.gram.reshape(n, m * m) @ outer  # (n, S): sum_c (mixed p(c))^2
            brier = (sumsq - 2 * self.true_mix + 1.0).mean(axis=0)
        return nll, ece, brier


def subset_errors(table: CandidateTable, weights: np.ndarray, *, topk: Sequence[int] = TOPK,
                  block_elems: int = 1 << 22) -> np.ndarray:
    """Top-k errors of every subset: (len(topk), S) fractions in [0, 1] (NaN without images).

    ``weights`` is (M, S) from :func:`subset_matrix`. Work is done in blocks of about
    ``block_elems`` (rows x subsets) so memory stays bounded.
    """
    return subset_counts(table, weights, topk=topk, block_elems=block_elems).errors


def image_ranks(table: CandidateTable, weights: np.ndarray, *, block_elems: int = 1 << 22) -> np.ndarray:
    """(n_images, S) int32: the rank of each image's true class in every subset (tie rule applied)."""
    weights = np.asarray(weights, dtype=np.float64)
    out = np.zeros((table.n_images, weights.shape[1]), dtype=np.int32)
    for blk in _blocks(table, weights, block_elems):
        out[table.group_image[blk.g0:blk.g1]] = blk.rank
    return out


def reference_errors(probs: Sequence[np.ndarray], labels: np.ndarray, subset: Sequence[int], *,
                     member_weights: Sequence[float] | None = None, topk: Sequence[int] = TOPK) -> list[float]:
    """Plain dense evaluation of one subset (for tests and small data): mean, then the rank of y."""
    w = np.ones(len(probs)) if member_weights is None else np.asarray(member_weights, dtype=np.float64)
    avg = sum(w[m] * np.asarray(probs[m], dtype=np.float64) for m in subset) / sum(w[m] for m in subset)
    rank = true_class_rank(avg, np.asarray(labels))
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
    """One evaluated configuration. Errors are fractions; changes are vs the baseline (same units).

    ``*_ci``: 95% intervals (errors: Wilson; changes: Newcombe's paired method 10 on the same
    images); ``d_*_sig``: the change's interval excludes 0. ``ties_*``: images whose outcome a tie
    decided (counted wrong). ``nll`` (nats, true-class probability clipped at 1e-12), ``ece`` (15
    equal-width bins of top-1 confidence) and ``brier`` (sum over classes): calibration of the mixture.
    """

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
    top1_ci: tuple[float, float] = (math.nan, math.nan)
    top5_ci: tuple[float, float] = (math.nan, math.nan)
    d_top1_ci: tuple[float, float] = (math.nan, math.nan)
    d_top5_ci: tuple[float, float] = (math.nan, math.nan)
    d_top1_sig: bool = False
    d_top5_sig: bool = False
    ties_top1: int = 0
    ties_top5: int = 0
    nll: float = math.nan
    ece: float = math.nan
    brier: float = math.nan


@dataclass(frozen=True)
class SizeRow:
    """One row of the report: configurations of one (classifier set, protocol, number of models).

    ``mean_*``: plain averages over the evaluated subsets of that size (descriptive, no interval).
    """

    classifiers: str
    protocol: str
    n_models: int
    n_crops: int
    cost: int
    n_subsets: int
    best: Config  # lowest rank_by error (ties: the other error, then first in subset order)
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
        raise UsageError(f"rank_by must be 'top1' or 'top5', got {rank_by!r}")
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


def _greedy_order(tab: CandidateTable, rank_by: str, member_weights) -> list[int]:
    path = greedy_path(tab, rank_by=rank_by, stop=False, member_weights=member_weights)
    order: list[int] = []
    for sub, _, _ in path:
        order.extend(m for m in sub if m not in order)
    return order


def _common_images(members: Sequence[MemberScores]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, keep): the shared labels and the images valid and labelled in every member."""
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise UsageError(f"member names must be unique: {names}")
    labels = np.asarray(members[0].labels, dtype=np.int64)
    keep = np.ones(labels.shape[0], dtype=bool)
    for m in members:
        if np.asarray(m.labels).shape != labels.shape or not np.array_equal(m.labels, labels):
            raise InputError(f"member {m.name} was scored on different images or labels than {names[0]}")
        if m.valid is not None:
            keep &= np.asarray(m.valid, dtype=bool)
    return labels, keep & (labels >= 0)  # unlabelled images cannot be scored


def _check_coverage(members: Sequence[MemberScores], protocols: Sequence[str],
                    heads_of: Mapping[str, Mapping[str, float]]) -> dict[str, int]:
    """Every member has every (protocol, head); returns the crops per image of each protocol."""
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
    return crops


def _baseline_index(names: Sequence[str], singles: np.ndarray, baseline: str | int | None,
                    where: str) -> tuple[int, str]:
    """(member index, rule text) of the baseline: the lowest top-1 error, or the user's choice
    (an index, a name, or a path whose file name is a member's)."""
    if baseline is None:
        b = min(range(len(names)), key=lambda i: (singles[0, i], i))
        return b, f"member with the lowest top-1 error at {where} (first listed on ties)"
    if isinstance(baseline, int) or (isinstance(baseline, str) and baseline.isdigit() and baseline not in names):
        b = int(baseline)
        if not 0 <= b < len(names):
            raise UsageError(f"baseline index {b} out of range 0..{len(names) - 1}")
    else:
        matches = [i for i, nm in enumerate(names) if nm == baseline or Path(nm).name == Path(str(baseline)).name]
        if not matches:
            raise UsageError(f"baseline {baseline!r} is not one of the members {list(names)}")
        b = matches[0]
    return b, f"chosen by the user, at {where}"


@dataclass
class _Setup:
    """What the configuration loop shares: members, tables and the baseline's outcomes."""

    members: Sequence[MemberScores]
    names: list[str]
    labels: np.ndarray
    keep: np.ndarray
    heads_of: dict[str, dict[str, float]]
    crops: dict[str, int]
    member_weights: Sequence[float] | None
    base_wrong: np.ndarray | None = None  # (n_images, K) bool
    base_err: tuple[float, float] = (math.nan, math.nan)

    def table(self, c: str, p: str) -> CandidateTable:
        return build_table([[(m.probs[(p, h)], w) for h, w in self.heads_of[c].items()] for m in self.members],
                           self.labels, self.keep, gram=True)

    def configs(self, c: str, p: str, subsets: Sequence[tuple[int, ...]], counts: SubsetCounts) -> list[Config]:
        """One :class:`Config` per subset, with intervals, ties and calibration."""
        err, (lo, hi) = counts.errors, counts.error_intervals()
        dlo, dhi = counts.change_intervals()
        sig = intervals.excludes_zero(dlo, dhi)
        pair = lambda a, b, j, s: (float(a[j, s]), float(b[j, s]))  # noqa: E731
        out = []
        for s, sub in enumerate(subsets):
            e1, e5 = float(err[0, s]), float(err[1, s])
            out.append(Config(
                classifiers=c, protocol=p, members=tuple(self.names[i] for i in sub), n_models=len(sub),
                n_crops=self.crops[p], cost=len(sub) * self.crops[p],
                seconds=float(sum(self.members[i].protocol_seconds(p) for i in sub)), top1=e1, top5=e5,
                d_top1=e1 - self.base_err[0], d_top5=e5 - self.base_err[1],
                top1_ci=pair(lo, hi, 0, s), top5_ci=pair(lo, hi, 1, s),
                d_top1_ci=pair(dlo, dhi, 0, s), d_top5_ci=pair(dlo, dhi, 1, s),
                d_top1_sig=bool(sig[0, s]), d_top5_sig=bool(sig[1, s]),
                ties_top1=int(counts.ties[0, s]), ties_top5=int(counts.ties[1, s]),
                nll=float(counts.nll[s]), ece=float(counts.ece[s]), brier=float(counts.brier[s])))
        return out


def _set_baseline(st: _Setup, base_tab: CandidateTable, baseline: str | int | None, base_c: str, base_p: str,
                  where: str) -> tuple[Config, str]:
    """Choose the baseline on its table, record its errors and per-image outcomes in ``st``;
    returns (its configuration, the rule text)."""
    n_members = len(st.names)
    singles = subset_errors(base_tab, subset_matrix([(i,) for i in range(n_members)], n_members))
    b, rule = _baseline_index(st.names, singles, baseline, where)
    st.base_err = (float(singles[0, b]), float(singles[1, b]))
    only_b = subset_matrix([(b,)], n_members)
    st.base_wrong = image_ranks(base_tab, only_b) >= np.asarray(TOPK)[None, :]
    counts = subset_counts(base_tab, only_b, reference_wrong=st.base_wrong, calibration=True)
    return st.configs(base_c, base_p, [(b,)], counts)[0], rule


def _size_rows(configs: Sequence[Config], metric: int, base_err: tuple[float, float]) -> list[SizeRow]:
    """Per number of models: the best configuration and the means (configs of one (c, p))."""
    group: dict[int, list[Config]] = {}
    for cfg in configs:
        group.setdefault(cfg.n_models, []).append(cfg)
    rows = []
    for k, cfgs in sorted(group.items()):
        best = min(cfgs, key=lambda x: ((x.top1, x.top5)[metric], (x.top1, x.top5)[1 - metric]))
        mt1 = float(np.mean([x.top1 for x in cfgs]))
        mt5 = float(np.mean([x.top5 for x in cfgs]))
        rows.append(SizeRow(best.classifiers, best.protocol, k, best.n_crops, k * best.n_crops, len(cfgs), best,
                            mt1, mt5, float(np.mean([x.seconds for x in cfgs])), mt1 - base_err[0], mt5 - base_err[1]))
    return rows


def _subset_rule(n_members: int, n_subsets: int, max_exhaustive: int, per_size: int, seed: int, where: str) -> str:
    if n_members <= max_exhaustive:
        return f"all {n_subsets} non-empty subsets of {n_members} members"
    return (f"{n_subsets} subsets of {n_members} members: per size, the greedy prefix "
            f"(ranked at {where}) plus {per_size} seeded random subsets (seed {seed})")


def _prepare(members, protocols, classifier_sets, aux_weight, member_weights) -> _Setup:
    if not members:
        raise ValueError("no members to compare")
    labels, keep = _common_images(members)
    heads_of = {c: parse_classifiers(c, aux_weight=aux_weight) for c in classifier_sets}
    crops = _check_coverage(members, protocols, heads_of)
    return _Setup(members, [m.name for m in members], labels, keep, heads_of, crops, member_weights)


def compare_configurations(
    members: Sequence[MemberScores],
    protocols: Sequence[str],
    classifier_sets: Sequence[str] = ("main",),
    *,
    baseline: str | int | None = None,
    baseline_protocol: str | None = None,
    member_weights: Sequence[float] | None = None,
    aux_weight: float = AUX_WEIGHT,
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
    protocol, that classifier set), with a paired interval. ``rank_by`` picks the error that "best
    subset" and greedy use.
    """
    metric = _metric_index(rank_by)
    st = _prepare(members, protocols, classifier_sets, aux_weight, member_weights)
    n_members, base_c = len(members), classifier_sets[0]
    base_p = baseline_protocol or ("center" if "center" in protocols else protocols[0])
    if base_p not in protocols:
        raise UsageError(f"baseline protocol {base_p!r} is not among the protocols {list(protocols)}")
    where = f"protocol {base_p!r}, classifiers {base_c!r}"
    base_tab = st.table(base_c, base_p)
    base_cfg, rule = _set_baseline(st, base_tab, baseline, base_c, base_p, where)
    order = _greedy_order(base_tab, rank_by, member_weights) if n_members > max_exhaustive else None
    del base_tab
    subsets = select_subsets(n_members, max_exhaustive=max_exhaustive, per_size=per_size, seed=seed, order=order)
    weights = subset_matrix(subsets, n_members, member_weights)
    configs: list[Config] = []
    rows: list[SizeRow] = []
    paths: dict[tuple[str, str], list[GreedyStep]] = {}
    cand_rows: dict[tuple[str, str], int] = {}
    for c in classifier_sets:
        for p in protocols:
            tab = st.table(c, p)  # one table in memory at a time
            cfgs = st.configs(c, p, subsets, subset_counts(tab, weights, reference_wrong=st.base_wrong,
                                                           calibration=True))
            configs += cfgs
            rows += _size_rows(cfgs, metric, st.base_err)
            if greedy:
                paths[(c, p)] = [GreedyStep(tuple(st.names[i] for i in sub), e1, e5)
                                 for sub, e1, e5 in greedy_path(tab, rank_by=rank_by, member_weights=member_weights)]
            cand_rows[(c, p)] = tab.n_rows
    return Comparison(st.names, list(protocols), list(classifier_sets), int(st.keep.sum()), int((~st.keep).sum()),
                      base_cfg, rule, configs, rows, paths,
                      _subset_rule(n_members, len(subsets), max_exhaustive, per_size, seed, where), rank_by, cand_rows)


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
