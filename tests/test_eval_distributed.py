"""torchrun with 2 CPU processes (gloo) gives the same per-image results as one process, with an image
count that 2 does not divide and an unreadable image among them; nothing is counted twice.

Failures: a rank killed with SIGKILL stops the job with a clear message within seconds, and the rerun
computes only the missing images; a rank that hangs (SIGSTOP) or a lost rank 0 (the rendezvous
store's host) stops the others within the peer timeout, never a hang."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from inception_eval import data, engine
from inception_eval.models.checkpoint import save_checkpoint
from inception_eval.models.googlenet import googlenet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_two_gloo_processes_equal_one(tmp_path, imagenet_samples):
    torch.manual_seed(0)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, googlenet(num_classes=1000, width_mult=0.25), input_size=64)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    names = sorted(p for p in os.listdir(imagenet_samples) if p.endswith(".JPEG"))[:12:2]  # 6 photos
    rows = [f"{imagenet_samples / n},{i}" for i, n in enumerate(names)]
    rows.insert(3, f"{tmp_path / 'bad.jpg'},7")  # 7 images: 2 does not divide it
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "inception_eval", "score", "--checkpoint", str(ckpt), "--data", str(tmp_path / "list.csv"),
           "--protocol", "ten", "--protocol", "center", "--max-batch", "1", "--workers", "0", "--no-progress",
           "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "r.json"),
           "--probs", str(tmp_path / "r.npz")]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["world_size"] == 2
    assert (summary["images"], summary["images_valid"], summary["images_skipped"]) == (7, 6, 1)
    assert summary["images_computed"] == 6 and summary["forward_views"] == 60  # each image once
    assert summary["skipped"][0]["path"].endswith("bad.jpg")
    got = np.load(tmp_path / "r.npz")

    # One process, same settings (a batch of one view per forward, so the two runs perform exactly
    # the same float operations per image): bit-identical probabilities.
    one = engine.score(ckpt, data.csv_dataset(tmp_path / "list.csv"), ["ten", "center"], max_batch=1,
                       workers=0, progress=False)
    assert got["valid"].tolist() == one.valid.tolist() == [True, True, True, False, True, True, True]
    assert got["labels"].tolist() == one.labels.tolist()
    for (p, h), v in one.probs.items():
        assert np.array_equal(got[f"{p}|{h}"], v), p
    for e in one.probs:
        acc = one.accuracy(*e)
        row = [x for x in summary["results"] if (x["protocol"], x["head"]) == e][0]
        assert (row["images"], row["top1"], row["top5"]) == (6, acc.top1, acc.top5)


# ---------------------------------------------------------------------------- failures
N_PHOTOS = 40
#: Peer timeout the failure tests run with (seconds; the default is 60).
TEST_PEER_TIMEOUT = 3


def _job(tmp_path: Path, imagenet_samples: Path) -> tuple[Path, Path]:
    """A 64-px checkpoint and a CSV of N_PHOTOS photos (all readable)."""
    torch.manual_seed(0)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, googlenet(num_classes=10, width_mult=0.25), input_size=64)
    names = sorted(p for p in os.listdir(imagenet_samples) if p.endswith(".JPEG"))[:N_PHOTOS]
    (tmp_path / "list.csv").write_text("".join(f"{imagenet_samples / n},{i % 10}\n" for i, n in enumerate(names)))
    return ckpt, tmp_path / "list.csv"


def _score_args(ckpt: Path, csv: Path, tmp_path: Path, tag: str) -> list[str]:
    return ["-m", "inception_eval", "score", "--checkpoint", str(ckpt), "--data", str(csv), "--protocol", "ten",
            "--max-batch", "1", "--workers", "0", "--no-progress", "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / f"{tag}.json"), "--probs", str(tmp_path / f"{tag}.npz")]


def _env(**extra: str) -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO, **extra)


def _status(tmp_path: Path) -> np.ndarray:
    """The store's status bytes (0 pending, 1 done, 2 unreadable); empty before it exists."""
    found = list((tmp_path / "cache").glob("*/status.u8"))
    return np.fromfile(found[0], dtype=np.uint8) if found else np.zeros(0, np.uint8)


