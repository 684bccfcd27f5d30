"""Packing the views of consecutive images into forward batches of at most ``max_batch`` views.

The views of all images form one stream, cut into batches of exactly ``max_batch`` views (the last
one shorter); an image's views may span two or more batches. Memory is therefore bounded by
``max_batch`` plus the images waiting in the queue, however many images there are. Nothing here
touches a model: :meth:`Batch.scatter` takes the model's outputs for a batch and returns the images
whose views are now all through.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import torch

__all__ = ["PendingImage", "Batch", "pack_batches"]


@dataclass(eq=False)
class PendingImage:
    """One image's union views on their way through the model.

    ``views``: uint8 (U, 3, S, S), U >= 1; ``uses[protocol]``: (view indices int64, weights
    float64) into the U views; ``tags``: a label per view (for messages); ``logits[head]``: float32
    (U, C), filled batch by batch; ``remaining``: views not yet through the model.
    """

    index: int
    path: str
    views: torch.Tensor
    uses: dict = field(default_factory=dict)
    tags: list = field(default_factory=list)
    logits: dict = field(default_factory=dict)
    remaining: int = -1

    def __post_init__(self) -> None:
        if self.views.shape[0] < 1:
            raise ValueError(f"image {self.path} has no views to score")
        if self.remaining < 0:
            self.remaining = int(self.views.shape[0])

    @property
    def num_views(self) -> int:
        return int(self.views.shape[0])


@dataclass
class Batch:
    """One forward pass: ``parts`` are (image, start, stop) slices of images' views, in order."""

    parts: list[tuple[PendingImage, int, int]]

    @property
    def size(self) -> int:
        """Views in the batch."""
        return sum(b - a for _, a, b in self.parts)

    def pixels(self) -> torch.Tensor:
        """uint8 (size, 3, S, S): the parts' views concatenated (a view, not a copy, for one part)."""
        if len(self.parts) == 1:
            im, a, b = self.parts[0]
            return im.views[a:b]
        return torch.cat([im.views[a:b] for im, a, b in self.parts])

    def locate(self, row: int) -> tuple[PendingImage, int]:
        """(image, view index within it) of batch row ``row``."""
        pos = 0
        for im, a, b in self.parts:
            if row < pos + (b - a):
                return im, a + row - pos
            pos += b - a
        raise IndexError(f"row {row} outside a batch of {pos} views")

    def scatter(self, outs: dict[str, torch.Tensor]) -> list[PendingImage]:
        """Store ``outs[head]`` (size, C) rows into the images' ``logits``; returns the images whose
        every view has now been through the model, in stream order."""
        done, pos = [], 0
        for im, a, b in self.parts:
            for h, o in outs.items():
                if h not in im.logits:
                    im.logits[h] = torch.empty((im.num_views, o.shape[1]), dtype=torch.float32)
                im.logits[h][a:b] = o[pos:pos + (b - a)]
            pos += b - a
            im.remaining -= b - a
            if im.remaining == 0:
                done.append(im)
        return done


def pack_batches(images: Iterable[PendingImage], max_batch: int) -> Iterator[Batch]:
    """Batches of exactly ``max_batch`` views (the last one shorter) from the views of ``images``
    in order; images are pulled lazily, only as far as the next batch needs."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    queue: deque = deque()      # (image, start, stop) slices waiting for the model
    queued = 0
    source = iter(images)
    exhausted = False
    while True:
        while queued < max_batch and not exhausted:
            im = next(source, None)
            if im is None:
                exhausted = True
                break
            queue.append((im, 0, im.num_views))
            queued += im.num_views
        if queued == 0:
            return
        parts, taken = [], 0
        while queue and taken < max_batch:
            im, a, b = queue.popleft()
            k = min(b - a, max_batch - taken)
            parts.append((im, a, a + k))
            if a + k < b:
                queue.appendleft((im, a + k, b))
            taken += k
        queued -= taken
        yield Batch(parts)
