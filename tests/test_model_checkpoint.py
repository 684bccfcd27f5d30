"""Checkpoints: our format round-trips, foreign containers load with inference from keys, and every
bad input is a CheckpointError naming the file and the reason (never code execution)."""
from __future__ import annotations

import hashlib
import os
import pickle

import pytest
import torch

from inception_eval.models import CheckpointError, CheckpointInfo, googlenet, load_checkpoint, save_checkpoint


def _model(variant="paper", num_classes=6, width_mult=0.25, aux_logits=True, seed=0, **kw):
    torch.manual_seed(seed)
    m = googlenet(variant, num_classes=num_classes, width_mult=width_mult, aux_logits=aux_logits, **kw).eval()
    if variant == "torchvision":  # non-trivial BN statistics so a wrong load would show in the logits
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_mean.normal_(0, 0.1)
                    mod.running_var.uniform_(0.5, 2.0)
                elif isinstance(mod, torch.nn.Conv2d):
                    mod.weight.normal_(0, (2 / mod.weight[0].numel()) ** 0.5)
    return m


X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def _logits(m):
    with torch.no_grad():
        return m.eval()(X)


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_round_trip_keeps_weights_and_metadata(tmp_path, variant):
    m = _model(variant, transform_input=(variant == "torchvision"))
    path = tmp_path / "sub" / "ckpt.pt"
    names = [f"class{i}" for i in range(6)]
    saved = save_checkpoint(path, m, input_size=112, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                            class_names=names, training={"epochs": 3, "recipe": "paper"}, note="hello")
    assert saved.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded, info = load_checkpoint(path)
    assert isinstance(info, CheckpointInfo)
    assert not loaded.training
    assert (info.variant, info.num_classes, info.width_mult, info.aux_logits) == (variant, 6, 0.25, True)
    assert info.transform_input == (variant == "torchvision")
    assert info.input_size == 112 and info.mean == (0.5, 0.5, 0.5) and info.std == (0.25, 0.25, 0.25)
    assert info.class_names == tuple(names) and info.training == {"epochs": 3, "recipe": "paper"}
    assert info.extra == {"note": "hello"} and info.inferred == () and info.source == "inception-toolkit"
    assert info.sha256 == saved.sha256 and info.path == str(path)
    torch.testing.assert_close(_logits(loaded), _logits(m), rtol=0, atol=0)
    for k, v in m.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    assert not any(p.name.endswith(".tmp") for p in path.parent.iterdir())  # atomic write left nothing


def test_metadata_is_stored_as_plain_data(tmp_path):
    import numpy as np
    from pathlib import Path

    save_checkpoint(tmp_path / "m.pt", _model(), training={"data": Path("/x/y"), "mean": (0.5, 0.5), "lr": np.float32(0.5),
                                                          "hist": np.arange(3), "obj": object})
    _, info = load_checkpoint(tmp_path / "m.pt")  # weights_only load accepts it
    assert info.training["data"] == "/x/y" and info.training["mean"] == [0.5, 0.5]
    assert info.training["lr"] == 0.5 and info.training["hist"] == [0, 1, 2] and "object" in info.training["obj"]


def test_sha256_changes_with_content(tmp_path):
    a = save_checkpoint(tmp_path / "a.pt", _model(seed=0))
    b = save_checkpoint(tmp_path / "b.pt", _model(seed=1))
    assert a.sha256 != b.sha256 and len(a.sha256) == 64


def test_save_rejects_wrong_class_names_and_foreign_models(tmp_path):
    with pytest.raises(ValueError, match="2 class names for a model with 6 classes"):
        save_checkpoint(tmp_path / "x.pt", _model(), class_names=["a", "b"])
    with pytest.raises(TypeError, match="GoogLeNet"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2))


