"""Per-image scoring results on disk, written as they are computed, so a run resumes after a crash.

The store owns its folder: nothing else opens these files (readers use :class:`ResultStore`,
:func:`stored_prob_files`, :func:`list_stores`).

On-disk layout (one folder per cache key; everything little-endian, C order)::

    <cache_dir>/<digest[:24]>/
        key.json                 the full CacheKey (human-readable) + "digest", "format",
                                 "num_images", "num_classes", "entries": ["<protocol>|<head>", ...],
                                 "about" (checkpoint and data as the run named them; not in the key)
        status.u8                (N,) uint8 per image: 0 pending, 1 done, 2 unreadable (skipped)
        probs.<k>.f32            (N, C) float32: entry k of "entries" (probabilities averaged
                                 over that protocol's views, for that head); row i valid iff status 1
        nviews.i32               (N,) int32: forward views (unique views) each stored image needed
        check.u32                (N,) uint32: CRC-32 of (index, status, every entry's row, nviews)
        skipped.jsonl            {"index": i, "path": ..., "reason": ...} per unreadable image
        seconds.txt              wall seconds all runs spent computing the stored rows
        lock                     empty; a run of this key holds an exclusive flock on it

Guarantees (details in the functions below):

- Crash safety. Per finished batch: rows, view counts and checksums are written and flushed, then
  the status bytes. A process killed at any point (Ctrl-C, kill -9) leaves rows whose status is
  still 0, and those are recomputed. Small files are replaced atomically under unique temporary
  names.
- Verified rows. On open every row whose status is not 0 is checked against its checksum; a row
  that fails (truncated or corrupted file, a status byte without its row) is reported and reset to
  pending, never used. A folder of another ``STORE_FORMAT`` is started afresh with a message.
- One writer per key. A run holds the key's lock from opening the store until it has its result;
  a second run of the same key waits (with a message) and then reads the finished rows. The ranks
  of one distributed run write disjoint rows under rank 0's lock.

The key holds everything that changes the numbers: checkpoint sha256, each protocol's full
definition, heads, crop size, interpolation, averaging method, precision, device type and the
dataset signature (files, labels, sizes, mtimes, order). Any change gives a different folder, so
stale results are never reused. ``max_batch`` and ``workers`` are not in the key: they do not change
which computations are done (see engine docs for the float-rounding note).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from inception_aug.errors import InputError, UsageError
from inception_aug.plain import to_plain

__all__ = [
    "PENDING", "DONE", "SKIPPED", "STORE_VERSION", "STORE_FORMAT", "StoreError", "CacheKey", "ResultStore",
    "entry_name", "default_cache_dir", "store_folder", "open_store", "stored_prob_files", "StoreInfo",
    "list_stores", "remove_stores", "format_stores", "manage_cache",
]

PENDING, DONE, SKIPPED = 0, 1, 2
#: Version of the key schema (part of the digest).
STORE_VERSION = 1
#: Version of the file layout above (``key.json`` "format"); another value starts the folder afresh.
STORE_FORMAT = 2

log = logging.getLogger(__name__)

_KEY_FILE = "key.json"
_LOCK_FILE = "lock"
_SECONDS_FILE = "seconds.txt"
_SKIPPED_FILE = "skipped.jsonl"


class StoreError(InputError):
    """A result store cannot be used (e.g. no file locking on its filesystem); exit code 1."""


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
        """The key as JSON-ready data (lists for the tuples)."""
        return to_plain(asdict(self))

    def digest(self) -> str:
        """Hex sha256 of the sorted JSON of :meth:`as_dict`."""
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def entry_name(protocol: str, head: str) -> str:
    """``"<protocol>|<head>"``: how ``key.json`` names an entry."""
    return f"{protocol}|{head}"


# ------------------------------------------------------------------------------------------------
# Small file helpers
# ------------------------------------------------------------------------------------------------
def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary name unique to this process and call, then
    ``os.replace``: readers see the old or the new file, never a part, and two writers never share
    a temporary file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sized(path: Path, size: int) -> bool:
    """Make ``path`` exactly ``size`` bytes (zero-filled when grown); True when it already was."""
    try:
        if path.stat().st_size == size:
            return True
    except FileNotFoundError:
        pass
    with open(path, "ab") as f:
        f.truncate(size)
    return False


def _memmap(path: Path, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r+", shape=shape)


def _flush(arrays: Iterable[np.ndarray]) -> None:
    for a in arrays:
        if isinstance(a, np.memmap):
            a.flush()


class _KeyLock:
    """An exclusive ``flock`` on ``path``; waits (with a log message) while another process holds it.
    The kernel releases it when the holder exits, however it exits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait: bool = True) -> bool:
        """Take the lock; False only when ``wait`` is False and another process holds it. Should the
        store be removed while this waits, the lock is taken again on the folder made afresh."""
        while True:
            got = self._acquire_once(wait)
            if not got:
                return False
            try:
                same = os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return True
            self.release()
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _acquire_once(self, wait: bool) -> bool:
        try:
            import fcntl
        except ImportError:
            raise StoreError(f"{self.path.parent}: file locking (fcntl) is unavailable on this platform; "
                             "score with --no-cache") from None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    return False
                log.warning("%s: another run of the same checkpoint, data and settings holds this store; "
                            "waiting for it to finish", self.path.parent)
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:
            os.close(fd)
            raise StoreError(f"{self.path}: cannot lock the result store ({e.strerror or e}); the filesystem "
                             "may not support file locks: use a local --cache-dir or --no-cache") from None
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


