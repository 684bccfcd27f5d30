"""Datasets and label formats (ImageFolder, ImageNet val with LOC csv / devkit ids, CSV), signatures,
class-name checks, and top-k metrics with ties."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from inception_eval import data, metrics

scipy_io = pytest.importorskip("scipy.io")


def _touch(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_image_folder_sorted_classes_and_files(tmp_path):
    for c, names in {"zebra": ["b.jpg", "a.JPEG"], "ant": ["x.png", "notes.txt", ".hidden.jpg"],
                     "moth": ["sub/y.jpeg"]}.items():
        for n in names:
            _touch(tmp_path / c / n)
    ds = data.image_folder(tmp_path)
    assert ds.class_names == ["ant", "moth", "zebra"]
    rel = [os.path.relpath(s.path, tmp_path) for s in ds]
    assert rel == ["ant/x.png", "moth/sub/y.jpeg", "zebra/a.JPEG", "zebra/b.jpg"]
    assert ds.labels.tolist() == [0, 1, 2, 2]
    assert ds[3] == data.Sample(3, ds.paths[3], 2)
    assert isinstance(data.open_dataset(tmp_path), data.ImageDataset)


def _write_meta(path: Path, synsets: list[tuple[int, str, int]]) -> None:
    """A devkit-like meta.mat: struct array 'synsets' with ILSVRC2012_ID, WNID, words, num_children."""
    dt = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    arr = np.zeros((len(synsets), 1), dtype=dt)
    for i, (sid, wnid, kids) in enumerate(synsets):
        arr[i, 0] = (np.array([[sid]], dtype=np.uint16), np.array([wnid]), np.array([f"words {wnid}"]),
                     np.array([[kids]], dtype=np.uint16))
    scipy_io.savemat(str(path), {"synsets": arr})


def test_devkit_ids_map_through_meta_to_sorted_wnid_index(tmp_path):
    # meta.mat order (ILSVRC2012_ID 1..4) is NOT the sorted-wnid order; id 5 is an inner node.
    meta_order = ["n04000000", "n01000000", "n03000000", "n02000000"]
    _write_meta(tmp_path / "meta.mat", [(i + 1, w, 0) for i, w in enumerate(meta_order)] + [(5, "n00000001", 3)])
    ids = [1, 2, 3, 4, 1, 2]  # ground truth of ILSVRC2012_val_00000001..6
    (tmp_path / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(map(str, ids)) + "\n")
    val = tmp_path / "val"
    for k in range(1, 7):
        _touch(val / f"ILSVRC2012_val_{k:08d}.JPEG")
    ds = data.imagenet_val(val, labels=tmp_path / "ILSVRC2012_validation_ground_truth.txt",
                           meta=tmp_path / "meta.mat")
    assert ds.class_names == sorted(meta_order)
    expected = [sorted(meta_order).index(meta_order[i - 1]) for i in ids]
    assert ds.labels.tolist() == expected == [3, 0, 2, 1, 3, 0]
    # The raw 1-based id minus one would be wrong here: make sure we did not do that.
    assert ds.labels.tolist() != [i - 1 for i in ids]
    assert [Path(p).name for p in ds.paths] == [f"ILSVRC2012_val_{k:08d}.JPEG" for k in range(1, 7)]


def test_devkit_bad_id_names_the_line(tmp_path):
    _write_meta(tmp_path / "meta.mat", [(1, "n01000000", 0)])
    (tmp_path / "gt.txt").write_text("1\n7\n")
    _touch(tmp_path / "v" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(data.DatasetError, match=r"gt.txt:2: '7'"):
        data.imagenet_val(tmp_path / "v", labels=tmp_path / "gt.txt", meta=tmp_path / "meta.mat")


def test_loc_val_solution_with_synset_mapping(tmp_path):
    (tmp_path / "LOC_synset_mapping.txt").write_text("n01440764 tench\nn01443537 goldfish\nn09999999 z\n")
    (tmp_path / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        "ILSVRC2012_val_00000002,n09999999 1 2 3 4 n09999999 5 6 7 8\n"
        "ILSVRC2012_val_00000001,n01443537 1 2 3 4\n")
    for k in (1, 2):
        _touch(tmp_path / f"ILSVRC2012_val_{k:08d}.JPEG")
    ds = data.open_dataset(tmp_path)
    assert ds.class_names == ["n01440764", "n01443537", "n09999999"]
    assert [Path(p).name for p in ds.paths] == ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG"]
    assert ds.labels.tolist() == [1, 2]


def test_csv_int_and_name_labels_and_header(tmp_path):
    _touch(tmp_path / "img" / "a.jpg"), _touch(tmp_path / "img" / "b.jpg")
    (tmp_path / "ints.csv").write_text("img/a.jpg,3\nimg/b.jpg,0\n")
    ds = data.open_dataset(tmp_path / "ints.csv")
    assert ds.labels.tolist() == [3, 0] and ds.class_names is None
    assert ds.paths[0] == str((tmp_path / "img" / "a.jpg").resolve())
    (tmp_path / "names.csv").write_text("path,label\nimg/a.jpg,dog\nimg/b.jpg,cat\n")
    ds = data.csv_dataset(tmp_path / "names.csv")
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [1, 0]
    ds = data.csv_dataset(tmp_path / "names.csv", class_names=["x", "dog", "cat"])
    assert ds.labels.tolist() == [1, 2]
    with pytest.raises(data.DatasetError, match=r"names.csv:3: label 'cat' is not a known class"):
        data.csv_dataset(tmp_path / "names.csv", class_names=["dog"])


def test_imagenet_samples_labels_csv(imagenet_samples):
    ds = data.open_dataset(imagenet_samples)
    assert len(ds) == 115
    tench = [s for s in ds if s.path.endswith("n01440764_tench.JPEG")][0]
    assert tench.label == 0
    assert all(os.path.isfile(p) for p in ds.paths)


def test_signature_changes_with_files_labels_and_mtime(tmp_path):
    a = _touch(tmp_path / "c0" / "a.jpg")
    _touch(tmp_path / "c1" / "b.jpg")
    s0 = data.image_folder(tmp_path).signature()
    assert data.image_folder(tmp_path).signature() == s0  # stable
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    s1 = data.image_folder(tmp_path).signature()
    assert s1 != s0
    _touch(tmp_path / "c1" / "c.jpg")
    s2 = data.image_folder(tmp_path).signature()
    assert s2 not in (s0, s1)
    ds = data.image_folder(tmp_path)
    relabelled = data.ImageDataset(ds.paths, [1, 1, 1], class_names=ds.class_names, root=ds.root)
    assert relabelled.signature() != s2
    assert ds.subset([0, 1]).signature() != s2


def test_align_classes_by_name_subset_mismatch_and_override(tmp_path):
    for c in ("n02", "n01"):
        _touch(tmp_path / c / "x.jpg")
    ds = data.image_folder(tmp_path)  # classes [n01, n02], labels [0, 1]
    ck = ["n00", "n01", "n05", "n02"]
    aligned = data.align_classes(ds, ck)
    assert aligned.labels.tolist() == [1, 3] and aligned.class_names == ck
    with pytest.raises(data.ClassNameMismatch, match=r"'n02'.*--class-map index"):
        data.align_classes(ds, ["n01", "tench"])
    kept = data.align_classes(ds, ["tench", "goldfish"], class_map="index")
    assert kept.labels.tolist() == [0, 1]
    with pytest.raises(data.ClassNameMismatch, match="model has 1 classes"):
        data.align_classes(ds, ["tench"], class_map="index")


def test_topk_ties_count_against_the_true_class():
    scores = np.array([[0.2, 0.5, 0.5, 0.1, 0.0, 0.0, 0.0],    # tie between class 1 and 2
                       [0.2, 0.5, 0.5, 0.1, 0.0, 0.0, 0.0],
                       [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]])    # all tied
    labels = np.array([1, 2, 6])
    rank = metrics.true_class_rank(scores, labels)
    assert rank.tolist() == [1, 1, 6]  # a tied class ranks above the true class, whatever its index
    ref = [int(sum(s[c] >= s[y] for c in range(len(s)) if c != y)) for s, y in zip(scores, labels)]
    assert rank.tolist() == ref
    acc = metrics.accuracy(scores, labels)
    assert (acc.count, acc.top1, acc.top5) == (3, 0.0, pytest.approx(2 / 3))
    assert (acc.ties_top1, acc.ties_top5) == (3, 1)  # top-5: only the all-tied row
    acc = metrics.accuracy(scores, labels, valid=np.array([False, True, False]))
    assert (acc.count, acc.top1, acc.top5, acc.top1_error) == (1, 0.0, 1.0, 1.0)
    assert metrics.accuracy(scores, labels, valid=np.zeros(3, bool)).count == 0


def test_open_dataset_finds_devkit_files_beside_the_folder(tmp_path):
    _write_meta(tmp_path / "meta.mat", [(1, "n02000000", 0), (2, "n01000000", 0)])
    (tmp_path / "ILSVRC2012_validation_ground_truth.txt").write_text("1\n2\n")
    for k in (1, 2):
        _touch(tmp_path / "val" / f"ILSVRC2012_val_{k:08d}.JPEG")
    ds = data.open_dataset(tmp_path / "val")
    assert ds.class_names == ["n01000000", "n02000000"] and ds.labels.tolist() == [1, 0]


def test_loc_without_synset_mapping_warns_about_partial_class_list(tmp_path):
    (tmp_path / "LOC_val_solution.csv").write_text("ImageId,PredictionString\nILSVRC2012_val_00000001,n05 1 2 3 4\n")
    _touch(tmp_path / "ILSVRC2012_val_00000001.JPEG")
    with pytest.warns(UserWarning, match="only 1 wnids"):
        ds = data.open_dataset(tmp_path)
    # remapped by name onto a checkpoint's full list, the index is right again
    assert data.align_classes(ds, ["n01", "n05"]).labels.tolist() == [1]
