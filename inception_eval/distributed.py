"""Sharding a scoring run across ``torchrun`` processes and gathering the ranks' rows.

Images are sharded strided (rank r takes positions r, r + W, ...: every image exactly once, no
padding). The ranks' rows are gathered with ``all_gather_object`` on a gloo group: the gather moves
CPU numpy rows and the model itself never communicates, so every rank ends with the full, identical
result. Without ``WORLD_SIZE`` > 1 (and no group already set up) everything is a no-op for rank 0
of a world of 1.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch

__all__ = ["DistContext", "process_group", "shard", "rank_device", "barrier", "gather"]


@dataclass(frozen=True)
class DistContext:
    """This process's ``rank`` in a world of ``world`` processes; ``owns_group``: this module set up
    the process group (and tears it down)."""

    rank: int = 0
    world: int = 1
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _init() -> DistContext:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available():
        dist.init_process_group("gloo")
        return DistContext(dist.get_rank(), dist.get_world_size(), True)
    return DistContext()


@contextmanager
def process_group() -> Iterator[DistContext]:
    """The :class:`DistContext` of this process; a gloo group is set up under ``torchrun`` (and
    destroyed on exit when this call set it up)."""
    ctx = _init()
    try:
        yield ctx
    finally:
        if ctx.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


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


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op for a world of 1)."""
    if ctx.world > 1:
        import torch.distributed as dist

        dist.barrier()


def gather(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` for a world of 1)."""
    if ctx.world == 1:
        return [obj]
    import torch.distributed as dist

    out: list = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out
