"""What the reports say: score's table/JSON (intervals, ties, calibration, confusions), per-class
CSV, reliability diagrams, compare's Markdown/CSV/JSON/plot with intervals, and where the demo
looks for its data."""
from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest

from inception_eval import calibration, comparison, intervals, metrics, report
from inception_eval import ensemble as E
from inception_eval.results import Provenance, RunStats, ScoreResult, Scores


def _probs(rng, n, c, y, boost):
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), y] += boost
    p = np.exp(logits)
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    n, c = 240, 6
    y = rng.integers(0, c, n)
    probs = {("center", "main"): _probs(rng, n, c, y, 1.0), ("ten", "main"): _probs(rng, n, c, y, 1.5),
             ("ten", "aux1"): _probs(rng, n, c, y, 0.5)}
    valid = np.ones(n, bool)
    valid[:10] = False
    names = ["tench", "springer", "cassette", "chainsaw", "church", "horn"]
    scores = Scores(probs, y, valid, [(f"x{i}.jpg", "empty file") for i in range(10)], {"center": 1, "ten": 10},
                    paths=[f"x{i}.jpg" for i in range(n)], class_names=names, protocols=("center", "ten"),
                    heads=("main", "aux1"))
    return ScoreResult(scores, RunStats(2.0, 100, n - 10), Provenance())


def test_summary_has_intervals_ties_and_calibration(result):
    js = report.summary(result)
    assert any("Wilson" in d for d in js["definitions"])
    for row in js["results"]:
        p = result.probs[(row["protocol"], row["head"])]
        acc = metrics.accuracy(p, result.labels, result.valid)
        assert row["images"] == 230 and row["top1_error"] == acc.top1_error
        wrong = int(round(acc.top1_error * 230))
        assert row["top1_error_ci95"] == pytest.approx(list(map(float, intervals.wilson(wrong, 230))))
        assert row["top1_error_ci95"][0] < row["top1_error"] < row["top1_error_ci95"][1]
        assert row["nll"] == pytest.approx(calibration.nll(p, result.labels, result.valid))
        assert row["ece"] == pytest.approx(calibration.ece(p, result.labels, result.valid))
        assert row["brier"] == pytest.approx(calibration.brier(p, result.labels, result.valid))
        assert "ties_top1" in row and len(row["confusions"]) <= 20
    json.dumps(js)  # plain JSON


def test_format_table_shows_intervals_and_confusions(result):
    text = report.format_table(result)
    assert "top-1 err [95% CI]" in text and "ECE" in text and "Brier" in text and "ties 1/5" in text
    acc = result.accuracy("ten", "main")
    lo, hi = acc.error_interval(1)
    assert f"{100 * acc.top1_error:.2f} [{100 * lo:.2f}, {100 * hi:.2f}]" in text
    assert "most frequent confusions, ten/main" in text and " -> " in text
    assert "tench" in text or "horn" in text  # class names, not only indices
    assert "most frequent confusions" not in report.format_table(result, confusions_top=0)


def test_confusions_against_counter(result):
    p, y, v = result.probs[("center", "main")], result.labels, result.valid
    got = report.confusions(p, y, v, top=20)
    pv, yv = p[v], y[v]
    counter = Counter()
    for row, t in zip(pv, yv):
        others = [c for c in range(len(row)) if c != t]
        best = max(others, key=lambda c: (row[c], -c))
        if row[best] >= row[t]:
            counter[(int(t), best)] += 1
    want = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert got == [(t, q, n) for (t, q), n in want]
    assert sum(n for _, _, n in report.confusions(p, y, v, top=10_000)) == sum(counter.values())


def test_confusions_of_a_tie_name_the_tied_class():
    p = np.array([[0.4, 0.4, 0.2], [0.1, 0.1, 0.8]])
    assert report.confusions(p, np.array([0, 2])) == [(0, 1, 1)]


def test_per_class_csv(result, tmp_path):
    path = report.write_per_class(result, tmp_path / "per_class.csv")
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 3 * 6 and set(rows[0]) == set(report.PER_CLASS_FIELDS)
    p, y, v = result.probs[("ten", "main")], result.labels, result.valid
    rank = metrics.true_class_rank(p[v], y[v])
    for r in [r for r in rows if (r["protocol"], r["head"]) == ("ten", "main")]:
        k = int(r["class"])
        mine = y[v] == k
        assert r["name"] == result.class_names[k]
        assert int(r["images"]) == mine.sum()
        assert float(r["top1_accuracy"]) == pytest.approx((rank[mine] < 1).mean(), abs=1e-6)
        assert float(r["top5_accuracy"]) == pytest.approx((rank[mine] < 5).mean(), abs=1e-6)
    assert sum(int(r["images"]) for r in rows if r["protocol"] == "center") == 230


