"""Sharding a scoring run across ``torchrun`` processes, gathering the ranks' rows, and stopping
cleanly when a process of the job dies or hangs.

Images are sharded strided (rank r takes positions r, r + W, ...: every image exactly once, no
padding). The ranks' rows are gathered with ``all_gather_object`` on a gloo group: the gather moves
CPU numpy rows and the model itself never communicates, so every rank ends with the full, identical
result. Without ``WORLD_SIZE`` > 1 (and no group already set up) everything is a no-op for rank 0
of a world of 1.

Failure of a peer (a process killed, crashed, stopped or hung; the host of the rendezvous store
gone). Every rank beats a counter in the job's rendezvous store every :data:`HEARTBEAT_SECONDS`
and watches the others' counters from a background thread. A rank whose counter has not moved for
the peer timeout (:data:`DEFAULT_PEER_TIMEOUT_SECONDS`, or ``$INCEPTION_EVAL_PEER_TIMEOUT`` in
seconds), or that left the job with an error, stops every other rank with
:class:`PeerFailureError` within that timeout plus one beat, whatever they are doing (scoring,
waiting for a lock, or waiting at :func:`barrier` / :func:`gather`, which wait on the store, not in
a blocking collective, until every rank has arrived). Under ``torchrun`` the agent also stops the
other processes with SIGTERM as soon as one exits (about a second): that, too, raises
:class:`PeerFailureError`. Rows already scored are in the result store, so running the same
command again computes only the missing images. Not detected: a rank whose main thread is stuck
while its process still runs Python (its heartbeat thread keeps beating).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterator

import torch

from inception_aug.errors import InputError, UsageError

__all__ = [
    "DEFAULT_PEER_TIMEOUT_SECONDS", "HEARTBEAT_SECONDS", "COLLECTIVE_TIMEOUT_SECONDS", "PEER_TIMEOUT_ENV",
    "PeerFailureError", "DistContext", "peer_timeout", "process_group", "shard", "rank_device", "barrier", "gather",
]

#: A peer silent this long (no heartbeat) is declared gone, seconds.
DEFAULT_PEER_TIMEOUT_SECONDS = 60.0
#: Environment variable overriding :data:`DEFAULT_PEER_TIMEOUT_SECONDS` (seconds, > 0).
PEER_TIMEOUT_ENV = "INCEPTION_EVAL_PEER_TIMEOUT"
#: Interval of the heartbeats and of the peer checks, seconds.
HEARTBEAT_SECONDS = 1.0
#: The gloo group's own timeout: a backstop for one collective, entered only once every rank has
#: arrived at it (so it never covers waiting for a slower rank's scoring), seconds.
COLLECTIVE_TIMEOUT_SECONDS = 1800.0

_RUNS = 0  # process groups this process has set up (names each run's keys in the store)
_RESUME = ("rows already scored are kept in the result store (unless --no-cache): run the same command again "
           "to resume (only the missing images are computed)")


class PeerFailureError(InputError, RuntimeError):
    """Another process of this ``torchrun`` job died, hung or failed, or this one was told to stop
    (SIGTERM); the message says which and how to resume (exit 1)."""


def peer_timeout() -> float:
    """Seconds of silence after which a peer is declared gone: ``$INCEPTION_EVAL_PEER_TIMEOUT`` or
    :data:`DEFAULT_PEER_TIMEOUT_SECONDS`."""
    raw = os.environ.get(PEER_TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_PEER_TIMEOUT_SECONDS
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"{PEER_TIMEOUT_ENV} must be a number of seconds > 0, got {raw!r}")
    return value


def _lost_store(e: BaseException) -> str:
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    return f"lost contact with the job's rendezvous store ({first}): rank 0 or the torchrun agent has exited"


class _Watch:
    """Heartbeats of this rank and the watch over the others', through the rendezvous store."""

    def __init__(self, store: Any, rank: int, world: int, timeout: float) -> None:
        self.store, self.rank, self.world, self.timeout = store, rank, world, timeout
        self.failure: str | None = None
        self.syncs = 0
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self.interrupt = False  # True while SIGUSR1 raises PeerFailureError in the main thread
        self.reported = False  # a PeerFailureError has been raised in the main thread
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="inception-eval-heartbeat", daemon=True)

    def start(self) -> None:
        self.store.add(f"beat/{self.rank}", 1)
        self._thread.start()

    def _loop(self) -> None:
        seen = {r: (-1, time.monotonic()) for r in range(self.world) if r != self.rank}
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.store.add(f"beat/{self.rank}", 1)
                for r in list(seen):
                    seen[r] = self._check(r, *seen[r])
                    if seen[r] is None:
                        del seen[r]
            except Exception as e:  # the store's host (rank 0 or torchrun's agent) is gone
                if not self._stop.is_set():
                    self.fail(_lost_store(e))
            if self.failure is not None:
                return

    def _check(self, r: int, last: int, since: float) -> tuple[int, float] | None:
        """(beat count, when it last moved) of rank ``r``; None once it has left the job cleanly."""
        if self.store.check([f"left/{r}"]):
            how = self.store.get(f"left/{r}").decode()
            if how != "ok":
                self.fail(f"rank {r} of {self.world} stopped: {how}")
            return None
        beats = self.store.add(f"beat/{r}", 0)
        now = time.monotonic()
        if beats != last:
            return beats, now
        if now - since > self.timeout:
            self.fail(f"rank {r} of {self.world} stopped responding: no heartbeat for {self.timeout:g} s "
                      f"(killed, crashed or hung)")
        return last, since

    def fail(self, reason: str) -> None:
        """Record ``reason`` and interrupt the main thread (SIGUSR1 -> :class:`PeerFailureError`)."""
        with self.lock:
            if self.failure is None:
                self.failure = reason
                if self.interrupt and self._main is not None:
                    signal.pthread_kill(self._main, signal.SIGUSR1)

    def error(self, reason: str | None = None) -> PeerFailureError:
        """The error to raise for ``reason`` (default: the recorded failure); marks the failure as
        reported, after which the stop signals are ignored (one error per run, never one raised
        while the first is being handled)."""
        self.reported = True
        return PeerFailureError(f"rank {self.rank}: {reason or self.failure}; {_RESUME}")

    def leave(self, how: str) -> None:
        """Stop beating and tell the others this rank left (``ok`` or the error). After a clean run
        rank 0 (the store's host without torchrun) waits up to the peer timeout for the others to
        leave too, so that none of them loses the store while it finishes."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * HEARTBEAT_SECONDS)
        try:
            self.store.set(f"left/{self.rank}", how)
            end = time.monotonic() + self.timeout
            keys = [f"left/{r}" for r in range(self.world)]
            while self.rank == 0 and how == "ok" and not self.store.check(keys) and time.monotonic() < end:
                time.sleep(0.05)
        except Exception:  # the store is gone: nobody is left to tell
            pass


@dataclass(frozen=True)
class DistContext:
    """This process's ``rank`` in a world of ``world`` processes; ``owns_group``: this module set up
    the process group (and tears it down, and watches the other ranks)."""

    rank: int = 0
    world: int = 1
    owns_group: bool = False
    watch: _Watch | None = field(default=None, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _init() -> DistContext:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return DistContext()
    timeout = peer_timeout()
    # The rendezvous waits for late ranks as long as torch's default (30 min), not the peer timeout.
    store, rank, world = next(dist.rendezvous("env://", timeout=timedelta(seconds=max(1800.0, timeout))))
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world,
                            timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_SECONDS))
    # Keys of this run only: every rank makes the same sequence of runs, so the count agrees.
    global _RUNS
    _RUNS += 1
    watch = _Watch(dist.PrefixStore(f"inception-eval/{_RUNS}/", store), rank, world, timeout)
    watch.start()
    return DistContext(rank, world, True, watch)


@contextmanager
def _stop_signals(watch: _Watch | None) -> Iterator[None]:
    """In the main thread: SIGUSR1 (the watch's interrupt) and SIGTERM (torchrun stopping the job)
    raise :class:`PeerFailureError`; the previous handlers come back on exit."""
    if watch is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_usr1(signum, frame):
        if not watch.reported:
            raise watch.error()

    def on_term(signum, frame):
        if not watch.reported:  # torchrun may signal more than once
            raise watch.error("stopped by SIGTERM (torchrun sends it to every process when one of them fails: "
                              "its report names which; a scheduler when it ends the job)")

    before = {s: signal.signal(s, h) for s, h in ((signal.SIGUSR1, on_usr1), (signal.SIGTERM, on_term))}
    with watch.lock:
        watch.interrupt = True
    try:
        if watch.failure is not None:
            raise watch.error()
        yield
    finally:
        with watch.lock:  # no SIGUSR1 is sent once its handler is being put back
            watch.interrupt = False
        for s, h in before.items():
            signal.signal(s, h)


@contextmanager
def process_group() -> Iterator[DistContext]:
    """The :class:`DistContext` of this process; a gloo group is set up under ``torchrun`` (and
    destroyed on exit when this call set it up), with the peer watch of the module docstring."""
    ctx = _init()
    how = "ok"
    try:
        with _stop_signals(ctx.watch):
            yield ctx
    except BaseException as e:
        how = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500]
        raise
    finally:
        if ctx.owns_group:
            import torch.distributed as dist

            if ctx.watch is not None:
                ctx.watch.leave(how)
            try:
                dist.destroy_process_group()
            except Exception:  # after a failure the group may be half gone: keep the failure's message
                if how == "ok":
                    raise


def shard(n: int, ctx: DistContext) -> list[int]:
    """Positions of ``n`` images that rank ``ctx.rank`` scores: r, r + W, ..."""
    return list(range(ctx.rank, n, ctx.world))


def rank_device(device: str, ctx: DistContext) -> str:
    """``device`` for this rank: a bare ``cuda`` becomes ``cuda:<LOCAL_RANK mod GPUs>`` when several
    processes run; anything else is kept."""
    if ctx.world > 1 and device.startswith("cuda") and ":" not in device:
        local = int(os.environ.get("LOCAL_RANK", ctx.rank))
        return f"cuda:{local % max(1, torch.cuda.device_count())}"
    return device


def _arrive(ctx: DistContext) -> None:
    """Wait, on the store, until every rank has reached this synchronisation point; a peer that dies
    or hangs meanwhile raises :class:`PeerFailureError` (within the peer timeout)."""
    watch = ctx.watch
    if watch is None:
        return
    n = watch.syncs
    watch.syncs += 1
    keys = [f"sync/{n}/{r}" for r in range(ctx.world)]
    try:
        watch.store.set(keys[ctx.rank], "1")
        while not watch.store.check(keys):
            if watch.failure is not None:
                break
            time.sleep(0.02)
    except RuntimeError as e:  # torch.distributed.DistNetworkError and kin: the store's host is gone
        watch.fail(_lost_store(e))
    if watch.failure is not None:
        raise watch.error()


def _collective(what: str, ctx: DistContext, op: Any, *args: Any) -> None:
    try:
        op(*args)
    except RuntimeError as e:  # gloo: a peer's connection closed or the collective timed out
        raise PeerFailureError(f"rank {ctx.rank}: {what} failed: another process of the job has gone "
                               f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); {_RESUME}") from e


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op for a world of 1); :class:`PeerFailureError` if one has gone."""
    if ctx.world > 1:
        import torch.distributed as dist

        _arrive(ctx)
        _collective("barrier", ctx, dist.barrier)


def gather(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` for a world of 1);
    :class:`PeerFailureError` if a rank has gone."""
    if ctx.world == 1:
        return [obj]
    import torch.distributed as dist

    _arrive(ctx)
    out: list = [None] * ctx.world
    _collective("gather", ctx, dist.all_gather_object, out, obj)
    return out
