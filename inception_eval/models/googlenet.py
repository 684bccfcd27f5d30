"""GoogLeNet (Inception v1) in two variants behind one constructor, :func:`googlenet`.

``variant="paper"``
    The network of Szegedy et al. 2014, Table 1, as released in the BVLC Caffe model
    (``bvlc_googlenet``): convolution + bias + ReLU (no BatchNorm); local response normalisation
    (size 5, alpha 1e-4, beta 0.75, k 1, Caffe's ``alpha / n`` form, which is also what
    :class:`torch.nn.LocalResponseNorm` computes; :class:`CaffeLRN` is a faster equal) after pool1 and after conv2/3x3; 3x3/2 max pools
    with ceil rounding (112 -> 56 -> 28 -> 14 -> 7 at 224 px); true 5x5 convolutions (pad 2);
    3x3/1 pad 1 max pool in the pool branch; main head average pool -> dropout 0.4 -> linear;
    auxiliary heads after 4a and 4d: average pool 5x5 stride 3 -> 1x1 conv 128 + ReLU ->
    fc 1024 + ReLU -> dropout 0.7 -> linear. Caffe "xavier" weights (uniform, variance 1/fan_in),
    bias 0.2 everywhere except the three classifiers (bias 0).

``variant="torchvision"``
    The layout of ``torchvision.models.googlenet`` with identical ``state_dict`` keys and shapes,
    so torchvision GoogLeNet weights load with strict key matching and give the same logits:
    conv (no bias) + BatchNorm (eps 1e-3) + ReLU, 3x3 convolution in the "5x5" branch, a 2x2/2 max
    pool before 5a, dropout 0.2, auxiliary heads with adaptive 4x4 average pooling and an optional
    ``transform_input`` that maps ImageNet-normalised input to the [-1, 1] scaling torchvision's
    ported TensorFlow weights expect.

Both variants use the same module names (``conv1``, ``maxpool1``, ``conv2`` = the 1x1 reduce,
``conv3`` = the 3x3, ``maxpool2``, ``inception3a`` ... ``inception5b``, ``aux1``, ``aux2``,
``avgpool``, ``dropout``, ``fc``); the paper variant adds the parameter-free ``lrn1``/``lrn2``.

Input: float (B, 3, H, W), already normalised with the checkpoint's mean/std, any
H, W >= :data:`MIN_INPUT_SIZE` (31 px paper, 15 px torchvision: below that a ceil-mode max pool
would produce an empty map). The main head pools globally, which at 224 px is exactly the paper's 7x7/1 average pool.
The paper-variant auxiliary heads use the exact 5x5/3 pool when it yields 4x4 (12-14 px maps,
e.g. 224 px input) and an adaptive 4x4 average pool otherwise, so ``fc1`` keeps its shape at any size.

Outputs: in train mode a :class:`GoogLeNetOutputs` ``(logits, aux1, aux2)`` (aux entries ``None``
when built with ``aux_logits=False``); in eval mode the main logits (B, num_classes), or the named
tuple when called as ``model(x, return_aux=True)``. The tuple also answers torchvision's field names
``aux_logits1`` / ``aux_logits2`` (same heads); its positional order is ours, not torchvision's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inception_aug.constants import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "VARIANTS", "MIN_INPUT_SIZE", "INCEPTION_SPECS", "GoogLeNetOutputs", "GoogLeNetConfig", "GoogLeNet",
    "CaffeLRN", "ConvReLU", "ConvBNReLU", "Inception", "InceptionAux", "caffe_aux_pool_fits",
    "check_image_batch", "scaled_channels", "googlenet",
]

VARIANTS = ("paper", "torchvision")

#: Smallest input height/width (px) per variant. Paper: below 31 px the 3x3/2 ceil-mode max pool
#: before 5a (maxpool4) gets a 1x1 map and PyTorch refuses it (31 -> 16 -> 8 -> 4 -> 2 -> 1).
#: torchvision: its 2x2/2 pool before 5a accepts 1x1, so 15 px (torchvision documents the same).
MIN_INPUT_SIZE: dict[str, int] = {"paper": 31, "torchvision": 15}

# Table 1 of the paper: (name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
INCEPTION_SPECS: tuple[tuple[str, int, int, int, int, int, int], ...] = (
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64),
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
)


class GoogLeNetOutputs(NamedTuple):
    """Main and auxiliary logits, each (B, num_classes) or ``None`` for an absent aux head.

    ``aux1`` is the head after inception4a, ``aux2`` the head after inception4d. The properties
    ``aux_logits1`` / ``aux_logits2`` are the same two heads under the names of torchvision's
    ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``, so code written for torchvision that
    reads the fields by name works unchanged. Positional order is ours, ``(logits, aux1, aux2)``:
    torchvision code that unpacks the tuple by position gets the two aux heads swapped.
    """

    logits: Tensor
    aux1: Tensor | None
    aux2: Tensor | None

    @property
    def aux_logits1(self) -> Tensor | None:
        """torchvision's name for the head after inception4a (``aux1``)."""
        return self.aux1

    @property
    def aux_logits2(self) -> Tensor | None:
        """torchvision's name for the head after inception4d (``aux2``)."""
        return self.aux2