# ------------------------------------------------------------------------------------------------
# The store
# ------------------------------------------------------------------------------------------------
class ResultStore:
    """Rows of per-image results for ``entries`` (``(protocol, head)`` pairs) over ``num_images``.

    In memory when ``folder`` is None, else memory-mapped files in ``folder`` (layout in the module
    doc). ``status`` is (N,) uint8; ``probs[(protocol, head)]`` is (N, C) float32; ``nviews`` (N,)
    int32. ``notices`` lists what opening found and repaired (also logged as warnings).

    ``create``: start the folder afresh when it holds no usable store (else ``FileNotFoundError``);
    ``verify``: check every stored row's checksum and reset the rows that fail; ``lock``: hold the
    key's exclusive lock until :meth:`close` (waiting while another process holds it); ``about``:
    JSON-plain description written into a new ``key.json`` (checkpoint and data as named).
    """

    def __init__(self, folder: Path | None, entries: Sequence[tuple[str, str]], num_images: int,
                 num_classes: int, *, create: bool = True, key: CacheKey | None = None, verify: bool = True,
                 lock: bool = False, about: dict | None = None) -> None:
        self.folder = folder
        self.entries = [tuple(e) for e in entries]
        self.num_images = int(num_images)
        self.num_classes = int(num_classes)
        self.notices: list[str] = []
        self._reasons: dict[int, tuple[str, str]] = {}
        self._seconds = 0.0
        self._lock: _KeyLock | None = None
        n, c = self.num_images, self.num_classes
        if folder is None:
            self.status = np.zeros(n, dtype=np.uint8)
            self.probs = {e: np.zeros((n, c), dtype=np.float32) for e in self.entries}
            self.nviews = np.zeros(n, dtype=np.int32)
            self.checks = np.zeros(n, dtype=np.uint32)
            return
        folder.mkdir(parents=True, exist_ok=True)
        if lock:
            self._lock = _KeyLock(folder / _LOCK_FILE)
            self._lock.acquire()
        try:
            self._open(create, key, about)
            if verify:
                self._verify()
        except BaseException:
            self.close()
            raise

    # ---- opening -------------------------------------------------------------------------
    def _data_sizes(self) -> dict[str, int]:
        n, c = self.num_images, self.num_classes
        sizes = {"status.u8": n, "nviews.i32": 4 * n, "check.u32": 4 * n}
        sizes.update({f"probs.{k}.f32": n * c * 4 for k in range(len(self.entries))})
        return sizes

    def _meta_problem(self, key: CacheKey | None) -> str | None:
        """None when ``key.json`` describes this store; "" when there is none; else what is wrong."""
        path = self.folder / _KEY_FILE
        if not path.is_file():
            return ""
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            return "key.json is unreadable"
        if meta.get("format", 1) != STORE_FORMAT:
            return f"written in store format {meta.get('format', 1)}, this version uses format {STORE_FORMAT}"
        if not (meta.get("entries") == [entry_name(*e) for e in self.entries]
                and meta.get("num_images") == self.num_images and meta.get("num_classes") == self.num_classes
                and (key is None or meta.get("digest") == key.digest())):
            return "key.json does not match this key"
        return None

    def _open(self, create: bool, key: CacheKey | None, about: dict | None) -> None:
        problem = self._meta_problem(key)
        if problem is not None:
            if not create:
                raise FileNotFoundError(f"{self.folder}: no complete result store ({problem or 'no key.json'})")
            if problem:
                self._notice(f"{self.folder}: {problem}; starting a fresh store")
            self._create(key, about)
        for name, size in self._data_sizes().items():
            if not _sized(self.folder / name, size):
                self._notice(f"{self.folder}: {name} had the wrong size (cut short?); its rows are checked")
        n, c = self.num_images, self.num_classes
        self.status = _memmap(self.folder / "status.u8", np.uint8, (n,))
        self.nviews = _memmap(self.folder / "nviews.i32", np.int32, (n,))
        self.checks = _memmap(self.folder / "check.u32", np.uint32, (n,))
        self.probs = {e: _memmap(self.folder / f"probs.{k}.f32", np.float32, (n, c))
                      for k, e in enumerate(self.entries)}

    def _create(self, key: CacheKey | None, about: dict | None) -> None:
        """Zero-filled files of the right sizes; ``key.json`` written last marks the folder usable."""
        (self.folder / _KEY_FILE).unlink(missing_ok=True)
        for old in self.folder.glob("probs.*.f32"):
            old.unlink()
        for name in (_SECONDS_FILE, *self._data_sizes()):
            (self.folder / name).unlink(missing_ok=True)
        for name, size in self._data_sizes().items():
            with open(self.folder / name, "wb") as fh:
                fh.truncate(size)
        (self.folder / _SKIPPED_FILE).write_text("")
        meta = {"digest": key.digest() if key else None, "format": STORE_FORMAT, "num_images": self.num_images,
                "num_classes": self.num_classes, "entries": [entry_name(*e) for e in self.entries],
                "key": key.as_dict() if key else None, "about": about or {}, "created": time.time()}
        _atomic_write(self.folder / _KEY_FILE, json.dumps(meta, indent=1, sort_keys=True))

    def _verify(self) -> None:
        """Reset to pending every stored row whose checksum fails (and report how many)."""
        stored = np.flatnonzero(np.asarray(self.status) != PENDING)
        bad = [int(i) for i in stored if self._checksum(int(i), int(self.status[i])) != int(self.checks[i])]
        if not bad:
            return
        self.status[bad] = PENDING
        _flush([self.status])
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        self._notice(f"{self.folder}: {len(bad)} stored rows failed their checksum (images {shown}); "
                     "they are recomputed")

    def _notice(self, message: str) -> None:
        self.notices.append(message)
        log.warning("%s", message)

    def _checksum(self, i: int, status: int) -> int:
        """CRC-32 of row ``i``: its index and status, every entry's probabilities, its view count."""
        crc = zlib.crc32(np.array([i, status], dtype="<i8").tobytes())
        for e in self.entries:
            crc = zlib.crc32(np.ascontiguousarray(self.probs[e][i], dtype="<f4").tobytes(), crc)
        return zlib.crc32(np.array([self.nviews[i]], dtype="<i4").tobytes(), crc)

    # ---- writing -------------------------------------------------------------------------
    def write(self, indices: Sequence[int], rows: dict[tuple[str, str], np.ndarray],
              nviews: Sequence[int] | None = None) -> None:
        """Store finished images: ``rows[(protocol, head)]`` is (len(indices), C), ``nviews`` the
        forward views each needed; marks them done (status written last)."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            return
        for e in self.entries:
            self.probs[e][idx] = rows[e]
        self.nviews[idx] = 0 if nviews is None else np.asarray(nviews, dtype=np.int32)
        self._seal(idx, DONE)

    def write_skipped(self, index: int, path: str, reason: str) -> None:
        """Record an unreadable image (status 2, zero rows) with the reason."""
        i = int(index)
        self._reasons[i] = (path, reason)
        for e in self.entries:
            self.probs[e][i] = 0.0
        self.nviews[i] = 0
        if self.folder is not None:
            with open(self.folder / _SKIPPED_FILE, "a") as f:
                f.write(json.dumps({"index": i, "path": path, "reason": reason}) + "\n")
        self._seal(np.array([i]), SKIPPED)

    def _seal(self, idx: np.ndarray, status: int) -> None:
        """Checksums, flush, then the status bytes, flush: a kill in between leaves rows pending."""
        if self.folder is not None:
            self.checks[idx] = [self._checksum(int(i), status) for i in idx]
            _flush([*self.probs.values(), self.nviews, self.checks])
        self.status[idx] = status
        _flush([self.status])

    def write_seconds(self, total: float) -> None:
        """Record ``total`` wall seconds spent computing the stored rows (all runs)."""
        self._seconds = float(total)
        if self.folder is not None:
            _atomic_write(self.folder / _SECONDS_FILE, f"{total:.6f}")

    # ---- reading -------------------------------------------------------------------------
    def read_seconds(self) -> float:
        """Wall seconds all runs spent computing the stored rows (0 when never recorded)."""
        if self.folder is None:
            return self._seconds
        try:
            return float((self.folder / _SECONDS_FILE).read_text())
        except (OSError, ValueError):
            return 0.0

    def reasons(self) -> dict[int, tuple[str, str]]:
        """{index: (path, reason)} of the unreadable images recorded so far."""
        out = dict(self._reasons)
        if self.folder is not None and (self.folder / _SKIPPED_FILE).is_file():
            for line in (self.folder / _SKIPPED_FILE).read_text().splitlines():
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill: that image's status is not 2 yet either
                out[int(r["index"])] = (r["path"], r["reason"])
        return out

    def done_count(self) -> int:
        """Images stored (done or skipped)."""
        return int((np.asarray(self.status) != PENDING).sum())

    def rows(self, indices: Sequence[int]) -> dict:
        """Copies of ``status``, ``nviews`` and every entry's rows at ``indices`` (for gathering)."""
        idx = np.asarray(indices, dtype=np.int64)
        return {"indices": idx, "status": np.array(self.status[idx]), "nviews": np.array(self.nviews[idx]),
                "probs": {e: np.array(self.probs[e][idx]) for e in self.entries}}

    def close(self) -> None:
        """Flush everything and release the key's lock (when held)."""
        if hasattr(self, "status"):
            _flush([self.status, self.nviews, self.checks, *self.probs.values()])
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


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
               *, create: bool = True, verify: bool = True, lock: bool = False,
               about: dict | None = None) -> ResultStore:
    """Open (or create) the store for ``key``; in memory when ``cache_dir`` is None (see
    :class:`ResultStore` for the flags)."""
    folder = store_folder(cache_dir, key) if cache_dir is not None else None
    return ResultStore(folder, entries, key.num_images, key.num_classes, create=create, key=key,
                       verify=verify, lock=lock, about=about)


