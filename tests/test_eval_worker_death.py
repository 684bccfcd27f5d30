"""A DataLoader worker killed by the operating system stops a scoring run with one line (exit code 1,
no traceback) and loses no stored work: the rerun computes only the images that were missing."""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inception_aug.errors import EXIT_DATA, run_command
from inception_eval import data, engine, view_loader
from inception_eval.models.googlenet import googlenet
from inception_eval.view_loader import LoaderWorkerDied

N_IMAGES = 40
VICTIM = 30  # the worker dies while loading this image (late enough that earlier batches are stored)


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for k in range(N_IMAGES):
        d = root / f"c{k % 2}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40 + k, 48, 3), dtype=np.uint8)).save(d / f"{k:03d}.png")
    return root


def _model():
    torch.manual_seed(0)
    return googlenet("paper", num_classes=2, width_mult=0.25, aux_logits=False).eval()


def _kill_on_victim(monkeypatch, victim_path: str) -> None:
    """Workers are forked from this process, so the patched method runs in them and the worker
    that loads ``victim_path`` SIGKILLs itself, as the out-of-memory killer would."""
    original = view_loader.ViewSource._cut

    def cut(self, index, path):
        if path == victim_path and os.getpid() != PARENT:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, index, path)

    monkeypatch.setattr(view_loader.ViewSource, "_cut", cut)


PARENT = os.getpid()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL") or torch.multiprocessing.get_start_method() != "fork",
                    reason="needs forked DataLoader workers and SIGKILL")
def test_killed_worker_is_one_line_and_rerun_resumes(tmp_path, monkeypatch):
    data_dir = _folder(tmp_path / "data")
    cache = tmp_path / "cache"
    model = _model()
    kw = dict(checkpoint_sha256="0" * 64, crop_size=64, workers=1, max_batch=4, cache_dir=cache, progress=False)
    _kill_on_victim(monkeypatch, data.image_folder(data_dir).paths[VICTIM])
    with pytest.raises(LoaderWorkerDied) as err:
        engine.score(model, data_dir, "center", **kw)
    msg = str(err.value)
    assert "\n" not in msg and "worker process (pid" in msg and "was killed by signal SIGKILL" in msg
    assert "rerun the same command to resume" in msg and "--workers 0" in msg

    monkeypatch.undo()
    resumed = engine.score(model, data_dir, "center", **kw)
    # the images stored before the death are not recomputed
    assert resumed.images_cached > 0 and resumed.images_cached + resumed.images_computed == N_IMAGES
    assert resumed.images_cached <= VICTIM
    fresh = engine.score(model, data_dir, "center", **{**kw, "cache_dir": tmp_path / "fresh"})
    assert fresh.images_computed == N_IMAGES
    np.testing.assert_array_equal(resumed.probs[("center", "main")], fresh.probs[("center", "main")])


def test_worker_death_maps_to_exit_code_1(capsys):
    def die(_):
        raise LoaderWorkerDied("a data-loading worker process (pid 7) is killed by signal: Killed")

    assert run_command("inception-eval", die, None) == EXIT_DATA
    assert capsys.readouterr().err.strip() == (
        "inception-eval: error: a data-loading worker process (pid 7) is killed by signal: Killed")


def test_only_worker_deaths_are_translated():
    assert view_loader.worker_death(RuntimeError("CUDA error: something else"), iter(()), 2) is None
    died = view_loader.worker_death(RuntimeError("DataLoader worker (pid(s) 12, 13) exited unexpectedly"), iter(()), 2)
    assert str(died).startswith("a data-loading worker process (pid 12, 13) exited unexpectedly: ")
