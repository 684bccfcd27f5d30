"""Datasets for scoring: ordered lists of (index, path, label) with the data's own class list.

Formats (all give the same :class:`ImageDataset`):

- an ImageFolder tree ``root/<class>/<image>``: classes are the sorted folder names;
- a flat folder of ImageNet validation images with ``LOC_val_solution.csv`` (Kaggle) or the devkit's
  ``ILSVRC2012_validation_ground_truth.txt`` (+ ``meta.mat``). The devkit's labels are 1-based
  ``ILSVRC2012_ID``s in meta.mat's order, *not* the sorted-wnid index most models use; they are
  mapped id -> wnid -> rank of the wnid among the sorted 1000 wnids;
- a CSV of ``path,label`` (paths relative to the CSV's folder; label an integer index or a class name;
  a header row naming ``path``/``file`` and ``label``/``class_index``/``wnid`` columns is understood).

Files are listed, not opened: unreadable images are found (and reported) by the engine.
Labels are int64 class indices in ``[0, len(class_names))`` when the data names its classes.

Class names: :func:`align_classes` maps the data's labels onto a checkpoint's ``class_names``.
By default (``class_map="name"``) every data class must appear among the checkpoint's names
(e.g. the 10 Imagenette wnid folders inside a 1000-wnid model), else :class:`ClassNameMismatch`
is raised naming the missing classes. ``class_map="index"`` is the documented override: keep the
data's own indices (sorted folder names / sorted wnids / CSV integers) without checking names.
"""
from __future__ import annotations

import csv
import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from inception_aug.decode import decode_image
from inception_aug.errors import InputError

__all__ = [
    "IMAGE_EXTENSIONS", "DatasetError", "ClassNameMismatch", "UnreadableImageError", "Sample", "ImageDataset",
    "image_folder", "read_loc_solution", "read_devkit_meta", "imagenet_val", "csv_dataset", "open_dataset",
    "align_classes",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pbm",
)
LOC_SOLUTION = "LOC_val_solution.csv"
LOC_SYNSETS = "LOC_synset_mapping.txt"
DEVKIT_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
DEVKIT_META = "meta.mat"


class DatasetError(InputError):
    """A dataset description could not be read; the message names the file and the reason (exit 1)."""


class ClassNameMismatch(DatasetError):
    """The checkpoint's class names do not cover the data's classes."""


class UnreadableImageError(DatasetError):
    """One image of a dataset cannot be read (raised by :meth:`ImageDataset.load` overrides); the
    engine skips the image and reports the message, like a decode error."""


@dataclass(frozen=True)
class Sample:
    """One image of a dataset: position ``index`` (0-based), absolute ``path``, class ``label``."""

    index: int
    path: str
    label: int