def test_save_unwraps_compiled_or_ddp_style_wrappers(tmp_path):
    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.module = inner
    m = _model()
    save_checkpoint(tmp_path / "w.pt", Wrapper(m))
    loaded, _ = load_checkpoint(tmp_path / "w.pt")
    torch.testing.assert_close(_logits(loaded), _logits(m))


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
@pytest.mark.parametrize("container", ["plain", "ddp", "lightning", "wrapped_ddp", "compiled"])
def test_foreign_containers_and_inference_from_keys(tmp_path, variant, container):
    m = _model(variant, num_classes=9, width_mult=0.5)
    sd = m.state_dict()
    if container == "plain":
        obj, prefix = sd, ""
    elif container == "ddp":
        obj, prefix = {f"module.{k}": v for k, v in sd.items()}, "module."
    elif container == "lightning":
        obj = {"epoch": 3, "global_step": 10, "state_dict": {f"model.{k}": v for k, v in sd.items()},
               "hyper_parameters": {"lr": 0.1}}
        prefix = "model."
    elif container == "wrapped_ddp":
        obj, prefix = {"model_state_dict": {f"module.{k}": v for k, v in sd.items()}, "optimizer": {}}, "module."
    else:
        obj, prefix = {f"_orig_mod.{k}": v for k, v in sd.items()}, "_orig_mod."
    path = tmp_path / f"{container}.pth"
    torch.save(obj, path)
    loaded, info = load_checkpoint(path, transform_input=False)
    assert (info.variant, info.num_classes, info.width_mult, info.aux_logits) == (variant, 9, 0.5, True)
    assert info.stripped_prefix == prefix
    assert {"variant", "num_classes", "width_mult", "aux_logits"} <= set(info.inferred)
    torch.testing.assert_close(_logits(loaded), _logits(m), rtol=0, atol=0)


def test_fp16_weights_load_as_float32(tmp_path):
    m = _model("torchvision", num_classes=4)
    torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in m.state_dict().items()}, tmp_path / "h.pt")
    loaded, info = load_checkpoint(tmp_path / "h.pt", transform_input=False)
    assert info.weights_dtype == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    ref = _logits(m)
    torch.testing.assert_close(_logits(loaded), ref, rtol=0, atol=2e-2 * ref.abs().max().item())
    # and our own writer's half option
    save_checkpoint(tmp_path / "h2.pt", m, half=True)
    assert os.path.getsize(tmp_path / "h2.pt") < 0.6 * os.path.getsize(tmp_path / "h.pt") * 2
    loaded2, info2 = load_checkpoint(tmp_path / "h2.pt")
    assert info2.weights_dtype == "float16" and info2.inferred == ()
    torch.testing.assert_close(_logits(loaded2), _logits(loaded), rtol=0, atol=0)


def test_width_inferred_without_metadata_for_unusual_widths(tmp_path):
    m = _model("paper", num_classes=3, width_mult=0.3)
    torch.save(m.state_dict(), tmp_path / "w.pt")
    loaded, info = load_checkpoint(tmp_path / "w.pt")
    assert info.width_mult == 0.3
    torch.testing.assert_close(_logits(loaded), _logits(m))


def test_no_aux_heads_inferred_and_aux_requests(tmp_path):
    m = _model("paper", aux_logits=False)
    torch.save(m.state_dict(), tmp_path / "noaux.pt")
    loaded, info = load_checkpoint(tmp_path / "noaux.pt")
    assert not info.aux_logits and loaded.aux1 is None
    with pytest.raises(CheckpointError, match=r"missing keys: aux1\.") as e:
        load_checkpoint(tmp_path / "noaux.pt", aux_logits=True)
    assert "aux2.fc2.bias" in e.value.missing


# ---- errors -------------------------------------------------------------------------------------------