@dataclass(frozen=True)
class GoogLeNetConfig:
    """Everything needed to rebuild a model with the same ``state_dict`` layout."""

    variant: str = "paper"
    num_classes: int = 1000
    aux_logits: bool = True
    width_mult: float = 1.0
    transform_input: bool = False
    dropout: float | None = None  # None: the variant's own (paper 0.4, torchvision 0.2)
    aux_dropout: float = 0.7


def scaled_channels(channels: int, width_mult: float) -> int:
    """Channel count after width scaling: ``max(1, round(channels * width_mult))``."""
    return max(1, int(round(channels * width_mult)))


class CaffeLRN(nn.LocalResponseNorm):
    """Cross-channel LRN, ``x / (k + alpha/n * sum_{n neighbours} x^2) ** beta`` (Caffe's form).

    Same result as :class:`torch.nn.LocalResponseNorm`, computed as a sum of ``n`` channel-shifted
    squares instead of torch's 3-D average pool: about 3x faster on CPU and it keeps the
    channels_last layout. The normaliser is computed in float32 (also under autocast) and the
    output has the input's dtype.
    """

    def forward(self, x: Tensor) -> Tensor:
        n, c = self.size, x.shape[1]
        xf = x.float()
        sq = F.pad(xf * xf, (0, 0, 0, 0, n // 2, (n - 1) // 2))
        acc = sq[:, 0:c].clone()
        for i in range(1, n):
            acc += sq[:, i:i + c]
        return (xf * acc.mul_(self.alpha / n).add_(self.k).pow_(-self.beta)).to(x.dtype)


class ConvReLU(nn.Module):
    """Paper block: convolution with bias, then ReLU (``.conv``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv(x), inplace=True)


class ConvBNReLU(nn.Module):
    """torchvision's ``BasicConv2d``: convolution without bias, BatchNorm (eps 1e-3), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                              bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    """Four parallel branches concatenated on channels: 1x1 | 1x1->3x3 | 1x1->kxk | pool->1x1.

    ``k`` is 5 in the paper and 3 in torchvision (torchvision issue #906). The channel numbers are
    kept as attributes (``ch1x1`` ...) for the Table 1 summary.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, *, block: type[nn.Module], k5: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.ch1x1, self.ch3x3red, self.ch3x3 = ch1x1, ch3x3red, ch3x3
        self.ch5x5red, self.ch5x5, self.pool_proj = ch5x5red, ch5x5, pool_proj
        self.branch1 = block(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(block(in_channels, ch3x3red, 1), block(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(block(in_channels, ch5x5red, 1), block(ch5x5red, ch5x5, k5, padding=k5 // 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     block(in_channels, pool_proj, 1))

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


def check_image_batch(x: Tensor, who: str = "GoogLeNet") -> None:
    """Raise ``ValueError`` unless ``x`` is a float (B, 3, H, W) batch; ``who`` opens the message."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{who} expects a (B, 3, H, W) float batch, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{who} expects a float batch (normalised), got dtype {x.dtype}")


def caffe_aux_pool_fits(height: int, width: int) -> bool:
    """True when Caffe's 5x5/3 ceil-mode average pool maps an (h, w) map to exactly 4x4 (h, w in 12..14)."""
    return min(height, width) >= 5 and all(math.ceil((n - 5) / 3) + 1 == 4 for n in (height, width))


class InceptionAux(nn.Module):
    """Auxiliary classifier: avg pool to 4x4 -> 1x1 conv 128 (+ReLU) -> fc 1024 + ReLU -> dropout -> fc.

    ``exact_pool=True`` (paper) uses the Caffe 5x5/3 average pool whenever it produces 4x4
    (maps of 12 to 14 px, e.g. 14x14 at 224 px input) and falls back to adaptive 4x4 pooling at
    other input sizes; torchvision always pools adaptively.
    """

    def __init__(self, in_channels: int, num_classes: int, *, block: type[nn.Module], width_mult: float,
                 dropout: float, exact_pool: bool) -> None:
        super().__init__()
        mid = scaled_channels(128, width_mult)
        hidden = scaled_channels(1024, width_mult)
        self.conv = block(in_channels, mid, 1)
        self.fc1 = nn.Linear(mid * 16, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.dropout_p = dropout
        self.exact_pool = exact_pool

    def forward(self, x: Tensor) -> Tensor:
        if self.exact_pool and caffe_aux_pool_fits(x.shape[-2], x.shape[-1]):
            x = F.avg_pool2d(x, 5, stride=3, ceil_mode=True)
        else:
            x = F.adaptive_avg_pool2d(x, (4, 4))
        x = torch.flatten(self.conv(x), 1)
        x = F.relu(self.fc1(x), inplace=True)
        x = F.dropout(x, self.dropout_p, training=self.training)
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """GoogLeNet; build it with :func:`googlenet`. ``config`` holds the constructor arguments."""

    def __init__(self, config: GoogLeNetConfig) -> None:
        super().__init__()
        if config.variant not in VARIANTS:
            raise ValueError(f"unknown GoogLeNet variant {config.variant!r}; expected one of {VARIANTS}")
        if not (isinstance(config.num_classes, int) and config.num_classes >= 1):
            raise ValueError(f"num_classes must be a positive int, got {config.num_classes!r}")
        if not (config.width_mult > 0 and math.isfinite(config.width_mult)):
            raise ValueError(f"width_mult must be a positive number, got {config.width_mult!r}")
        paper = config.variant == "paper"
        if paper and config.transform_input:
            raise ValueError("transform_input is a torchvision-variant option")
        self.config = config
        block: type[nn.Module] = ConvReLU if paper else ConvBNReLU
        w = config.width_mult

        def c(n: int) -> int:
            return scaled_channels(n, w)

        self.conv1 = block(3, c(64), 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        if paper:
            self.lrn1 = CaffeLRN(5, alpha=1e-4, beta=0.75, k=1.0)
        self.conv2 = block(c(64), c(64), 1)
        self.conv3 = block(c(64), c(192), 3, padding=1)
        if paper:
            self.lrn2 = CaffeLRN(5, alpha=1e-4, beta=0.75, k=1.0)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        in_ch = c(192)
        k5 = 5 if paper else 3
        blocks: dict[str, Inception] = {}
        for name, *chs in INCEPTION_SPECS:
            blocks[name] = Inception(in_ch, *(c(n) for n in chs), block=block, k5=k5)
            in_ch = blocks[name].out_channels
        self.inception3a, self.inception3b = blocks["3a"], blocks["3b"]
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a, self.inception4b, self.inception4c = blocks["4a"], blocks["4b"], blocks["4c"]
        self.inception4d, self.inception4e = blocks["4d"], blocks["4e"]
        self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True) if paper else nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a, self.inception5b = blocks["5a"], blocks["5b"]

        if config.aux_logits:
            aux_kw = dict(block=block, width_mult=w, dropout=config.aux_dropout, exact_pool=paper)
            self.aux1: InceptionAux | None = InceptionAux(blocks["4a"].out_channels, config.num_classes, **aux_kw)
            self.aux2: InceptionAux | None = InceptionAux(blocks["4d"].out_channels, config.num_classes, **aux_kw)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        p = config.dropout if config.dropout is not None else (0.4 if paper else 0.2)
        self.dropout = nn.Dropout(p)
        self.fc = nn.Linear(in_ch, config.num_classes)
        self.reset_parameters()

    # Convenience views of the configuration.
    @property
    def variant(self) -> str:
        return self.config.variant

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def width_mult(self) -> float:
        return self.config.width_mult

    @property
    def aux_logits(self) -> bool:
        return self.aux1 is not None

    @property
    def transform_input(self) -> bool:
        return self.config.transform_input

    def reset_parameters(self) -> None:
        """Initialise weights as the variant's reference does (uses torch's global RNG)."""
        classifiers = {self.fc}
        if self.aux1 is not None and self.aux2 is not None:
            classifiers |= {self.aux1.fc2, self.aux2.fc2}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if self.variant == "paper":
                    # Caffe "xavier" filler: U(-a, a), a = sqrt(3 / fan_in).
                    fan_in = m.weight[0].numel()
                    bound = math.sqrt(3.0 / fan_in)
                    nn.init.uniform_(m.weight, -bound, bound)
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0.0 if m in classifiers else 0.2)
                else:
                    # torchvision: truncated normal std 0.01 cut at +-2 (absolute, as torchvision does).
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2.0, b=2.0)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _check_input(self, x: Tensor) -> None:
        check_image_batch(x)
        h, w = x.shape[-2:]
        low = MIN_INPUT_SIZE[self.variant]
        if min(h, w) < low:
            raise ValueError(f"input {h}x{w} px is below the {self.variant} GoogLeNet minimum of {low}x{low} px")

    def _transform_input(self, x: Tensor) -> Tensor:
        # torchvision's _transform_input: ImageNet-normalised x -> x * std/0.5 + (mean - 0.5)/0.5.
        if not self.config.transform_input:
            return x
        scale = x.new_tensor([s / 0.5 for s in IMAGENET_STD]).view(1, 3, 1, 1)
        shift = x.new_tensor([(m - 0.5) / 0.5 for m in IMAGENET_MEAN]).view(1, 3, 1, 1)
        return x * scale + shift

    def forward_features(self, x: Tensor, *, with_aux: bool = False) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Run the trunk up to inception5b: returns (features (B, C, h, w), aux1 logits, aux2 logits)."""
        x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))
        if self.variant == "paper":
            x = self.lrn1(x)
        x = self.conv3(self.conv2(x))
        if self.variant == "paper":
            x = self.lrn2(x)
        x = self.maxpool2(x)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if (with_aux and self.aux1 is not None) else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if (with_aux and self.aux2 is not None) else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        return x, aux1, aux2

    def forward(self, x: Tensor, return_aux: bool = False) -> Tensor | GoogLeNetOutputs:
        """Train mode: ``GoogLeNetOutputs``. Eval mode: logits, or the named tuple if ``return_aux``."""
        self._check_input(x)
        want_tuple = self.training or return_aux
        feats, aux1, aux2 = self.forward_features(x, with_aux=want_tuple)
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(feats), 1)))
        if want_tuple:
            return GoogLeNetOutputs(logits, aux1, aux2)
        return logits


def googlenet(variant: str = "paper", num_classes: int = 1000, aux_logits: bool = True, width_mult: float = 1.0,
              *, transform_input: bool = False, dropout: float | None = None, aux_dropout: float = 0.7) -> GoogLeNet:
    """Build a GoogLeNet.

    Args:
        variant: ``"paper"`` (Caffe replica) or ``"torchvision"`` (torchvision-compatible keys).
        num_classes: classifier outputs (main and aux heads), >= 1.
        aux_logits: build the two auxiliary heads (after 4a and 4d).
        width_mult: multiplies every channel count (rounded, at least 1); 0.25 gives a tiny model.
        transform_input: torchvision variant only; see the module docstring.
        dropout: main-head dropout probability; default 0.4 (paper) or 0.2 (torchvision).
        aux_dropout: aux-head dropout probability (0.7 in both references).

    Weights are freshly initialised from torch's global RNG (seed with ``torch.manual_seed``).
    Input: float (B, 3, H, W), normalised, H and W >= ``MIN_INPUT_SIZE[variant]`` (31 px paper,
    15 px torchvision). Output: train mode ``GoogLeNetOutputs(logits, aux1, aux2)``; eval mode
    logits (B, num_classes), or the named tuple with ``model(x, return_aux=True)``.
    """
    return GoogLeNet(GoogLeNetConfig(variant=variant, num_classes=num_classes, aux_logits=aux_logits,
                                     width_mult=float(width_mult), transform_input=transform_input,
                                     dropout=dropout, aux_dropout=aux_dropout))