def test_reliability_per_protocol(result, tmp_path):
    pytest.importorskip("matplotlib")
    paths = report.write_reliability(result, tmp_path / "rel")
    assert sorted(p.name for p in paths) == ["reliability_center.png", "reliability_ten.png",
                                             "reliability_ten_aux1.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5_000 for p in paths)


@pytest.fixture(scope="module")
def comp():
    rng = np.random.default_rng(2)
    n, c = 300, 10
    y = rng.integers(0, c, n)
    members = [E.MemberScores(f"m{j}", {("center", "main"): _probs(rng, n, c, y, 1.0),
                                        ("ten", "main"): _probs(rng, n, c, y, 1.4)}, y, seconds=3.0,
                              nominal_views={"center": 1, "ten": 10}) for j in range(3)]
    return E.compare_configurations(members, ["center", "ten"], greedy=True)


def test_compare_outputs_carry_intervals(comp, tmp_path):
    res = comparison.write_outputs(comp, tmp_path, plot=False, note="a demo note")
    md = res.markdown
    assert "Wilson" in md and "Newcombe 1998 method 10" in md and "excludes 0" in md and "a demo note" in md
    b = comp.baseline
    assert f"top-1 {100 * b.top1:.2f}% [{100 * b.top1_ci[0]:.2f}, {100 * b.top1_ci[1]:.2f}]" in md
    sig = [cfg for cfg in comp.configs if cfg.d_top5_sig]
    assert sig and all(intervals.excludes_zero(*cfg.d_top5_ci) for cfg in sig)
    assert all(not intervals.excludes_zero(*cfg.d_top5_ci) for cfg in comp.configs if not cfg.d_top5_sig)
    assert "]*" in md  # marked in the table
    rows = list(csv.DictReader(open(res.files["csv"])))
    assert tuple(rows[0]) == comparison.CSV_FIELDS and len(rows) == len(comp.configs)
    for r, cfg in zip(rows, comp.configs):
        assert float(r["top5_error_lo"]) == pytest.approx(cfg.top5_ci[0], abs=1e-6)
        assert float(r["change_top5_hi"]) == pytest.approx(cfg.d_top5_ci[1], abs=1e-6)
        assert int(r["change_top5_excludes_0"]) == int(cfg.d_top5_sig)
        assert float(r["ece"]) == pytest.approx(cfg.ece, abs=1e-6)
    js = json.loads(res.files["json"].read_text())
    assert js["configs"][0]["top1_ci"] == pytest.approx(list(comp.configs[0].top1_ci))
    assert any("Wilson" in d for d in js["definitions"])


def test_compare_plot_has_error_bars(comp, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from inception_eval.plots import plot_cost_vs_error

    made = []
    real = plt.Axes.errorbar

    def spy(self, *a, **k):
        made.append(k.get("yerr"))
        return real(self, *a, **k)

    plt.Axes.errorbar = spy
    try:
        path = plot_cost_vs_error(comp, tmp_path / "p.png")
    finally:
        plt.Axes.errorbar = real
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert len(made) == 2 and all(np.asarray(e).shape[0] == 2 and (np.asarray(e) > 0).all() for e in made)


def test_demo_data_found_from_repository_root(tmp_path, monkeypatch):
    from inception_eval.demo import DemoDataMissing, find_demo_data, find_repo_root

    repo = tmp_path / "work" / "repo"
    (repo / "sub" / "deeper").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\nname='x'\n")
    data = tmp_path / "work" / "shared" / "data" / "small-classification"
    with pytest.raises(DemoDataMissing, match="demo data not found"):
        find_demo_data(start=repo / "sub" / "deeper")
    (data / "train").mkdir(parents=True)
    (data / "val").mkdir()
    assert find_repo_root(repo / "sub" / "deeper") == repo.resolve()
    assert find_demo_data(start=repo / "sub" / "deeper") == data.resolve()  # via the repository root
    monkeypatch.chdir(repo)
    assert find_demo_data() == data.resolve()  # relative to the current folder
    lonely = tmp_path / "elsewhere"
    lonely.mkdir()
    with pytest.raises(DemoDataMissing, match="no pyproject.toml"):
        find_demo_data(start=lonely)
    with pytest.raises(DemoDataMissing, match="absent"):
        find_demo_data(tmp_path / "absent")
