"""prepare_for_inference: CPU paths (fp32 contiguous / channels_last, bf16, fp16), float32 outputs,
aux heads, clear errors for unknown precisions and absent devices."""
from __future__ import annotations

import pytest
import torch

from inception_eval.models import GoogLeNetOutputs, InferenceModel, googlenet, prepare_for_inference
from inception_eval.models.inference import _autocast_supported


def _model(variant="paper"):
    torch.manual_seed(0)
    m = googlenet(variant, num_classes=10, width_mult=0.25)
    with torch.no_grad():  # He-scaled weights: outputs vary with the input, so precision errors show
        for mod in m.modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                mod.weight.normal_(0, (2 / mod.weight[0].numel()) ** 0.5)
    return m


X = torch.randn(3, 3, 96, 96, generator=torch.Generator().manual_seed(0))


def _reference(m):
    with torch.no_grad():
        return m.eval()(X)


@pytest.mark.parametrize("variant", ["paper", "torchvision"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fp32_matches_eval_forward(variant, channels_last):
    m = _model(variant)
    ref = _reference(m)
    m.train()
    im = prepare_for_inference(m, precision="fp32", channels_last=channels_last)
    assert isinstance(im, InferenceModel) and not m.training
    assert m.conv1.conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    out = im(X)
    assert out.dtype == torch.float32 and out.shape == (3, 10)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    torch.testing.assert_close(im.probs(X).sum(1), torch.ones(3))
    # Float64 or half inputs are accepted and computed as float32.
    torch.testing.assert_close(im(X.double()), out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_returns_float32_close_to_fp32(precision):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    if _autocast_supported(torch.device("cpu"), dtype) is not None:
        with pytest.raises(ValueError, match=f"precision '{precision}' is not supported on cpu"):
            prepare_for_inference(_model(), precision=precision)
        return
    m = _model()
    ref_probs = torch.softmax(_reference(m), 1)
    im = prepare_for_inference(m, precision=precision)
    out = im(X)
    assert out.dtype == torch.float32
    diff = (torch.softmax(out, 1) - ref_probs).abs().max().item()
    assert 0 < diff < (0.05 if precision == "bf16" else 0.01)  # really reduced, but close


def test_fp16_unsupported_message(monkeypatch):
    import inception_eval.models.inference as inf
    monkeypatch.setattr(inf, "_autocast_supported", lambda device, dtype: "no kernel")
    with pytest.raises(ValueError, match=r"precision 'fp16' is not supported on cpu .*no kernel.*try precision='bf16'"):
        prepare_for_inference(_model(), precision="fp16")


def test_return_aux_gives_float32_heads():
    m = _model()
    im = prepare_for_inference(m, precision="bf16")
    out = im(X, return_aux=True)
    assert isinstance(out, GoogLeNetOutputs)
    logits, aux1, aux2 = out
    assert all(t.dtype == torch.float32 and t.shape == (3, 10) for t in (logits, aux1, aux2))
    m2 = googlenet("paper", num_classes=10, width_mult=0.25, aux_logits=False)
    assert prepare_for_inference(m2)(X, return_aux=True)[1] is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        prepare_for_inference(_model(), precision="int8")
    im = prepare_for_inference(_model())
    with pytest.raises(ValueError, match="float"):
        im(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="batch"):
        im(torch.zeros(3, 64, 64))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is absent")
def test_cuda_absent_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        prepare_for_inference(_model(), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_paths(precision):
    m = _model()
    ref = _reference(m)
    im = prepare_for_inference(m, device="cuda", precision=precision)
    out = im(X)
    assert out.device.type == "cuda" and out.dtype == torch.float32
    tol = {"fp32": 1e-3, "bf16": 0.1, "fp16": 0.02}[precision] * ref.abs().max().item()
    torch.testing.assert_close(out.cpu(), ref, rtol=0, atol=tol)


def test_every_precision_name_has_an_autocast_dtype():
    from inception_eval.constants import PRECISIONS
    from inception_eval.models import inference

    assert tuple(inference._AUTOCAST_DTYPES) == PRECISIONS
    assert inference._AUTOCAST_DTYPES["fp32"] is None
