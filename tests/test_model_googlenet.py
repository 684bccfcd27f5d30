"""GoogLeNet: stage shapes, train/eval outputs, minimum input size, width/classes, paper-variant
semantics against an independent functional Caffe-style forward, and a tiny model training on CPU."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inception_eval.models import INCEPTION_SPECS, MIN_INPUT_SIZE, GoogLeNetOutputs, googlenet


STAGES = ["conv1", "maxpool1", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3", "inception4a",
          "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4", "inception5a", "inception5b"]
# Table 1 output sizes at 224 px: (channels, side).
TABLE1_SHAPES = {"conv1": (64, 112), "maxpool1": (64, 56), "conv3": (192, 56), "maxpool2": (192, 28),
                 "inception3a": (256, 28), "inception3b": (480, 28), "maxpool3": (480, 14),
                 "inception4a": (512, 14), "inception4b": (512, 14), "inception4c": (512, 14),
                 "inception4d": (528, 14), "inception4e": (832, 14), "maxpool4": (832, 7),
                 "inception5a": (832, 7), "inception5b": (1024, 7)}


def _stage_shapes(model, size: int) -> dict[str, tuple[int, ...]]:
    shapes = {}
    hooks = [getattr(model, n).register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape)))
             for n in STAGES]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return shapes


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_stage_shapes_match_table1_at_224(variant):
    shapes = _stage_shapes(googlenet(variant, aux_logits=False), 224)
    for name, (c, s) in TABLE1_SHAPES.items():
        assert shapes[name] == (1, c, s, s), name


def test_width_mult_scales_every_channel_and_ceil_pooling_at_112():
    model = googlenet("paper", num_classes=10, width_mult=0.25)
    shapes = _stage_shapes(model, 112)
    # 112 -> conv 56 -> pool 28 -> 14 -> 7 -> 3 (ceil rounding: 56 -> 28, floor would give 27).
    assert shapes["conv1"] == (1, 16, 56, 56)
    assert shapes["maxpool1"] == (1, 16, 28, 28)
    assert shapes["maxpool2"] == (1, 48, 14, 14)
    assert shapes["maxpool4"] == (1, 208, 3, 3)
    assert shapes["inception5b"] == (1, 256, 3, 3)
    assert model.inception3a.ch5x5red == 4 and model.inception5b.ch1x1 == 96
    assert model.fc.in_features == 256 and model.fc.out_features == 10
    assert model.aux1.fc1.in_features == 32 * 16 and model.aux1.fc1.out_features == 256


def test_paper_layers_follow_caffe():
    m = googlenet("paper")
    assert m.inception3a.branch3[1].conv.kernel_size == (5, 5) and m.inception3a.branch3[1].conv.padding == (2, 2)
    assert m.maxpool4.kernel_size == 3 and m.maxpool1.ceil_mode
    assert all(not isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())
    assert (m.lrn1.size, m.lrn1.alpha, m.lrn1.beta, m.lrn1.k) == (5, 1e-4, 0.75, 1.0)
    assert m.dropout.p == 0.4 and m.aux1.dropout_p == 0.7
    tv = googlenet("torchvision")
    assert tv.inception3a.branch3[1].conv.kernel_size == (3, 3) and tv.maxpool4.kernel_size == 2
    assert tv.dropout.p == 0.2 and tv.conv1.bn.eps == 1e-3 and tv.conv1.conv.bias is None


def test_paper_init_is_caffe_xavier_with_bias_02():
    torch.manual_seed(0)
    m = googlenet("paper", num_classes=10)
    w = m.inception4a.branch2[1].conv.weight  # fan_in = 96 * 9
    bound = math.sqrt(3 / (96 * 9))
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    assert abs(w.var().item() - 1 / (96 * 9)) < 0.05 / (96 * 9)  # uniform(-a, a) variance a^2/3 = 1/fan_in
    assert torch.all(m.conv1.conv.bias == 0.2) and torch.all(m.aux1.fc1.bias == 0.2)
    for clf in (m.fc, m.aux1.fc2, m.aux2.fc2):
        assert torch.all(clf.bias == 0)


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_train_and_eval_outputs(variant):
    torch.manual_seed(0)
    m = googlenet(variant, num_classes=7, width_mult=0.25)
    x = torch.randn(2, 3, 96, 96)
    out = m.train()(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert [t.shape for t in out] == [(2, 7)] * 3
    m.eval()
    logits = m(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 7)
    both = m(x, return_aux=True)
    assert isinstance(both, GoogLeNetOutputs) and both.aux1.shape == (2, 7) and both.aux2.shape == (2, 7)
    torch.testing.assert_close(both.logits, logits)
    assert not torch.allclose(both.aux1, both.logits)
    no_aux = googlenet(variant, num_classes=7, width_mult=0.25, aux_logits=False)
    out = no_aux.train()(x)
    assert isinstance(out, GoogLeNetOutputs) and out.aux1 is None and out.aux2 is None
    assert no_aux.eval()(x, return_aux=True).aux2 is None
    assert not any(k.startswith("aux") for k in no_aux.state_dict())


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
def test_minimum_input_size(variant):
    m = googlenet(variant, num_classes=3, width_mult=0.125).eval()
    low = MIN_INPUT_SIZE[variant]
    with torch.no_grad():
        assert m(torch.zeros(1, 3, low, low)).shape == (1, 3)
        assert m(torch.zeros(1, 3, low, 2 * low + 3)).shape == (1, 3)  # non-square
        assert m(torch.zeros(1, 3, low, low), return_aux=True).aux1.shape == (1, 3)
        with pytest.raises(ValueError, match=f"minimum of {low}x{low}"):
            m(torch.zeros(1, 3, low - 1, 64))
        # The documented minimum is tight: one pixel less fails inside torch without our check.
        with pytest.raises(RuntimeError):
            m.forward_features(torch.zeros(1, 3, low - 1, low - 1))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        m(torch.zeros(3, 64, 64))
    with pytest.raises(ValueError, match="float"):
        m(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="unknown GoogLeNet variant"):
        googlenet("resnet")
    with pytest.raises(ValueError, match="num_classes"):
        googlenet(num_classes=0)
    with pytest.raises(ValueError, match="width_mult"):
        googlenet(width_mult=0)
    with pytest.raises(ValueError, match="transform_input"):
        googlenet("paper", transform_input=True)


# ---- independent functional reference of the BVLC Caffe GoogLeNet (paper variant) -----------------

def caffe_lrn(x, n=5, alpha=1e-4, beta=0.75, k=1.0):
    """Caffe ACROSS_CHANNELS LRN: x / (k + alpha/n * sum over n neighbouring channels of x^2)^beta."""
    c = x.shape[1]
    sq = F.pad(x.pow(2), (0, 0, 0, 0, n // 2, n // 2))
    window = sum(sq[:, i:i + c] for i in range(n))
    return x / (k + alpha / n * window).pow(beta)


def _conv(sd, name, x, stride=1):
    w = sd[f"{name}.conv.weight"]
    return F.relu(F.conv2d(x, w, sd[f"{name}.conv.bias"], stride=stride, padding=w.shape[-1] // 2))


def _inception(sd, p, x):
    b1 = _conv(sd, f"{p}.branch1", x)
    b2 = _conv(sd, f"{p}.branch2.1", _conv(sd, f"{p}.branch2.0", x))
    b3 = _conv(sd, f"{p}.branch3.1", _conv(sd, f"{p}.branch3.0", x))
    b4 = _conv(sd, f"{p}.branch4.1", F.max_pool2d(x, 3, 1, 1, ceil_mode=True))
    return torch.cat([b1, b2, b3, b4], 1)


def _aux(sd, p, x):
    x = F.avg_pool2d(x, 5, stride=3)  # 14x14 -> 4x4 exactly at 224 px
    x = _conv(sd, f"{p}.conv", x).flatten(1)
    x = F.relu(F.linear(x, sd[f"{p}.fc1.weight"], sd[f"{p}.fc1.bias"]))
    return F.linear(x, sd[f"{p}.fc2.weight"], sd[f"{p}.fc2.bias"])


def caffe_googlenet_forward(sd, x):
    x = caffe_lrn(F.max_pool2d(_conv(sd, "conv1", x, stride=2), 3, 2, ceil_mode=True))
    x = caffe_lrn(_conv(sd, "conv3", _conv(sd, "conv2", x)))
    x = F.max_pool2d(x, 3, 2, ceil_mode=True)
    x = F.max_pool2d(_inception(sd, "inception3b", _inception(sd, "inception3a", x)), 3, 2, ceil_mode=True)
    x = _inception(sd, "inception4a", x)
    aux1 = _aux(sd, "aux1", x)
    for n in ("4b", "4c", "4d"):
        x = _inception(sd, f"inception{n}", x)
    aux2 = _aux(sd, "aux2", x)
    x = F.max_pool2d(_inception(sd, "inception4e", x), 3, 2, ceil_mode=True)
    x = _inception(sd, "inception5b", _inception(sd, "inception5a", x))
    x = F.avg_pool2d(x, 7).flatten(1)  # "avg pool 7x7/1"
    return F.linear(x, sd["fc.weight"], sd["fc.bias"]), aux1, aux2


def test_paper_variant_matches_functional_caffe_forward():
    torch.manual_seed(1)
    m = googlenet("paper", num_classes=20).eval()
    # He-scaled weights so the signal survives 22 layers and the comparison is not trivially ~constant.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                mod.weight.normal_(0, math.sqrt(2 / mod.weight[0].numel()))
                mod.bias.normal_(0, 0.05)
    x = torch.randn(2, 3, 224, 224) * 20  # large inputs so the LRN actually divides
    with torch.no_grad():
        ours = m(x, return_aux=True)
        ref = caffe_googlenet_forward(m.state_dict(), x)
    for a, b in zip(ours, ref):
        assert b.std() > 1e-2
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())


def test_lrn_matches_caffe_formula():
    m = googlenet("paper", width_mult=0.125)
    x = torch.rand(2, 24, 5, 5) * 300
    ref = caffe_lrn(x)
    assert (ref / x).min() < 0.9  # the normalisation is active at this scale
    torch.testing.assert_close(m.lrn1(x), ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(m.lrn1(x), torch.nn.functional.local_response_norm(x, 5, 1e-4, 0.75, 1.0),
                               rtol=1e-5, atol=1e-4)
    # channels_last in, channels_last out; bfloat16 in, bfloat16 out
    cl = x.contiguous(memory_format=torch.channels_last)
    assert m.lrn1(cl).is_contiguous(memory_format=torch.channels_last)
    assert m.lrn1(x.bfloat16()).dtype == torch.bfloat16


def test_inception_specs_are_table1():
    assert INCEPTION_SPECS[0] == ("3a", 64, 96, 128, 16, 32, 32)
    assert INCEPTION_SPECS[-1] == ("5b", 384, 192, 384, 48, 128, 128)
    m = googlenet("paper", aux_logits=False)
    assert [getattr(m, f"inception{s[0]}").out_channels for s in INCEPTION_SPECS] == \
        [256, 480, 512, 512, 512, 528, 832, 832, 1024]


# ---- a tiny model trains on CPU -----------------------------------------------------------------------

@pytest.mark.parametrize("variant,lr,steps,drop", [("torchvision", 0.05, 8, 0.4), ("paper", 0.01, 12, 0.05)])
def test_tiny_model_trains_on_cpu(variant, lr, steps, drop):
    """width 0.25 at 112 px: SGD on a fixed batch lowers main + 0.3 * aux losses (the paper's weighting).

    Dropout is off so the loss is a deterministic function of the weights. The BatchNorm-free paper
    variant starts with input signal fading through 22 layers (Caffe init), so it learns slowly: we
    only ask for a clear decrease; the torchvision variant must fall well below chance.
    """
    torch.manual_seed(0)
    m = googlenet(variant, num_classes=5, width_mult=0.25, dropout=0.0, aux_dropout=0.0).train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 3, 112, 112, generator=g)
    y = torch.arange(10) % 5
    opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(steps):
        out = m(x)
        loss = F.cross_entropy(out.logits, y) + 0.3 * (F.cross_entropy(out.aux1, y) + F.cross_entropy(out.aux2, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    final = sum(losses[-3:]) / 3
    if variant == "torchvision":
        assert final < losses[0] * (1 - drop) + 1e-9, losses
    else:
        assert final < losses[0] - drop, losses


@pytest.mark.parametrize("side,exact", [(14, True), (13, True), (12, True), (11, False), (10, False), (20, False)])
def test_paper_aux_pool_is_caffe_5x5s3_when_it_gives_4x4(side, exact):
    torch.manual_seed(0)
    m = googlenet("paper", num_classes=4, width_mult=0.125).eval()
    x = torch.rand(2, m.inception4a.out_channels, side, side)
    sd = {k[len("aux1."):]: v for k, v in m.state_dict().items() if k.startswith("aux1.")}
    pooled = F.avg_pool2d(x, 5, 3, ceil_mode=True) if exact else F.adaptive_avg_pool2d(x, 4)
    h = F.relu(F.conv2d(pooled, sd["conv.conv.weight"], sd["conv.conv.bias"])).flatten(1)
    ref = F.linear(F.relu(F.linear(h, sd["fc1.weight"], sd["fc1.bias"])), sd["fc2.weight"], sd["fc2.bias"])
    with torch.no_grad():
        torch.testing.assert_close(m.aux1(x), ref)


def test_outputs_answer_torchvision_field_names():
    """torchvision's GoogLeNetOutputs(logits, aux_logits2, aux_logits1): aux_logits1 is the head after
    inception4a, aux_logits2 the one after 4d; ours reads the same by name, positional order is ours."""
    torch.manual_seed(0)
    m = googlenet("torchvision", num_classes=5, width_mult=0.125).eval()
    x = torch.randn(2, 3, 64, 64)
    out = m(x, return_aux=True)
    assert out._fields == ("logits", "aux1", "aux2")
    with torch.no_grad():
        feats4a = m.inception4a(m.maxpool3(m.inception3b(m.inception3a(m.maxpool2(m.conv3(m.conv2(
            m.maxpool1(m.conv1(m._transform_input(x))))))))))
        head_after_4a = m.aux1(feats4a)
        head_after_4d = m.aux2(m.inception4d(m.inception4c(m.inception4b(feats4a))))
    torch.testing.assert_close(out.aux_logits1, head_after_4a)
    torch.testing.assert_close(out.aux_logits2, head_after_4d)
    assert out.aux_logits1 is out.aux1 and out.aux_logits2 is out.aux2 and out[1] is out.aux1
    no_aux = googlenet("paper", num_classes=5, width_mult=0.125, aux_logits=False).eval()(x, return_aux=True)
    assert no_aux.aux_logits1 is None and no_aux.aux_logits2 is None
