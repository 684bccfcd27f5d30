"""torchvision variant: same state_dict keys/shapes as torchvision's googlenet (fixture transcribed from
torchvision's source), same logits as an independent functional re-implementation of torchvision's
forward, and a torchvision-format state_dict file loads strictly through load_checkpoint.
torchvision itself is never imported."""
from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from inception_eval.models import googlenet, load_checkpoint


FIXTURE = Path(__file__).parent / "fixtures" / "torchvision_googlenet_keys.txt"


def fixture_keys() -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for line in FIXTURE.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")
        rows.append((key, tuple(ast.literal_eval(shape))))
    return rows


def random_torchvision_state(num_classes: int = 1000, seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-layout state_dict built from the fixture alone, with non-trivial BN statistics."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in fixture_keys():
        if key.startswith(("fc.", "aux1.fc2", "aux2.fc2")) and shape and shape[0] == 1000:
            shape = (num_classes,) + shape[1:]
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(1234)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(shape, generator=g) * 1.5 + 0.5
        elif key.endswith(("running_mean", ".bias")):
            sd[key] = torch.randn(shape, generator=g) * 0.1
        elif key.endswith("bn.weight"):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:  # conv / linear weights, He-scaled so the signal survives the depth
            fan_in = math.prod(shape[1:])
            sd[key] = torch.randn(shape, generator=g) * math.sqrt(2 / fan_in)
    return sd


# ---- independent functional re-implementation of torchvision's GoogLeNet forward ---------------------

def _basic(sd, p, x, stride=1):
    w = sd[f"{p}.conv.weight"]
    x = F.conv2d(x, w, None, stride=stride, padding=w.shape[-1] // 2)
    x = F.batch_norm(x, sd[f"{p}.bn.running_mean"], sd[f"{p}.bn.running_var"], sd[f"{p}.bn.weight"],
                     sd[f"{p}.bn.bias"], training=False, eps=0.001)
    return F.relu(x)


def _inception(sd, p, x):
    return torch.cat([
        _basic(sd, f"{p}.branch1", x),
        _basic(sd, f"{p}.branch2.1", _basic(sd, f"{p}.branch2.0", x)),
        _basic(sd, f"{p}.branch3.1", _basic(sd, f"{p}.branch3.0", x)),
        _basic(sd, f"{p}.branch4.1", F.max_pool2d(x, 3, 1, 1, ceil_mode=True)),
    ], 1)


def _aux(sd, p, x):
    x = _basic(sd, f"{p}.conv", F.adaptive_avg_pool2d(x, (4, 4))).flatten(1)
    x = F.relu(F.linear(x, sd[f"{p}.fc1.weight"], sd[f"{p}.fc1.bias"]))
    return F.linear(x, sd[f"{p}.fc2.weight"], sd[f"{p}.fc2.bias"])


def torchvision_forward(sd, x, transform_input=False):
    """Eval-mode torchvision GoogLeNet; returns (logits, aux1, aux2) (aux computed as in train mode)."""
    if transform_input:
        x = torch.cat([x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
                       x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                       x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5], 1)
    x = F.max_pool2d(_basic(sd, "conv1", x, stride=2), 3, 2, ceil_mode=True)
    x = F.max_pool2d(_basic(sd, "conv3", _basic(sd, "conv2", x)), 3, 2, ceil_mode=True)
    x = F.max_pool2d(_inception(sd, "inception3b", _inception(sd, "inception3a", x)), 3, 2, ceil_mode=True)
    x = _inception(sd, "inception4a", x)
    aux1 = _aux(sd, "aux1", x)
    for n in ("4b", "4c", "4d"):
        x = _inception(sd, f"inception{n}", x)
    aux2 = _aux(sd, "aux2", x)
    x = F.max_pool2d(_inception(sd, "inception4e", x), 2, 2, ceil_mode=True)
    x = _inception(sd, "inception5b", _inception(sd, "inception5a", x))
    x = F.adaptive_avg_pool2d(x, 1).flatten(1)
    return F.linear(x, sd["fc.weight"], sd["fc.bias"]), aux1, aux2


# ---- tests -------------------------------------------------------------------------------------------

def test_fixture_is_complete_and_matches_our_keys_in_order():
    rows = fixture_keys()
    assert len(rows) == 364 and len({k for k, _ in rows}) == 364
    ours = [(k, tuple(v.shape)) for k, v in googlenet("torchvision").state_dict().items()]
    assert ours == rows


def test_fixture_without_aux_matches_aux_logits_false():
    rows = [(k, s) for k, s in fixture_keys() if not k.startswith("aux")]
    ours = [(k, tuple(v.shape)) for k, v in googlenet("torchvision", aux_logits=False).state_dict().items()]
    assert ours == rows


@pytest.mark.parametrize("size,transform_input", [(224, False), (160, True)])
def test_same_logits_as_functional_torchvision_forward(size, transform_input):
    sd = random_torchvision_state(num_classes=1000, seed=size)
    m = googlenet("torchvision", transform_input=transform_input)
    m.load_state_dict(sd, strict=True)
    m.eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = m(x, return_aux=True)
        ref = torchvision_forward(sd, x, transform_input=transform_input)
    for a, b in zip(ours, ref):
        assert b.std() > 1e-2
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())
    # transform_input really changes the computation (guards against it being silently ignored).
    with torch.no_grad():
        other = torchvision_forward(sd, x, transform_input=not transform_input)[0]
    assert not torch.allclose(ours.logits, other, rtol=1e-3, atol=1e-3)


def test_torchvision_state_dict_file_loads_strictly(tmp_path):
    sd = random_torchvision_state(num_classes=1000, seed=7)
    path = tmp_path / "googlenet-tv.pth"
    torch.save(sd, path)
    model, info = load_checkpoint(path)
    assert (info.variant, info.num_classes, info.width_mult, info.aux_logits) == ("torchvision", 1000, 1.0, True)
    assert info.transform_input  # torchvision's released weights expect it; no metadata says otherwise
    assert {"variant", "num_classes", "width_mult"} <= set(info.inferred)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(model(x), torchvision_forward(sd, x, transform_input=True)[0],
                                   rtol=1e-4, atol=1e-3)
    # Dropping the (untrained in torchvision's release) aux heads on request, as torchvision does.
    model, info = load_checkpoint(path, aux_logits=False, transform_input=False)
    assert model.aux1 is None and not info.aux_logits and not info.transform_input