class ImageDataset(Sequence):
    """An ordered list of images with integer labels.

    ``dataset[i]`` is a :class:`Sample` ``(index, path, label)``; ``class_names`` is the data's own
    class list (index -> name) or None when the labels are bare integers. ``root`` is the folder
    relative to which paths are hashed in :meth:`signature`.
    """

    def __init__(self, paths: Sequence[str], labels: Sequence[int] | np.ndarray, *,
                 class_names: Sequence[str] | None = None, root: str | os.PathLike | None = None,
                 source: str = "") -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.paths: list[str] = [os.fspath(p) for p in paths]
        self.labels: np.ndarray = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.class_names: list[str] | None = list(class_names) if class_names is not None else None
        self.root = os.fspath(root) if root is not None else os.path.commonpath(self.paths) if self.paths else ""
        self.source = source
        if self.class_names is not None and len(self.labels):
            bad = np.flatnonzero((self.labels < 0) | (self.labels >= len(self.class_names)))
            if bad.size:
                i = int(bad[0])
                raise DatasetError(f"{self.paths[i]}: label {int(self.labels[i])} outside "
                                   f"[0, {len(self.class_names)})")
        self._signature: str | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        return Sample(i, self.paths[i], int(self.labels[i]))

    def __iter__(self) -> Iterator[Sample]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        n = len(self.class_names) if self.class_names is not None else "?"
        return f"ImageDataset({len(self)} images, {n} classes, {self.source or self.root})"

    def load(self, i: int) -> np.ndarray:
        """The RGB uint8 (H, W, 3) pixels of image ``i`` (EXIF orientation applied). Raises
        ``ImageDecodeError`` (or :class:`UnreadableImageError`) when the file cannot be read."""
        return decode_image(self.paths[int(i)])

    def subset(self, indices: Sequence[int]) -> "ImageDataset":
        """A new dataset of the images at ``indices`` (in that order, re-indexed from 0)."""
        idx = [int(i) for i in indices]
        return ImageDataset([self.paths[i] for i in idx], self.labels[idx], class_names=self.class_names,
                            root=self.root, source=self.source)

    def signature(self) -> str:
        """Hex sha256 of the sorted (relative path, label, size in bytes, mtime in ns) rows.

        Changes when a file is added, removed, relabelled, rewritten or touched; used in cache keys.
        Missing files hash as size -1 (they are reported as unreadable when scored).
        """
        if self._signature is None:
            rows = []
            for p, y in zip(self.paths, self.labels.tolist()):
                try:
                    st = os.stat(p)
                    size, mtime = st.st_size, st.st_mtime_ns
                except OSError:
                    size, mtime = -1, 0
                rows.append(f"{os.path.relpath(p, self.root) if self.root else p}\t{y}\t{size}\t{mtime}")
            h = hashlib.sha256()
            h.update(f"classes={self.class_names!r}\n".encode())
            # The order of images is part of the identity: results are stored by index.
            h.update(f"order={hashlib.sha256(chr(10).join(self.paths).encode()).hexdigest()}\n".encode())
            for r in sorted(rows):
                h.update(r.encode("utf-8", "surrogateescape") + b"\n")
            self._signature = h.hexdigest()
        return self._signature


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _dir_id(path: str | os.PathLike) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _walk_images(folder: Path, visited: set[tuple[int, int]]) -> list[str]:
    """Sorted image paths under ``folder``, following symbolic links but entering each real folder
    once: a link back to the root, a class folder or an ancestor (a cycle) is not walked again, so
    no image is listed twice or under another class. ``visited`` grows with the folders entered."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            try:
                key = _dir_id(os.path.join(dirpath, d))
            except OSError:  # a dangling link
                continue
            if key not in visited:
                visited.add(key)
                keep.append(d)
        dirnames[:] = keep
        found += [os.path.join(dirpath, f) for f in filenames if _is_image(f)]
    return sorted(found)


def image_folder(root: str | os.PathLike) -> ImageDataset:
    """``root/<class>/**/<image>``: classes are the sorted sub-folder names, images sorted by path.
    Symbolic links are followed, each real folder entered once: a link to the root, to a class
    folder or to an ancestor (a cycle) is not walked, so no image is listed twice."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root}: no class folders")
    paths, labels = [], []
    visited = {_dir_id(root)} | {_dir_id(root / c) for c in classes}
    for y, c in enumerate(classes):
        found = _walk_images(root / c, visited)
        paths += found
        labels += [y] * len(found)
    if not paths:
        raise DatasetError(f"{root}: no image files (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return ImageDataset(paths, labels, class_names=classes, root=root, source=f"ImageFolder {root}")


def _first_file(*candidates: Path) -> Path | None:
    """The first of ``candidates`` that is an existing file, or None."""
    return next((c for c in candidates if c.is_file()), None)


def _flat_images(folder: Path) -> dict[str, str]:
    """{file stem: path} of the image files directly inside ``folder``."""
    return {os.path.splitext(f)[0]: str(folder / f) for f in sorted(os.listdir(folder)) if _is_image(f)}


def read_loc_solution(path: str | os.PathLike) -> dict[str, str]:
    """``LOC_val_solution.csv`` -> {ImageId: wnid}; the wnid is the first token of PredictionString."""
    out: dict[str, str] = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or [h.strip() for h in header[:2]] != ["ImageId", "PredictionString"]:
            raise DatasetError(f"{path}: expected header ImageId,PredictionString, got {header}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            tokens = row[1].split() if len(row) > 1 else []
            if not tokens or not tokens[0].startswith("n"):
                raise DatasetError(f"{path}:{line}: no wnid in PredictionString {row[1:]!r}")
            out[row[0].strip()] = tokens[0]
    return out


def read_devkit_meta(path: str | os.PathLike) -> dict[int, str]:
    """devkit ``meta.mat`` -> {ILSVRC2012_ID (1-based): wnid} for the leaf classes (num_children 0)."""
    try:
        import scipy.io
    except ImportError:  # pragma: no cover - scipy is a dev dependency
        raise DatasetError("reading the devkit's meta.mat needs scipy (pip install scipy)") from None
    try:
        mat = scipy.io.loadmat(os.fspath(path), squeeze_me=True, struct_as_record=False)
    except Exception as e:  # scipy raises several types on bad files
        raise DatasetError(f"{path}: cannot read meta.mat ({e})") from None
    if "synsets" not in mat:
        raise DatasetError(f"{path}: no 'synsets' variable")
    out: dict[int, str] = {}
    for s in np.atleast_1d(mat["synsets"]):
        children = int(np.asarray(getattr(s, "num_children", 0)).sum()) if hasattr(s, "num_children") else 0
        if children == 0:
            out[int(s.ILSVRC2012_ID)] = str(s.WNID)
    if not out:
        raise DatasetError(f"{path}: no leaf synsets")
    return out


def _loc_labels(labels: Path, class_names: Sequence[str] | None) -> tuple[list[str], list[str], list[str]]:
    """(sorted classes, image ids, their wnids) of a ``LOC_val_solution.csv``."""
    wnid_of = read_loc_solution(labels)
    synsets = labels.parent / LOC_SYNSETS
    if synsets.is_file():
        classes = sorted(line.split()[0] for line in synsets.read_text().splitlines() if line.strip())
    elif class_names is not None:
        classes = sorted(class_names)
    else:
        classes = sorted(set(wnid_of.values()))
        if len(classes) != 1000:
            warnings.warn(f"{labels}: no {LOC_SYNSETS} beside it and only {len(classes)} wnids in the file: "
                          "class indices are ranks among those wnids, not the 1000-class index (a checkpoint "
                          "with class names remaps them by name)", stacklevel=3)
    ids = sorted(wnid_of)
    return classes, ids, [wnid_of[i] for i in ids]


def _devkit_labels(labels: Path, folder: Path, meta: str | os.PathLike | None
                   ) -> tuple[list[str], list[str], list[str]]:
    """(sorted classes, image ids, their wnids) of the devkit's ground truth through ``meta.mat``."""
    if meta is None:
        meta = _first_file(labels.parent / DEVKIT_META, labels.parent.parent / "data" / DEVKIT_META,
                           folder / DEVKIT_META)
        if meta is None:
            raise DatasetError(f"{labels}: devkit ids need {DEVKIT_META} (pass meta=...)")
    id_to_wnid = read_devkit_meta(meta)
    rows = [r.strip() for r in labels.read_text().splitlines() if r.strip()]
    wnids = []
    for line, r in enumerate(rows, start=1):
        try:
            wnids.append(id_to_wnid[int(r)])
        except (ValueError, KeyError):
            raise DatasetError(f"{labels}:{line}: {r!r} is not an ILSVRC2012_ID in {meta}") from None
    return sorted(id_to_wnid.values()), [f"ILSVRC2012_val_{k:08d}" for k in range(1, len(rows) + 1)], wnids


def imagenet_val(folder: str | os.PathLike, *, labels: str | os.PathLike | None = None,
                 meta: str | os.PathLike | None = None,
                 class_names: Sequence[str] | None = None) -> ImageDataset:
    """A flat folder of ImageNet validation images with its label file.

    ``labels`` defaults to ``LOC_val_solution.csv`` or ``ILSVRC2012_validation_ground_truth.txt``
    in ``folder`` (or its parent). Devkit ground truth: line k (1-based) is the ILSVRC2012_ID of the
    k-th image in sorted file-name order (``ILSVRC2012_val_0000000k``); ``meta`` (default ``meta.mat``
    beside it, or in ``../data``) maps ids to wnids. Classes are the sorted wnids: of ``meta.mat``,
    of ``LOC_synset_mapping.txt`` when present, else ``class_names`` if given, else those in the CSV.
    Label-file rows without an image file are kept (reported unreadable when scored).
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    if labels is None:
        labels = _first_file(folder / LOC_SOLUTION, folder / DEVKIT_GROUND_TRUTH,
                             folder.parent / LOC_SOLUTION, folder.parent / DEVKIT_GROUND_TRUTH)
        if labels is None:
            raise DatasetError(f"{folder}: no {LOC_SOLUTION} or {DEVKIT_GROUND_TRUTH} found")
    labels = Path(labels)
    images = _flat_images(folder)
    if labels.name.endswith(".csv"):
        classes, ids, wnids = _loc_labels(labels, class_names)
    else:
        classes, ids, wnids = _devkit_labels(labels, folder, meta)
    index_of = {w: i for i, w in enumerate(classes)}
    paths, ys = [], []
    for image_id, w in zip(ids, wnids):
        if w not in index_of:
            raise DatasetError(f"{labels}: {image_id} has wnid {w} not among the {len(classes)} classes")
        paths.append(images.get(image_id, str(folder / f"{image_id}.JPEG")))
        ys.append(index_of[w])
    return ImageDataset(paths, ys, class_names=classes, root=folder, source=f"ImageNet val {labels}")


_PATH_COLUMNS = ("path", "file", "filename", "image", "imageid")
_LABEL_COLUMNS = ("label", "class_index", "target", "wnid", "class", "class_name")


def csv_dataset(path: str | os.PathLike, *, class_names: Sequence[str] | None = None) -> ImageDataset:
    """A CSV of ``path,label`` rows; paths relative to the CSV's folder.

    A header is recognised when its first cell is not an existing file and it names a path column
    (one of ``path, file, filename, image``) and a label column (first of ``label, class_index,
    target, wnid, class, class_name``). If every label is an integer the labels are used as indices
    (``class_names`` None unless given); otherwise labels are names, indexed into ``class_names``
    when given, else into the sorted set of names.
    """
    path = Path(path)
    base = path.parent
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except OSError as e:
        raise DatasetError(f"{path}: {e.strerror or e}") from None
    if not rows:
        raise DatasetError(f"{path}: empty")
    pcol, lcol, start = 0, 1, 0
    head = [c.strip().lower() for c in rows[0]]
    if not (base / rows[0][0]).exists() and any(h in _PATH_COLUMNS for h in head):
        pcol = next(head.index(h) for h in _PATH_COLUMNS if h in head)
        try:
            lcol = next(head.index(h) for h in _LABEL_COLUMNS if h in head)
        except StopIteration:
            raise DatasetError(f"{path}: header {rows[0]} has no label column ({', '.join(_LABEL_COLUMNS)})") from None
        start = 1
    paths, raw = [], []
    for line, r in enumerate(rows[start:], start=start + 1):
        if len(r) <= max(pcol, lcol):
            raise DatasetError(f"{path}:{line}: expected path,label, got {r}")
        paths.append(str((base / r[pcol].strip()).resolve()) if not os.path.isabs(r[pcol].strip())
                     else r[pcol].strip())
        raw.append(r[lcol].strip())
    try:
        ys = [int(v) for v in raw]
        names = list(class_names) if class_names is not None else None
        if any(y < 0 for y in ys):
            raise DatasetError(f"{path}: negative label {min(ys)}")
    except ValueError:
        names = list(class_names) if class_names is not None else sorted(set(raw))
        index_of = {n: i for i, n in enumerate(names)}
        ys = []
        for line, v in enumerate(raw, start=start + 1):
            if v not in index_of:
                raise DatasetError(f"{path}:{line}: label {v!r} is not a known class name")
            ys.append(index_of[v])
    return ImageDataset(paths, ys, class_names=names, root=base, source=f"CSV {path}")


def open_dataset(spec: str | os.PathLike, *, labels: str | os.PathLike | None = None,
                 meta: str | os.PathLike | None = None) -> ImageDataset:
    """Open ``spec`` by what it is: a ``.csv`` file; a folder with ``labels.csv``; a flat folder
    with ImageNet validation labels (or ``labels`` given); else an ImageFolder tree."""
    p = Path(spec)
    if p.is_file():
        if p.suffix.lower() == ".csv" and p.name != LOC_SOLUTION:
            return csv_dataset(p)
        raise DatasetError(f"{p}: expected a folder or a .csv of path,label")
    if not p.is_dir():
        raise DatasetError(f"{p}: no such file or folder")
    if labels is not None:
        if Path(labels).name in (LOC_SOLUTION, DEVKIT_GROUND_TRUTH) or meta is not None:
            return imagenet_val(p, labels=labels, meta=meta)
        return csv_dataset(labels)
    if (p / "labels.csv").is_file():
        return csv_dataset(p / "labels.csv")
    if any((p / n).is_file() or (p.parent / n).is_file() for n in (LOC_SOLUTION, DEVKIT_GROUND_TRUTH)):
        if _flat_images(p):
            return imagenet_val(p, meta=meta)
    return image_folder(p)


def align_classes(dataset: ImageDataset, checkpoint_names: Sequence[str] | None, *,
                  class_map: str = "name", num_classes: int | None = None) -> ImageDataset:
    """Express ``dataset``'s labels in the checkpoint's class indices.

    ``class_map="name"`` (default): when both sides name their classes, each data class must be one
    of ``checkpoint_names`` (labels are remapped by name), else :class:`ClassNameMismatch` lists the
    missing names. ``class_map="index"``: keep the data's indices as they are (the override for
    checkpoints whose names differ in spelling, e.g. "tench" vs "n01440764"). Either way labels
    must be below ``num_classes`` (when given).
    """
    if class_map not in ("name", "index"):
        raise ValueError(f"class_map must be 'name' or 'index', got {class_map!r}")
    out = dataset
    if class_map == "name" and checkpoint_names is not None and dataset.class_names is not None:
        ck = list(checkpoint_names)
        if dataset.class_names != ck:
            index_of = {n: i for i, n in enumerate(ck)}
            missing = [n for n in dataset.class_names if n not in index_of]
            if missing:
                shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
                raise ClassNameMismatch(
                    f"{len(missing)} of the data's {len(dataset.class_names)} classes are not among the "
                    f"checkpoint's {len(ck)} class names: {shown} (checkpoint names start "
                    f"{', '.join(repr(n) for n in ck[:3])}); pass class_map='index' (--class-map index) "
                    f"to use the data's own class indices unchecked")
            remap = np.array([index_of[n] for n in dataset.class_names], dtype=np.int64)
            out = ImageDataset(dataset.paths, remap[dataset.labels] if len(dataset) else dataset.labels,
                               class_names=ck, root=dataset.root, source=dataset.source)
    n = num_classes if num_classes is not None else (len(checkpoint_names) if checkpoint_names else None)
    if n is not None and len(out) and int(out.labels.max()) >= n:
        i = int(np.argmax(out.labels))
        raise ClassNameMismatch(f"{out.paths[i]}: label {int(out.labels[i])} but the model has {n} classes")
    return out