def stored_prob_files(folder: str | os.PathLike) -> dict[tuple[str, str], tuple[str, tuple[int, int]]]:
    """{(protocol, head): (path, (N, C))} of the raw float32 probability files of the store in
    ``folder``, for readers that stream rows (rows are valid where the store's status is 1).
    Raises ``OSError``/``ValueError``/``KeyError`` when the folder holds no readable store."""
    folder = Path(folder)
    meta = json.loads((folder / _KEY_FILE).read_text())
    n, c = int(meta["num_images"]), int(meta["num_classes"])
    out = {}
    for k, entry in enumerate(meta["entries"]):
        proto, head = entry.split("|", 1)
        path = folder / f"probs.{k}.f32"
        if path.is_file():
            out[(proto, head)] = (str(path), (n, c))
    return out


# ------------------------------------------------------------------------------------------------
# Listing and removing stores (``inception-eval cache``)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreInfo:
    """One store folder as :func:`list_stores` sees it. ``key``: the digest prefix naming the
    folder; ``checkpoint``/``data``: as the run named them; ``settings``: protocols, heads,
    precision, device, crop size, interpolation, averaging; ``rows_done``: images stored (done or
    unreadable) of ``num_images``; ``size_bytes``: all its files; ``modified``: newest file's mtime
    (POSIX seconds); ``in_use``: a run holds its lock; ``problem``: why it is unusable, or "".
    """

    key: str
    folder: str
    checkpoint: str
    checkpoint_sha256: str
    data: str
    settings: dict
    num_images: int
    rows_done: int
    size_bytes: int
    modified: float
    in_use: bool
    problem: str = ""