def _wait_rows(tmp_path: Path, rank: int, rows: int, procs: list, limit: float = 60) -> None:
    """Wait until rank ``rank`` (of 2) has stored ``rows`` rows."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        st = _status(tmp_path)
        if int((st[rank::2] != 0).sum()) >= rows:
            return
        if any(p.poll() is not None for p in procs):
            out = [p.communicate() for p in procs]
            raise AssertionError(f"a process ended before {rows} rows: {out}")
        time.sleep(0.005)
    raise AssertionError("no rows stored in time")


def _rank_pid(parent: int, rank: int) -> int:
    """The pid of the torchrun worker of ``rank`` under the agent ``parent``."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            env = Path(f"/proc/{d}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if ppid == parent and f"RANK={rank}".encode() in env:
            return int(d)
    raise AssertionError(f"no worker of rank {rank} under pid {parent}")


@pytest.mark.slow
def test_killed_rank_stops_the_job_and_rerun_resumes(tmp_path, imagenet_samples):
    ckpt, csv = _job(tmp_path, imagenet_samples)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = _env(INCEPTION_EVAL_PEER_TIMEOUT=str(TEST_PEER_TIMEOUT))
    job = subprocess.Popen(torchrun + _score_args(ckpt, csv, tmp_path, "first"), env=env, cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_rows(tmp_path, 1, 3, [job])
        os.kill(_rank_pid(job.pid, 1), signal.SIGKILL)
        killed = time.monotonic()
        out, err = job.communicate(timeout=60)
        stopped = time.monotonic() - killed
    finally:
        job.kill()
    assert job.returncode != 0
    # torchrun's agent stops rank 0 with SIGTERM as soon as rank 1 is gone (or, later, the peer
    # watch does): either way one clear line, and within seconds.
    assert "inception-eval score: error: rank 0: " in err, err[-3000:]
    assert "run the same command again to resume" in err
    assert "stopped by SIGTERM" in err or "rank 1 of 2 stopped responding" in err, err[-3000:]
    assert stopped < TEST_PEER_TIMEOUT + 15, (stopped, err[-3000:])
    done_before = int((_status(tmp_path) != 0).sum())
    assert 3 <= done_before < N_PHOTOS, (done_before, err[-3000:])

    rerun = subprocess.run(torchrun + _score_args(ckpt, csv, tmp_path, "again"), env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads((tmp_path / "again.json").read_text())
    assert summary["images_cached"] == done_before
    assert summary["images_computed"] == N_PHOTOS - done_before
    assert summary["forward_views"] == 10 * (N_PHOTOS - done_before)
    got = np.load(tmp_path / "again.npz")
    one = engine.score(ckpt, data.csv_dataset(csv), "ten", max_batch=1, workers=0, progress=False)
    assert got["valid"].all() and np.array_equal(got["ten|main"], one.probs[("ten", "main")])
    line = next(l for l in err.splitlines() if "inception-eval score: error: rank 0: " in l)
    print(f"killed rank 1 -> job stopped after {stopped:.1f} s ({line.strip()[:120]}); rerun: {done_before} "
          f"cached, {N_PHOTOS - done_before} computed")


def test_peer_timeout_setting(monkeypatch):
    from inception_aug.errors import UsageError
    from inception_eval import distributed

    monkeypatch.delenv(distributed.PEER_TIMEOUT_ENV, raising=False)
    assert distributed.peer_timeout() == distributed.DEFAULT_PEER_TIMEOUT_SECONDS == 60.0
    monkeypatch.setenv(distributed.PEER_TIMEOUT_ENV, "2.5")
    assert distributed.peer_timeout() == 2.5
    for bad in ("0", "-1", "soon", "nan"):
        monkeypatch.setenv(distributed.PEER_TIMEOUT_ENV, bad)
        with pytest.raises(UsageError, match="INCEPTION_EVAL_PEER_TIMEOUT must be a number of seconds > 0"):
            distributed.peer_timeout()
    ctx = distributed.DistContext()  # a world of one: no group, no watch, collectives are no-ops
    assert ctx.watch is None and distributed.gather(7, ctx) == [7]
    distributed.barrier(ctx)


@pytest.mark.slow
def test_rank_stopping_with_an_error_stops_the_others(tmp_path, imagenet_samples):
    # --strict and an unreadable image in rank 1's shard: rank 1 stops with StrictModeError; rank 0
    # (no torchrun agent to stop it) learns it from the store at its next heartbeat.
    ckpt, csv = _job(tmp_path, imagenet_samples)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    rows = csv.read_text().splitlines()
    rows.insert(5, f"{tmp_path / 'bad.jpg'},0")
    csv.write_text("\n".join(rows) + "\n")
    procs = _two_ranks(tmp_path, ckpt, csv, "--strict")
    try:
        errs = [p.communicate(timeout=90)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [1, 1], errs
    assert "strict mode" in errs[1]
    line = [l for l in errs[0].splitlines() if l.startswith("inception-eval score: error: ")]
    assert line and "rank 0: rank 1 of 2 stopped: StrictModeError: cannot read image" in line[0], errs[0][-3000:]
    assert "Traceback" not in errs[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_ranks(tmp_path: Path, ckpt: Path, csv: Path, *extra: str) -> list:
    """Rank 0 and rank 1 as plain processes (env:// rendezvous, as on two hosts: no torchrun agent
    to stop the survivor, rank 0 hosts the store)."""
    port = str(_free_port())
    return [subprocess.Popen([sys.executable] + _score_args(ckpt, csv, tmp_path, f"rank{r}") + list(extra), cwd=REPO,
                             env=_env(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE="2", RANK=str(r),
                                      LOCAL_RANK=str(r), INCEPTION_EVAL_PEER_TIMEOUT=str(TEST_PEER_TIMEOUT)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]


@pytest.mark.slow
@pytest.mark.parametrize("victim, sig", [(1, signal.SIGSTOP), (0, signal.SIGKILL)])
def test_hung_or_lost_rank_stops_the_survivor_within_the_peer_timeout(tmp_path, imagenet_samples, victim, sig):
    ckpt, csv = _job(tmp_path, imagenet_samples)
    procs = _two_ranks(tmp_path, ckpt, csv)
    survivor = procs[1 - victim]
    try:
        _wait_rows(tmp_path, victim, 2, procs)
        procs[victim].send_signal(sig)
        hit = time.monotonic()
        _, err = survivor.communicate(timeout=60)
        stopped = time.monotonic() - hit
    finally:
        for p in procs:
            p.kill()
            p.communicate()
    assert survivor.returncode == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    line = [l for l in err.splitlines() if l.startswith("inception-eval score: error: ")]
    assert line, err[-3000:]
    if victim == 1:  # stopped: its sockets stay open, only the missing heartbeats tell
        assert f"rank 1 of 2 stopped responding: no heartbeat for {TEST_PEER_TIMEOUT} s" in line[0]
    else:  # killed rank 0 hosted the rendezvous store
        assert "lost contact with the job's rendezvous store" in line[0] or "rank 0 of 2 stopped" in line[0], line
    assert "run the same command again to resume" in line[0]
    # Within the peer timeout plus one heartbeat (plus slack for this loaded 2-core machine).
    assert stopped < TEST_PEER_TIMEOUT + 1 + 6, stopped
    print(f"{signal.Signals(sig).name} rank {victim} -> survivor stopped after {stopped:.1f} s: {line[0]}")