def _err(path, **kw) -> CheckpointError:
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path, **kw)
    assert str(path) in str(e.value)
    assert str(e.value).startswith(f"cannot load checkpoint {path}: ")
    return e.value


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    sd = _model("paper").state_dict()
    del sd["inception4c.branch3.1.conv.weight"]
    sd["inception4c.branch5.conv.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "bad.pt")
    e = _err(tmp_path / "bad.pt")
    assert e.missing == ["inception4c.branch3.1.conv.weight"]
    assert e.unexpected == ["inception4c.branch5.conv.weight"]
    assert "1 missing keys: inception4c.branch3.1.conv.weight" in str(e)
    assert "1 unexpected keys: inception4c.branch5.conv.weight" in str(e)


def test_shape_mismatch_is_named(tmp_path):
    sd = _model("paper", width_mult=0.25).state_dict()
    sd["inception4b.branch2.1.conv.weight"] = torch.zeros(56, 28, 5, 5)
    torch.save(sd, tmp_path / "shape.pt")
    e = _err(tmp_path / "shape.pt")
    assert e.mismatched == [("inception4b.branch2.1.conv.weight", (56, 28, 5, 5), (56, 28, 3, 3))]
    assert "inception4b.branch2.1.conv.weight has [56, 28, 5, 5] in the file, model needs [56, 28, 3, 3]" in str(e)


def test_long_key_lists_are_truncated(tmp_path):
    sd = {k: v for k, v in _model("paper").state_dict().items() if not k.startswith("inception5")}
    torch.save(sd, tmp_path / "short.pt")
    e = _err(tmp_path / "short.pt")
    assert len(e.missing) > 20 and "more" in str(e) and len(str(e)) < 2000


def test_num_classes_mismatch(tmp_path):
    save_checkpoint(tmp_path / "c.pt", _model(num_classes=6))
    e = _err(tmp_path / "c.pt", num_classes=1000)
    assert "num_classes mismatch: the file has 6 classes, expected 1000" in str(e)
    obj = torch.load(tmp_path / "c.pt", weights_only=True)
    obj["metadata"]["num_classes"] = 7
    torch.save(obj, tmp_path / "c2.pt")
    assert "metadata says 7 but fc.weight has 6 rows" in str(_err(tmp_path / "c2.pt"))


def test_variant_mismatch_and_unknown_layout(tmp_path):
    save_checkpoint(tmp_path / "p.pt", _model("paper"))
    assert "variant mismatch" in str(_err(tmp_path / "p.pt", variant="torchvision"))
    torch.save({"layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3), "fc.weight": torch.zeros(10, 512)},
               tmp_path / "resnet.pt")
    assert "cannot tell the GoogLeNet variant" in str(_err(tmp_path / "resnet.pt"))


@pytest.mark.parametrize("kind", ["text", "random", "empty", "list", "dict_no_tensors", "truncated", "dir", "absent"])
def test_not_a_checkpoint(tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    if kind == "text":
        path.write_text("hello, I am not a checkpoint\n")
    elif kind == "random":
        path.write_bytes(bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)).tolist()))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "list":
        torch.save([torch.zeros(2)], path)
    elif kind == "dict_no_tensors":
        torch.save({"epoch": 3, "lr": 0.1}, path)
    elif kind == "truncated":
        save_checkpoint(path, _model())
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "dir":
        path.mkdir()
    e = _err(path)
    expected = {"absent": "no such file", "dir": "not a regular file", "list": "holds a list",
                "dict_no_tensors": "a dict with keys [epoch, lr] and no state_dict"}.get(kind, "not a checkpoint")
    assert expected in str(e)


class _Exploit:
    """Unpickling this would run a shell command (the classic malicious checkpoint)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", ["torch.save", "raw pickle"])
def test_code_executing_pickle_is_refused(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if protocol == "torch.save":
        torch.save({"state_dict": _model().state_dict(), "hook": _Exploit(marker)}, path)
    else:
        with open(path, "wb") as f:
            pickle.dump({"hook": _Exploit(marker)}, f, protocol=2)
    e = _err(path)
    assert not marker.exists()
    assert "refused" in str(e) and "weights_only" in str(e)
    assert "system" in str(e)  # names the global it refused to import


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unsupported_pickle_opcodes_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil4.pt", "wb") as f:
        pickle.dump({"hook": _Exploit(marker)}, f, protocol=4)
    e = _err(tmp_path / "evil4.pt")
    assert not marker.exists() and ("refused" in str(e) or "not a checkpoint" in str(e))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is absent")
def test_map_location_cuda_without_cuda(tmp_path):
    save_checkpoint(tmp_path / "g.pt", _model())
    assert "CUDA is not available" in str(_err(tmp_path / "g.pt", map_location="cuda"))


def test_describe_lists_the_contents(tmp_path):
    save_checkpoint(tmp_path / "d.pt", _model(num_classes=3), class_names=["cat", "dog", "fox"],
                    training={"epochs": 2})
    _, info = load_checkpoint(tmp_path / "d.pt")
    text = info.describe()
    assert "variant:         paper" in text and "cat, dog, fox" in text and info.sha256 in text
    assert "'epochs': 2" in text
