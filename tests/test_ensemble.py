"""Ensemble comparison from stored probabilities: every number against a plain dense computation."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from inception_eval import ensemble as E


def _probs(rng, n, c, members, labels, boost=1.2, noise=1.0):
    shared = rng.normal(size=(n, c))
    out = []
    for _ in range(members):
        logits = shared + noise * rng.normal(size=(n, c))
        logits[np.arange(n), labels] += boost
        p = np.exp(logits - logits.max(1, keepdims=True))
        out.append((p / p.sum(1, keepdims=True)).astype(np.float32))
    return out


def _dense_topk_errors(arrays, labels, weights=None, k=(1, 5)):
    """Independent reference: explicit weighted average, argsort, is y among the first k?"""
    w = np.ones(len(arrays)) if weights is None else np.asarray(weights, float)
    avg = sum(wi * a.astype(np.float64) for wi, a in zip(w, arrays)) / w.sum()
    order = np.argsort(-avg, axis=1, kind="stable")
    return [float(np.mean([labels[i] not in order[i, :kk] for i in range(len(labels))])) for kk in k]


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(1)
    n, c, m = 240, 15, 4
    labels = rng.integers(0, c, n)
    protos = {"center": _probs(rng, n, c, m, labels, boost=0.8),
              "ten": _probs(rng, n, c, m, labels, boost=1.1),
              "paper144": _probs(rng, n, c, m, labels, boost=1.4)}
    aux = {p: (_probs(rng, n, c, m, labels, boost=0.5), _probs(rng, n, c, m, labels, boost=0.5)) for p in protos}
    crops = {"center": 1, "ten": 10, "paper144": 144}
    members = []
    for j in range(m):
        probs = {}
        for p in protos:
            probs[(p, "main")] = protos[p][j]
            probs[(p, "aux1")] = aux[p][0][j]
            probs[(p, "aux2")] = aux[p][1][j]
        members.append(E.MemberScores(f"m{j}", probs, labels, np.ones(n, bool), seconds=10.0 * (j + 1),
                                      nominal_views=crops))
    return {"labels": labels, "protos": protos, "aux": aux, "members": members, "crops": crops}


def test_every_subset_matches_dense_argsort(small):
    labels, arrays = small["labels"], small["protos"]["ten"]
    table = E.build_table([[(a, 1.0)] for a in arrays], labels, chunk_bytes=4096)  # many chunks
    subsets = E.all_subsets(4)
    assert len(subsets) == 15
    err = E.subset_errors(table, E.subset_matrix(subsets, 4), block_elems=50)  # many blocks
    for s, sub in enumerate(subsets):
        ref = _dense_topk_errors([arrays[i] for i in sub], labels)
        assert err[0, s] == pytest.approx(ref[0], abs=1e-12)
        assert err[1, s] == pytest.approx(ref[1], abs=1e-12)


def test_weighted_members_match_dense(small):
    labels, arrays = small["labels"], small["protos"]["center"]
    w = [0.5, 2.0, 1.0, 3.0]
    table = E.build_table([[(a, 1.0)] for a in arrays], labels)
    subsets = [(0, 1), (1, 3), (0, 2, 3), (0, 1, 2, 3)]
    err = E.subset_errors(table, E.subset_matrix(subsets, 4, w))
    for s, sub in enumerate(subsets):
        ref = _dense_topk_errors([arrays[i] for i in sub], labels, [w[i] for i in sub])
        assert list(err[:, s]) == pytest.approx(ref, abs=1e-12)


def test_tie_rule_a_tie_is_never_a_success():
    # image 0: class 1 ties the true class 0 in every member -> rank 1 (top-1 wrong) in every subset
    # image 1: member 0 puts class 2 above y, member 1 below it by the same margin -> a tie in the mean
    p0 = np.array([[0.375, 0.375, 0.25], [0.25, 0.25, 0.5]], np.float32)
    p1 = np.array([[0.375, 0.375, 0.25], [0.5, 0.25, 0.25]], np.float32)
    labels = np.array([0, 0])
    table = E.build_table([[(p0, 1.0)], [(p1, 1.0)]], labels)
    weights = E.subset_matrix([(0,), (1,), (0, 1)], 2)
    counts = E.subset_counts(table, weights, topk=(1,))
    # member 0: both wrong (image 1 strictly); member 1: image 0 (tie) wrong; both: both ties wrong
    assert counts.errors[0].tolist() == [1.0, 0.5, 1.0]
    assert counts.ties[0].tolist() == [1, 1, 2]
    assert E.reference_errors([p0, p1], labels, (0, 1), topk=(1,)) == [1.0]
    assert E.image_ranks(table, weights).tolist() == [[1, 1, 1], [2, 0, 1]]  # image 1, m0: a tie and one above


def test_candidate_table_keeps_only_classes_above_the_true_one():
    p = np.array([[0.1, 0.6, 0.3], [0.7, 0.2, 0.1]], np.float32)
    q = np.array([[0.5, 0.2, 0.3], [0.6, 0.3, 0.1]], np.float32)
    t = E.build_table([[(p, 1.0)], [(q, 1.0)]], np.array([0, 0]))
    # image 0: p has classes 1, 2 above 0.1; q has none above 0.5 -> candidates {1, 2}; image 1: none
    assert t.n_rows == 2 and t.group_image.tolist() == [0]
    np.testing.assert_array_equal(t.cand, np.float32([[0.6, 0.2], [0.3, 0.3]]))
    np.testing.assert_array_equal(t.true, np.float32([[0.1, 0.5], [0.7, 0.6]]))


def test_file_sources_and_chunks_equal_arrays(small, tmp_path):
    labels, arrays = small["labels"], small["protos"]["paper144"]
    npy = tmp_path / "m0.npy"
    np.save(npy, arrays[0])
    raw = tmp_path / "m1.f32"
    arrays[1].tofile(raw)
    np.save(tmp_path / "m2.npy", arrays[2])
    mm = np.load(tmp_path / "m2.npy", mmap_mode="r")
    sources = [npy, E.RawArrayFile(str(raw), arrays[1].shape), mm, arrays[3]]
    a = E.build_table([[(s, 1.0)] for s in sources], labels, chunk_bytes=1000)
    b = E.build_table([[(x, 1.0)] for x in arrays], labels)
    np.testing.assert_array_equal(a.cand, b.cand)
    np.testing.assert_array_equal(a.true, b.true)
    np.testing.assert_array_equal(a.group_start, b.group_start)
    np.testing.assert_array_equal(E.read_rows(npy, 5, 9), arrays[0][5:9])
    np.testing.assert_array_equal(E.read_rows(mm[5:], 0, 3), arrays[2][5:8])  # a slice is not its file


def test_bad_sources_have_clear_errors(tmp_path, small):
    labels = small["labels"]
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="bad.npy"):
        E.build_table([[(bad, 1.0)]], labels)
    short = tmp_path / "short.f32"
    np.zeros(10, np.float32).tofile(short)
    with pytest.raises(ValueError, match="short.f32.*bytes"):
        E.build_table([[(E.RawArrayFile(str(short), (len(labels), 15)), 1.0)]], labels)
    with pytest.raises(ValueError, match="rows"):
        E.build_table([[(np.zeros((3, 15), np.float32), 1.0)]], labels)
    with pytest.raises(ValueError, match="label 7"):
        E.build_table([[(np.full((1, 5), 0.2, np.float32), 1.0)]], np.array([7]))


def test_parse_classifiers():
    assert E.parse_classifiers("main") == {"main": 1.0}
    assert E.parse_classifiers("main+aux") == {"main": 1.0, "aux1": 0.3, "aux2": 0.3}
    assert E.parse_classifiers("main+aux:1") == {"main": 1.0, "aux1": 1.0, "aux2": 1.0}
    assert E.parse_classifiers("main+aux1:0.5") == {"main": 1.0, "aux1": 0.5}
    with pytest.raises(ValueError, match="not a number"):
        E.parse_classifiers("main+aux:x")


def _brute_rows(small, cls_heads, protocol, baseline_errs):
    """Independent per-size best/mean from dense averages (heads mixed explicitly)."""
    labels, m = small["labels"], len(small["members"])
    total = sum(cls_heads.values())
    mixed = []
    for j in range(m):
        parts = {"main": small["protos"][protocol][j], "aux1": small["aux"][protocol][0][j],
                 "aux2": small["aux"][protocol][1][j]}
        mixed.append(sum(w / total * parts[h].astype(np.float64) for h, w in cls_heads.items()))
    out = {}
    for k in range(1, m + 1):
        errs = [(sub, _dense_topk_errors([mixed[i] for i in sub], labels)) for sub in itertools.combinations(range(m), k)]
        best = min(errs, key=lambda e: (e[1][1], e[1][0]))
        out[k] = {"best_sub": best[0], "best": best[1], "mean": np.mean([e[1] for e in errs], axis=0),
                  "count": len(errs)}
    return out


def test_compare_rows_every_number(small):
    comp = E.compare_configurations(small["members"], ["center", "ten", "paper144"], ["main", "main+aux"], greedy=True)
    labels = small["labels"]
    # baseline: lowest top-1 at center, main classifier, checked densely
    singles = [_dense_topk_errors([small["protos"]["center"][j]], labels) for j in range(4)]
    b = min(range(4), key=lambda j: (singles[j][0], j))
    assert comp.baseline.members == (f"m{b}",)
    assert (comp.baseline.top1, comp.baseline.top5) == pytest.approx(singles[b], abs=1e-12)
    assert "lowest top-1 error at protocol 'center'" in comp.baseline_rule
    assert len(comp.configs) == 15 * 3 * 2
    assert len(comp.rows) == 4 * 3 * 2
    for cls in ("main", "main+aux"):
        heads = E.parse_classifiers(cls)
        for proto in ("center", "ten", "paper144"):
            ref = _brute_rows(small, heads, proto, singles[b])
            for r in [r for r in comp.rows if r.classifiers == cls and r.protocol == proto]:
                want = ref[r.n_models]
                assert r.n_subsets == want["count"]
                assert r.n_crops == small["crops"][proto]
                assert r.cost == r.n_models * small["crops"][proto]
                assert (r.best.top1, r.best.top5) == pytest.approx(want["best"], abs=1e-12)
                assert r.best.members == tuple(f"m{i}" for i in want["best_sub"])
                assert (r.mean_top1, r.mean_top5) == pytest.approx(list(want["mean"]), abs=1e-12)
                assert r.best.d_top5 == pytest.approx(want["best"][1] - singles[b][1], abs=1e-12)
                assert r.d_mean_top1 == pytest.approx(want["mean"][0] - singles[b][0], abs=1e-12)
                # seconds: each member's 10*(j+1) s split by crops 1:10:144 over the three protocols
                share = small["crops"][proto] / 155
                assert r.best.seconds == pytest.approx(sum(10.0 * (i + 1) * share for i in want["best_sub"]))


def test_baseline_override_and_ties(small):
    comp = E.compare_configurations(small["members"], ["ten"], baseline="m2")
    assert comp.baseline.members == ("m2",) and comp.baseline.protocol == "ten"
    assert comp.baseline.d_top5 == 0.0
    assert "chosen by the user" in comp.baseline_rule
    comp = E.compare_configurations(small["members"], ["ten", "center"], baseline=3)
    assert comp.baseline.members == ("m3",) and comp.baseline.protocol == "center"
    with pytest.raises(ValueError, match="not one of the members"):
        E.compare_configurations(small["members"], ["ten"], baseline="zz")
    # identical members: the tie goes to the first listed
    labels = small["labels"]
    same = [E.MemberScores(n, {("center", "main"): small["protos"]["center"][0]}, labels,
                           nominal_views={"center": 1}) for n in ("x", "y")]
    assert E.compare_configurations(same, ["center"]).baseline.members == ("x",)


def test_invalid_images_are_excluded(small):
    labels = small["labels"]
    valid = np.ones(len(labels), bool)
    valid[:40] = False
    ms = [E.MemberScores(m.name, m.probs, labels, valid, nominal_views=m.nominal_views) for m in small["members"]]
    comp = E.compare_configurations(ms, ["ten"])
    assert comp.n_images == len(labels) - 40 and comp.n_excluded == 40
    full = [r for r in comp.rows if r.n_models == 4][0]
    ref = _dense_topk_errors([a[40:] for a in small["protos"]["ten"]], labels[40:])
    assert (full.best.top1, full.best.top5) == pytest.approx(ref, abs=1e-12)


def test_mismatched_members_rejected(small):
    m0 = small["members"][0]
    other = E.MemberScores("o", m0.probs, (m0.labels + 1) % 15, nominal_views=m0.nominal_views)
    with pytest.raises(ValueError, match="different images or labels"):
        E.compare_configurations([m0, other], ["ten"])
    with pytest.raises(ValueError, match="no probabilities for protocol 'zzz'"):
        E.compare_configurations([m0], ["zzz"])


def _dense_greedy(arrays, labels, key=1):
    chosen, path, cur = [], [], math.inf
    while len(chosen) < len(arrays):
        cands = []
        for m in range(len(arrays)):
            if m in chosen:
                continue
            e = _dense_topk_errors([arrays[i] for i in chosen + [m]], labels)
            cands.append((e[key], e[1 - key], m, e))
        best = min(cands)
        if path and not best[0] < cur:
            break
        chosen.append(best[2])
        cur = best[0]
        path.append((tuple(sorted(chosen)), best[3]))
    return path


def test_greedy_matches_dense_greedy(small):
    labels = small["labels"]
    for proto in ("center", "paper144"):
        arrays = small["protos"][proto]
        table = E.build_table([[(a, 1.0)] for a in arrays], labels)
        for rank_by, key in (("top5", 1), ("top1", 0)):
            got = E.greedy_path(table, rank_by=rank_by)
            want = _dense_greedy(arrays, labels, key)
            assert [g[0] for g in got] == [w[0] for w in want]
            for g, w in zip(got, want):
                assert (g[1], g[2]) == pytest.approx(w[1], abs=1e-12)


def test_greedy_stops_when_nothing_helps():
    # member 0 is perfect; members 1 and 2 only add confusion -> the path is just [member 0]
    labels = np.array([0, 1, 2, 0])
    good = np.eye(3, dtype=np.float32)[labels] * 0.9 + 0.1 / 3
    bad = np.full((4, 3), 1 / 3, np.float32)
    bad[:, 1] += 0.5
    bad /= bad.sum(1, keepdims=True)
    table = E.build_table([[(good, 1.0)], [(bad, 1.0)], [(bad.copy(), 1.0)]], labels)
    path = E.greedy_path(table, rank_by="top1")
    assert [p[0] for p in path] == [(0,)]
    assert len(E.greedy_path(table, rank_by="top1", stop=False)) == 3


def test_subset_selection_beyond_exhaustive():
    assert len(E.select_subsets(10)) == 1023
    order = [3, 0, 11, 7, 1, 2, 4, 5, 6, 8, 9, 10]
    subs = E.select_subsets(12, per_size=20, seed=3, order=order)
    assert subs == E.select_subsets(12, per_size=20, seed=3, order=order)  # seeded
    assert len(set(subs)) == len(subs)
    by = {k: [s for s in subs if len(s) == k] for k in range(1, 13)}
    assert len(by[1]) == 12 and len(by[12]) == 1 and len(by[11]) == 12  # C(12, k) <= 20: all of them
    for k in range(2, 11):
        assert tuple(sorted(order[:k])) in by[k]
        assert len(by[k]) in (20, 21)  # sample of 20 (+ the greedy prefix unless sampled)


def test_pareto_front():
    pts = [(1, 10.0), (10, 9.0), (10, 9.5), (5, 12.0), (144, 7.9), (70, 8.0), (1008, 8.5)]
    assert E.pareto_front(pts) == [0, 1, 5, 4]


def test_plot_written(small, tmp_path):
    pytest.importorskip("matplotlib")
    from inception_eval.plots import PAPER_TABLE3, plot_cost_vs_error

    comp = E.compare_configurations(small["members"], ["center", "ten", "paper144"], ["main"])
    path = plot_cost_vs_error(comp, tmp_path / "p.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 300_000
    assert [r[2] for r in PAPER_TABLE3] == [m * c for m, c, _, _ in PAPER_TABLE3]
    assert [r[3] for r in PAPER_TABLE3] == [10.07, 9.15, 7.89, 8.09, 7.62, 6.67]


def test_plot_missing_matplotlib_message(small, tmp_path, monkeypatch):
    import builtins

    from inception_eval import plots

    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    comp = E.compare_configurations(small["members"][:2], ["center"])
    with pytest.raises(plots.PlotUnavailable, match=r"'plot' extra"):
        plots.plot_cost_vs_error(comp, tmp_path / "p.png")


def test_compare_beyond_exhaustive_uses_greedy_prefix_and_sample(small):
    comp = E.compare_configurations(small["members"], ["center", "ten"], max_exhaustive=2, per_size=2, seed=5)
    assert "greedy prefix" in comp.subset_rule and "seed 5" in comp.subset_rule
    center = [c for c in comp.configs if c.protocol == "center"]
    sizes = sorted({c.n_models for c in center})
    assert sizes == [1, 2, 3, 4]
    # greedy order at the baseline protocol (center): its prefixes are among the evaluated subsets
    table = E.build_table([[(a, 1.0)] for a in small["protos"]["center"]], small["labels"])
    path = E.greedy_path(table, stop=False)
    got = {c.members for c in center}
    for sub, _, _ in path:
        assert tuple(f"m{i}" for i in sub) in got
    count = {k: sum(1 for c in center if c.n_models == k) for k in sizes}
    assert 2 <= count[1] <= 3 and 2 <= count[2] <= 3  # a sample of 2, plus the greedy prefix if not drawn
    assert count[4] == 1  # C(4, 4) = 1 <= 2: all of them
