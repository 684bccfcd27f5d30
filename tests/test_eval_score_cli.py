"""``inception-eval score``: output, JSON/CSV files, --strict, and resume after ``kill -9``."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from inception_eval import data, engine
from inception_eval.cli import main
from inception_eval.models.checkpoint import save_checkpoint
from inception_eval.models.googlenet import googlenet

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


@pytest.fixture()
def ckpt(tmp_path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, googlenet(num_classes=1000, width_mult=0.25), input_size=64)
    return path


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inception_eval", "score", *args], capture_output=True,
                          text=True, env=ENV, cwd=REPO, timeout=300, **kw)


class _Done:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _main(capsys, *args: str) -> _Done:
    """The CLI in this process (same parser and code path as the console script, no start-up cost)."""
    capsys.readouterr()
    code = main(["score", *args])
    out = capsys.readouterr()
    return _Done(code, out.out, out.err)


def test_score_prints_and_writes(tmp_path, ckpt, imagenet_samples, capsys):
    (tmp_path / "d" / "n01440764").mkdir(parents=True)
    (tmp_path / "d" / "n01443537").mkdir()
    names = sorted(p for p in os.listdir(imagenet_samples) if p.endswith(".JPEG"))
    for i, n in enumerate(names[:4]):
        (tmp_path / "d" / ("n01440764" if i % 2 else "n01443537") / n).write_bytes((imagenet_samples / n).read_bytes())
    (tmp_path / "d" / "n01443537" / "broken.jpg").write_bytes(b"")
    r = _main(capsys, "--checkpoint", str(ckpt), "--data", str(tmp_path / "d"), "--protocol", "ten", "--protocol", "center",
             "--workers", "1", "--no-cache", "--out", str(tmp_path / "r.json"), "--predictions", str(tmp_path / "p.csv"),
             "--class-map", "index")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for needle in ("top-1 %", "top-5 %", "top-1 err", "ten ", "center ", "images/s", "views/s", "nominal 44 views",
                   "forward passes needed 40", "1 unreadable (excluded)", "broken.jpg: empty file"):
        assert needle in out, (needle, out)
    js = json.loads((tmp_path / "r.json").read_text())
    assert (js["images"], js["images_valid"], js["images_skipped"]) == (5, 4, 1)
    assert js["nominal_views_per_image"] == {"ten": 10, "center": 1}
    assert js["total_nominal_views"] == {"ten": 40, "center": 4} and js["total_unique_views"] == 40
    ds = data.image_folder(tmp_path / "d")
    res = engine.score(ckpt, ds, ["ten", "center"], workers=0, progress=False, class_map="index")
    for row in js["results"]:
        acc = res.accuracy(row["protocol"], row["head"])
        assert (row["images"], row["top1"], row["top5"]) == (4, acc.top1, acc.top5)
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert len(rows) == 5
    bad = [x for x in rows if x["path"].endswith("broken.jpg")][0]
    assert bad["status"] == "skipped: empty file" and bad["ten:top5"] == ""
    good = [x for x in rows if x["status"] == "ok"][0]
    i = int(good["index"])
    assert good["ten:top5"] == ";".join(map(str, np.argsort(-res.probs[("ten", "main")][i], kind="stable")[:5]))

    r = _main(capsys, "--checkpoint", str(ckpt), "--data", str(tmp_path / "d"), "--protocol", "center", "--workers", "0",
             "--no-cache", "--strict", "--class-map", "index", "--no-progress")
    assert r.returncode == 1 and "broken.jpg" in r.stderr and "strict" in r.stderr
    named = tmp_path / "named.pt"
    save_checkpoint(named, googlenet(num_classes=1000, width_mult=0.25), input_size=64,
                    class_names=[f"class{i}" for i in range(1000)])
    r = _main(capsys, "--checkpoint", str(named), "--data", str(tmp_path / "d"), "--protocol", "center", "--no-cache")
    assert r.returncode == 1 and "not among the checkpoint's 1000 class names" in r.stderr
    assert "--class-map index" in r.stderr
    r = _main(capsys, "--checkpoint", str(ckpt), "--data", str(tmp_path / "nope"), "--protocol", "center")
    assert r.returncode == 1 and "nope" in r.stderr


def _interrupt(args: list[str], cache: Path, at_least: int, sig: int) -> tuple[int, str, int]:
    """Start the CLI, send ``sig`` once ``at_least`` images are stored; (returncode, stderr, stored)."""
    proc = subprocess.Popen([sys.executable, "-m", "inception_eval", "score", *args], env=ENV, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status_file = None
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            found = list(cache.glob("*/status.u8")) if cache.is_dir() else []
            if found and (found[0].parent / "key.json").is_file():
                status_file = found[0]
                if int((np.fromfile(status_file, dtype=np.uint8) != 0).sum()) >= at_least:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be stopped: " + proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode(), int((np.fromfile(status_file, dtype=np.uint8) != 0).sum())


def test_resume_after_ctrl_c_and_kill_9(tmp_path, ckpt, imagenet_samples):
    ds = data.open_dataset(imagenet_samples).subset(range(0, 50, 10))  # 5 photos
    (tmp_path / "list.csv").write_text("".join(f"{p},{y}\n" for p, y in zip(ds.paths, ds.labels)))
    cache = tmp_path / "cache"
    args = ["--checkpoint", str(ckpt), "--data", str(tmp_path / "list.csv"), "--protocol", "paper144",
            "--protocol", "ten", "--max-batch", "1", "--workers", "0", "--no-progress", "--cache-dir", str(cache)]
    # Ctrl-C: a clean message and exit status 130; finished images stay stored.
    rc, err, after_int = _interrupt(args, cache, 1, signal.SIGINT)
    assert rc == 130 and "interrupted" in err and "rerun to resume" in err, (rc, err[-2000:])
    assert 1 <= after_int < 5, after_int
    # kill -9 of the resumed run, once it has stored at least one more image.
    rc, _, done_before = _interrupt(args, cache, after_int + 1, signal.SIGKILL)
    assert rc == -signal.SIGKILL, rc
    assert after_int < done_before < 5, (after_int, done_before)

    r = _cli(*args, "--out", str(tmp_path / "r.json"), "--probs", str(tmp_path / "r.npz"))
    assert r.returncode == 0, r.stderr
    js = json.loads((tmp_path / "r.json").read_text())
    assert (js["images_cached"], js["images_computed"]) == (done_before, 5 - done_before), (js, done_before)
    assert f"from cache {done_before}" in r.stdout
    # Equal to an uninterrupted run (one view per forward in both, so bit-identical).
    whole = engine.score(ckpt, data.csv_dataset(tmp_path / "list.csv"), ["paper144", "ten"], max_batch=1,
                         workers=0, progress=False)
    got = np.load(tmp_path / "r.npz")
    for (p, h), v in whole.probs.items():
        assert np.array_equal(got[f"{p}|{h}"], v), p


def test_bad_settings_exit_2_data_errors_exit_1(tmp_path, ckpt, imagenet_samples, capsys):
    ds = data.open_dataset(imagenet_samples).subset(range(2))
    (tmp_path / "list.csv").write_text("".join(f"{p},{y}\n" for p, y in zip(ds.paths, ds.labels)))
    base = ["--checkpoint", str(ckpt), "--data", str(tmp_path / "list.csv"), "--protocol", "center", "--no-cache",
            "--workers", "0", "--no-progress"]
    for bad, needle in ((["--max-batch", "0"], "max_batch"), (["--heads", "main,aux3"], "unknown heads"),
                        (["--averaging", "median"], "averaging")):
        r = _main(capsys, *base, *bad)
        assert r.returncode == 2 and needle in r.stderr and r.stderr.count("\n") == 1, (bad, r.stderr)
    r = _main(capsys, *base[:2], "--data", str(tmp_path / "missing.csv"), *base[4:])
    assert r.returncode == 1 and "missing.csv" in r.stderr
    r = _main(capsys, "--checkpoint", str(tmp_path / "none.pt"), *base[2:])
    assert r.returncode == 1 and "none.pt" in r.stderr