def _held(folder: Path) -> bool:
    """Whether another process holds ``folder``'s lock (False where locking is unavailable)."""
    if not (folder / _LOCK_FILE).is_file():
        return False
    lock = _KeyLock(folder / _LOCK_FILE)
    try:
        got = lock.acquire(wait=False)
    except StoreError:
        return False
    lock.release()
    return not got


def _describe(folder: Path) -> StoreInfo:
    files = [f for f in folder.iterdir() if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    modified = max((f.stat().st_mtime for f in files), default=folder.stat().st_mtime)
    meta, problem = {}, ""
    try:
        meta = json.loads((folder / _KEY_FILE).read_text())
        if meta.get("format", 1) != STORE_FORMAT:
            problem = f"store format {meta.get('format', 1)} (this version uses {STORE_FORMAT})"
    except (OSError, ValueError):
        problem = "no readable key.json"
    key, about = meta.get("key") or {}, meta.get("about") or {}
    try:
        done = int((np.fromfile(folder / "status.u8", dtype=np.uint8) != PENDING).sum())
    except OSError:
        done = 0
    settings = {k: key.get(k) for k in ("heads", "precision", "device", "crop_size", "interpolation", "averaging")}
    settings["protocols"] = [str(p).split("=", 1)[0] for p in key.get("protocols", [])]
    return StoreInfo(key=folder.name, folder=str(folder), checkpoint=str(about.get("checkpoint", "")),
                     checkpoint_sha256=str(key.get("checkpoint_sha256", "")), data=str(about.get("data", "")),
                     settings=settings, num_images=int(meta.get("num_images") or 0), rows_done=done,
                     size_bytes=size, modified=modified, in_use=_held(folder), problem=problem)


def _is_store_folder(folder: Path) -> bool:
    """A folder named like a store (24 hex digits) with a key.json or a status file in it."""
    name = folder.name
    return (folder.is_dir() and len(name) == 24 and all(ch in "0123456789abcdef" for ch in name)
            and ((folder / _KEY_FILE).exists() or (folder / "status.u8").exists()))


def list_stores(cache_dir: str | os.PathLike) -> list[StoreInfo]:
    """Every store under ``cache_dir``, newest first (an empty list when the folder is absent)."""
    root = Path(cache_dir)
    if not root.is_dir():
        return []
    stores = [_describe(f) for f in sorted(root.iterdir()) if _is_store_folder(f)]
    return sorted(stores, key=lambda s: -s.modified)


def remove_stores(cache_dir: str | os.PathLike, *, keys: Sequence[str] = (), older_than: float | None = None,
                  now: float | None = None) -> tuple[list[StoreInfo], list[StoreInfo]]:
    """Remove the stores under ``cache_dir`` whose key starts with one of ``keys`` or that were last
    written more than ``older_than`` seconds before ``now`` (default: the time now). Returns
    (removed, kept because a run holds them). Raises ``UsageError`` without any criterion or for a
    key prefix that matches no store."""
    if not keys and older_than is None:
        raise UsageError("name the stores to remove: keys and/or older_than")
    stores = list_stores(cache_dir)
    for k in keys:
        if not any(s.key.startswith(k) for s in stores):
            raise UsageError(f"no store under {cache_dir} has a key starting with {k!r}")
    now = time.time() if now is None else now
    chosen = [s for s in stores if any(s.key.startswith(k) for k in keys)
              or (older_than is not None and now - s.modified > older_than)]
    removed, busy = [], []
    for s in chosen:
        lock = _KeyLock(Path(s.folder) / _LOCK_FILE)
        try:
            free = lock.acquire(wait=False)
        except StoreError:
            free = True  # no locking here: nothing can hold it either
        if not free:
            busy.append(s)
            continue
        try:
            shutil.rmtree(s.folder)
        finally:
            lock.release()
        removed.append(s)
    return removed, busy


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def format_stores(stores: Sequence[StoreInfo], now: float | None = None) -> str:
    """A text table of ``stores``: key, rows done, size, age, checkpoint, data, settings."""
    if not stores:
        return "no result stores"
    now = time.time() if now is None else now
    lines = []
    for s in stores:
        st = s.settings
        what = (f"{','.join(st.get('protocols') or [])} heads={','.join(st.get('heads') or [])} "
                f"{st.get('precision')} {st.get('device')} {st.get('crop_size')}px {st.get('interpolation')} "
                f"{st.get('averaging')}")
        flags = (" [in use]" if s.in_use else "") + (f" [{s.problem}]" if s.problem else "")
        lines.append(f"{s.key}  {s.rows_done}/{s.num_images} rows  {_human_bytes(s.size_bytes)}  "
                     f"{(now - s.modified) / 86400:.1f} days old{flags}\n"
                     f"    checkpoint {s.checkpoint or '?'} (sha256 {s.checkpoint_sha256[:12] or '?'})\n"
                     f"    data {s.data or '?'}\n    {what}")
    return "\n".join(lines)


def manage_cache(action: str, cache_dir: str | os.PathLike | None = None, *, keys: Sequence[str] = (),
                 older_than: float | None = None, as_json: bool = False, echo: Any = print) -> None:
    """``inception-eval cache``: ``action`` "list" prints the stores under ``cache_dir`` (default
    :func:`default_cache_dir`), as JSON with ``as_json``; "remove" removes those named by ``keys``
    (digest prefixes) and/or last written over ``older_than`` seconds ago, and says what it did."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if action == "list":
        stores = list_stores(root)
        echo(json.dumps(to_plain(stores), indent=1) if as_json else format_stores(stores))
        return
    if action != "remove":
        raise UsageError(f"unknown cache action {action!r}; expected list or remove")
    removed, busy = remove_stores(root, keys=keys, older_than=older_than)
    for s in removed:
        echo(f"removed {s.folder} ({s.rows_done}/{s.num_images} rows, {_human_bytes(s.size_bytes)})")
    for s in busy:
        echo(f"kept {s.folder}: a run is using it")
    if not removed and not busy:
        echo("nothing to remove")
