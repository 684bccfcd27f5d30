"""Worker side of scoring: load each pending image and cut the union of the protocols' views.

DataLoader workers (or this process, with ``workers=0``) turn dataset positions into
:class:`LoadedItem`: the image's views ready for :mod:`inception_eval.batching`, or why it could not
be read. Only decode errors (``inception_aug.decode.ImageDecodeError``) and the data's own
unreadable-file errors (``inception_eval.data.UnreadableImageError``) mark an image unreadable, to
be skipped and reported. Any other error is a bug: it comes back as ``failure`` (the traceback as
text) and :func:`raise_failure` stops the run naming the image. A worker process that dies (killed
by the operating system, typically its out-of-memory killer) stops the run with
:class:`LoaderWorkerDied`, one line that says what happened and how to resume: the rows already
stored stay in the result store.
"""
from __future__ import annotations

import re
import signal
import traceback
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from inception_aug.decode import ImageDecodeError
from inception_aug.errors import InputError
from inception_eval.batching import PendingImage
from inception_eval.data import ImageDataset, UnreadableImageError
from inception_eval.distributed import PeerFailureError
from inception_eval.protocols import Protocol, union_views
from inception_eval.views import cut_views

__all__ = ["LoadedItem", "ImageLoadError", "LoaderWorkerDied", "ViewSource", "iter_items", "worker_death", "raise_failure"]


class ImageLoadError(RuntimeError):
    """Loading or cutting an image failed with an error that is not a decode error (a bug in a
    loader, the views or the environment); the message names the image and holds the traceback."""


class LoaderWorkerDied(InputError):
    """A DataLoader worker process died while loading images (exit code 1, one line): rows stored
    before it are kept, so rerunning the same command resumes."""


# torch's messages for a worker that vanished: "DataLoader worker (pid 123) is killed by signal:
# Killed." and "DataLoader worker (pid(s) 123) exited unexpectedly".
_WORKER_DIED = re.compile(r"DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\) (is killed by signal: .*|exited unexpectedly.*)")


@dataclass
class LoadedItem:
    """Dataset position ``index`` (file ``path``): ``image`` when its views are cut; else
    ``unreadable`` (the reason, to skip and report) or ``failure`` (a traceback, to stop the run)."""

    index: int
    path: str
    image: PendingImage | None = None
    unreadable: str | None = None
    failure: str | None = None


class ViewSource(torch.utils.data.Dataset):
    """Item k: the :class:`LoadedItem` of image ``indices[k]`` of ``dataset`` with the union of
    ``protocols``' unique views cut with ``interpolation``."""

    def __init__(self, dataset: ImageDataset, indices: Sequence[int], protocols: Sequence[Protocol],
                 interpolation: str) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.protocols = tuple(protocols)
        self.interpolation = interpolation

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> LoadedItem:
        index = self.indices[k]
        path = self.dataset.paths[index]
        try:
            return LoadedItem(index, path, image=self._cut(index, path))
        except ImageDecodeError as e:
            return LoadedItem(index, path, unreadable=e.reason)
        except UnreadableImageError as e:
            return LoadedItem(index, path, unreadable=str(e))
        except PeerFailureError:  # raised by a stop signal while this runs in the main process
            raise
        except Exception:  # a bug: reported with its traceback, never filed as "unreadable"
            return LoadedItem(index, path, failure=traceback.format_exc())

    def _cut(self, index: int, path: str) -> PendingImage:
        img = self.dataset.load(index)
        h, w = img.shape[:2]
        unique, uses = union_views(self.protocols, w, h)
        views = cut_views(img, unique, interpolation=self.interpolation, source=path)
        uses_np = {p: (np.array([i for i, _ in u], dtype=np.int64), np.array([c for _, c in u], dtype=np.float64))
                   for p, u in uses.items()}
        return PendingImage(index, path, views, uses_np, [v.tag for v in unique])


def raise_failure(item: LoadedItem) -> None:
    """Raise :class:`ImageLoadError` for an item that failed with an unexpected error."""
    if item.failure is not None:
        raise ImageLoadError(f"loading image {item.path} (index {item.index}) failed with an unexpected "
                             f"error; stopping (not an unreadable image, so it is not skipped).\n"
                             f"Traceback from the loader:\n{item.failure}")


def _identity(x):
    return x


def _worker_init(_: int) -> None:
    # No cv2.setNumThreads() here: in a forked worker it can deadlock inside OpenCV
    # (pthread_cond_destroy on a thread pool inherited from the parent) whenever the parent has
    # used OpenCV's pool first.
    return None


def iter_items(source: ViewSource, workers: int) -> Iterable[LoadedItem]:
    """``source``'s items in order: from ``workers`` DataLoader processes (0: in this process).

    With workers, torch reports a worker that died through a signal handler, so its RuntimeError
    can surface anywhere in the consuming loop: wrap that loop with :func:`worker_death` to turn it
    into :class:`LoaderWorkerDied`."""
    if workers <= 0 or len(source) == 0:
        return (source[k] for k in range(len(source)))
    loader = torch.utils.data.DataLoader(
        source, batch_size=None, shuffle=False, num_workers=min(workers, len(source)),
        collate_fn=_identity, worker_init_fn=_worker_init, prefetch_factor=2, persistent_workers=False)
    return iter(loader)


def worker_death(error: RuntimeError, items: Iterable[LoadedItem], workers: int) -> LoaderWorkerDied | None:
    """:class:`LoaderWorkerDied` for torch's error about a dead worker of ``items`` (from
    :func:`iter_items` with ``workers`` processes); None for any other error."""
    m = _WORKER_DIED.search(str(error))
    if m is None:
        return None
    return LoaderWorkerDied(
        f"a data-loading worker process (pid {m.group(1).strip()}) {_how_it_died(items, m.group(2))}: the "
        f"operating system stopped it, most often for lack of memory. Images scored before it are kept in "
        f"the score cache (unless caching is off); rerun the same command to resume, with fewer workers "
        f"(now {workers}; --workers 0 loads in this process)")


def _how_it_died(items: Iterable[LoadedItem], torch_says: str) -> str:
    """"was killed by SIGKILL" from the worker's exit code where the loader still holds its process
    (a private attribute of torch's iterator, read defensively), else torch's own words."""
    codes = [getattr(w, "exitcode", None) for w in getattr(items, "_workers", ())]
    signals = sorted({-c for c in codes if isinstance(c, int) and c < 0})
    if signals:
        names = ", ".join(_signal_name(n) for n in signals)
        return f"was killed by signal {names}"
    return torch_says.rstrip(". ")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
