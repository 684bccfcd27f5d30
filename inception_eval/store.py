"""Per-image scoring results on disk, written as they are computed, so a run resumes after a crash.

On-disk layout (one folder per cache key; everything little-endian, C order)::

    <cache_dir>/<digest[:24]>/
        key.json                 the full CacheKey (human-readable) + "digest", "num_images",
                                 "num_classes", "entries": ["<protocol>|<head>", ...]
        status.u8                (N,) uint8 per image: 0 pending, 1 done, 2 unreadable (skipped)
        probs.<k>.f32            (N, C) float32: entry k of "entries" (probabilities averaged
                                 over that protocol's views, for that head); row i valid iff status 1
        skipped.jsonl            {"index": i, "path": ..., "reason": ...} per unreadable image
        nviews.i32               (N,) int32, written by the engine: forward views (unique views)
                                 each stored image needed
        seconds.txt              written by the engine: wall seconds all runs spent computing rows

Write order per finished batch of images: probability rows, flush; then status bytes, flush. A
process killed at any point (Ctrl-C, kill -9) leaves rows whose status is still 0, and those are
simply recomputed: a status byte of 1 is only written after its rows. Several processes (the ranks
of a distributed run) may write disjoint rows of the same folder; rank 0 creates it.

The key holds everything that changes the numbers: checkpoint sha256, each protocol's full
definition, heads, crop size, interpolation, averaging method, precision, device type and the
dataset signature (files, labels, sizes, mtimes, order). Any change gives a different folder, so
stale results are never reused. ``max_batch`` and ``workers`` are not in the key: they do not change
which computations are done (see engine docs for the float-rounding note).

Readers (e.g. the ensemble) should prefer ``engine.score()``, which returns the cached results
without recomputing; :func:`open_store` + :meth:`ResultStore.load` read a folder directly.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

PENDING, DONE, SKIPPED = 0, 1, 2
STORE_VERSION = 1


@dataclass(frozen=True)
class CacheKey:
    """Everything that determines the stored numbers. ``digest()`` names the store folder."""

    checkpoint_sha256: str
    protocols: tuple[str, ...]          # full definitions (repr), in request order
    heads: tuple[str, ...]
    crop_size: int
    interpolation: str
    averaging: str
    precision: str
    device: str                         # device type: "cpu" or "cuda"
    dataset_signature: str
    num_images: int
    num_classes: int
    extra: tuple[tuple[str, str], ...] = field(default=())
    version: int = STORE_VERSION

    def as_dict(self) -> dict:
        d = asdict(self)
        d["protocols"] = list(self.protocols)
        d["heads"] = list(self.heads)
        d["extra"] = [list(x) for x in self.extra]
        return d

    def digest(self) -> str:
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def entry_name(protocol: str, head: str) -> str:
    return f"{protocol}|{head}"


class ResultStore:
    """Rows of per-image results for ``entries`` (``(protocol, head)`` pairs) over ``num_images``.

    In memory when ``folder`` is None, else memory-mapped files in ``folder`` (layout in the module
    doc). ``status`` is (N,) uint8; ``probs[(protocol, head)]`` is (N, C) float32.
    """

    def __init__(self, folder: Path | None, entries: Sequence[tuple[str, str]], num_images: int,
                 num_classes: int, *, create: bool = True, key: CacheKey | None = None) -> None:
        self.folder = folder
        self.entries = [tuple(e) for e in entries]
        self.num_images = int(num_images)
        self.num_classes = int(num_classes)
        self._skipped_file = None
        n, c = self.num_images, self.num_classes
        if folder is None:
            self.status = np.zeros(n, dtype=np.uint8)
            self.probs = {e: np.zeros((n, c), dtype=np.float32) for e in self.entries}
            self._reasons: dict[int, tuple[str, str]] = {}
            return
        folder.mkdir(parents=True, exist_ok=True)
        sizes = {"status.u8": n}
        sizes.update({f"probs.{k}.f32": n * c * 4 for k in range(len(self.entries))})
        meta_path = folder / "key.json"
        ok = meta_path.is_file() and all((folder / f).is_file() and (folder / f).stat().st_size == s
                                         for f, s in sizes.items())
        if ok:
            try:
                meta = json.loads(meta_path.read_text())
                ok = (meta.get("entries") == [entry_name(*e) for e in self.entries]
                      and meta.get("num_images") == n and meta.get("num_classes") == c
                      and (key is None or meta.get("digest") == key.digest()))
            except (OSError, ValueError):
                ok = False
        if not ok:
            if not create:
                raise FileNotFoundError(f"{folder}: no complete result store")
            # Fresh (or damaged) store: sized zero-filled files; key.json written last marks it usable.
            for f, s in sizes.items():
                with open(folder / f, "wb") as fh:
                    fh.truncate(s)
            (folder / "skipped.jsonl").write_text("")
            for extra in ("nviews.i32", "seconds.txt"):  # the engine's side files start over too
                (folder / extra).unlink(missing_ok=True)
            meta = {"digest": key.digest() if key else None, "num_images": n, "num_classes": c,
                    "entries": [entry_name(*e) for e in self.entries],
                    "key": key.as_dict() if key else None}
            tmp = folder / "key.json.tmp"
            tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
            os.replace(tmp, meta_path)
        self.status = np.memmap(folder / "status.u8", dtype=np.uint8, mode="r+", shape=(n,)) if n else np.zeros(0, np.uint8)
        self.probs = {}
        for k, e in enumerate(self.entries):
            path = folder / f"probs.{k}.f32"
            self.probs[e] = (np.memmap(path, dtype=np.float32, mode="r+", shape=(n, c)) if n * c
                             else np.zeros((n, c), np.float32))
        self._reasons = {}

    # ---- writing -------------------------------------------------------------------------
    def write(self, indices: Sequence[int], rows: dict[tuple[str, str], np.ndarray]) -> None:
        """Store finished images: ``rows[(protocol, head)]`` is (len(indices), C); marks them done."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            return
        for e in self.entries:
            self.probs[e][idx] = rows[e]
        self._flush(self.probs.values())
        self.status[idx] = DONE
        self._flush([self.status])

    def write_skipped(self, index: int, path: str, reason: str) -> None:
        """Record an unreadable image (status 2) with the reason."""
        self._reasons[int(index)] = (path, reason)
        if self.folder is not None:
            with open(self.folder / "skipped.jsonl", "a") as f:
                f.write(json.dumps({"index": int(index), "path": path, "reason": reason}) + "\n")
        self.status[int(index)] = SKIPPED
        self._flush([self.status])

    def _flush(self, arrays: Iterable[np.ndarray]) -> None:
        if self.folder is None:
            return
        for a in arrays:
            if isinstance(a, np.memmap):
                a.flush()

    # ---- reading -------------------------------------------------------------------------
    def reasons(self) -> dict[int, tuple[str, str]]:
        """{index: (path, reason)} of the unreadable images recorded so far."""
        out = dict(self._reasons)
        if self.folder is not None and (self.folder / "skipped.jsonl").is_file():
            for line in (self.folder / "skipped.jsonl").read_text().splitlines():
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill: that image's status is not 2 yet either
                out[int(r["index"])] = (r["path"], r["reason"])
        return out

    def done_count(self) -> int:
        return int((np.asarray(self.status) != PENDING).sum())

    def rows(self, indices: Sequence[int]) -> dict:
        """Copies of ``status`` and every entry's rows at ``indices`` (for gathering)."""
        idx = np.asarray(indices, dtype=np.int64)
        return {"indices": idx, "status": np.array(self.status[idx]),
                "probs": {e: np.array(self.probs[e][idx]) for e in self.entries}}

    def close(self) -> None:
        self._flush([self.status, *self.probs.values()])


def default_cache_dir() -> Path:
    """Where scores are cached when no folder is given: ``$INCEPTION_EVAL_CACHE``, else
    ``$XDG_CACHE_HOME/inception-eval/scores`` (``~/.cache/inception-eval/scores``). ``score`` and
    ``compare`` share it, so a checkpoint scored by one is reused by the other."""
    env = os.environ.get("INCEPTION_EVAL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "inception-eval" / "scores"


def store_folder(cache_dir: str | os.PathLike, key: CacheKey) -> Path:
    """The folder that holds ``key``'s results under ``cache_dir``."""
    return Path(cache_dir) / key.digest()[:24]


def open_store(cache_dir: str | os.PathLike | None, key: CacheKey, entries: Sequence[tuple[str, str]],
               *, create: bool = True) -> ResultStore:
    """Open (or create) the store for ``key``; in memory when ``cache_dir`` is None."""
    folder = store_folder(cache_dir, key) if cache_dir is not None else None
    return ResultStore(folder, entries, key.num_images, key.num_classes, create=create, key=key)
