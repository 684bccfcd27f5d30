"""Per-layer summary in the columns of the paper's Table 1, for any variant, input size and width.

Columns: type, patch size/stride, output size, depth, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5,
pool proj, params, ops. Counts are measured on the real module tree (forward hooks on a
``meta``-device model, so no memory or compute is spent):

* ``params``: learnable parameters of the row (weights, biases, BatchNorm scale/shift);
  ``weights`` the convolution/linear weights alone (what the paper's column counts).
* ``macs``: multiply-adds per image of the convolutions and linear layers in the row
  (kernel elements x input channels x output elements); pools, LRN, BatchNorm, ReLU are not counted.

Printed units follow the paper's table: params in K = 1024 (its conv2 entry, 112K, is exactly
114,688 weights / 1024) and ops in M = 10^6 (its conv2 entry, 360M, is 359.66 x 10^6).

Agreement with the paper (``paper_comparison``): for the paper variant at 224 px our ops equal the
paper's ops column for conv2 and every inception block except 5a, where the paper's figure is
rounded to whole millions either to nearest (conv2 359.7 -> 360, 4b 87.9 -> 88, 4d 118.5 -> 119,
5b 70.7 -> 71) or down (4a 73.6 -> 73); we accept either rounding. The paper's slips, which we
document and do not copy:

* conv1: the paper prints 2.7K params / 34M ops; the layer has 7*7*3*64 = 9,408 weights
  (9.2K) and 118.0M multiply-adds (34M ~ 2.7K x 112^2: both figures follow from one wrong count).
* 5a: the paper prints 54M ops and 1072K params; with the table's own filter numbers
  (832 -> 256, 160/320, 32/128, 128) the block has 1,042,432 weights (1018K) and 51.1M ops.
  54M ~ 1072K x 7^2 = 53.8M, i.e. the ops figure follows from the params slip.
* params of 3b (380K vs 379.0K), 4a (364K vs 366.8K), 4b (437K vs 438.0K), 4c (463K vs 497.5K),
  4d (580K vs 590.5K), 4e (840K vs 847K), 5b (1388K vs 1409K) disagree with the listed filter
  numbers; 4c is the largest slip.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .googlenet import INCEPTION_SPECS, GoogLeNet, Inception, caffe_aux_pool_fits, googlenet

__all__ = [
    "K", "M", "PAPER_TABLE1", "PAPER_OPS_SLIPS", "LayerRow", "ModelSummary", "PaperComparison", "model_summary",
    "paper_comparison", "paper_comparison_markdown", "summary_report",
]

K = 1024  # params unit of the paper's table
M = 10 ** 6  # ops unit of the paper's table

#: The paper's Table 1 (params in K, ops in M) as printed, slips included.
PAPER_TABLE1: dict[str, tuple[float, float]] = {
    "conv1": (2.7, 34), "conv2": (112, 360), "inception3a": (159, 128), "inception3b": (380, 304),
    "inception4a": (364, 73), "inception4b": (437, 88), "inception4c": (463, 100), "inception4d": (580, 119),
    "inception4e": (840, 170), "inception5a": (1072, 54), "inception5b": (1388, 71), "fc": (1000, 1),
}
#: Rows whose printed ops the paper gets wrong (see the module docstring).
PAPER_OPS_SLIPS = ("conv1", "inception5a")


def _total(rows: tuple[LayerRow, ...], column: str) -> int:
    return sum(getattr(r, column) for r in rows)


@dataclass(frozen=True)
class LayerRow:
    """One row of the table. ``output`` is (height, width, channels) per image."""

    key: str
    type: str
    patch: str
    output: tuple[int, int, int]
    depth: int
    ch1x1: int | None = None
    ch3x3red: int | None = None
    ch3x3: int | None = None
    ch5x5red: int | None = None
    ch5x5: int | None = None
    pool_proj: int | None = None
    params: int = 0
    weights: int = 0
    macs: int = 0


@dataclass(frozen=True)
class ModelSummary:
    """Rows of the main path (``rows``), the auxiliary heads (``aux_rows``) and totals."""

    variant: str
    input_size: int
    width_mult: float
    num_classes: int
    rows: tuple[LayerRow, ...]
    aux_rows: tuple[LayerRow, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def total_params(self) -> int:
        """Learnable parameters on the main path (what inference uses)."""
        return _total(self.rows, "params")

    @property
    def total_macs(self) -> int:
        """Multiply-adds per image on the main path."""
        return _total(self.rows, "macs")

    @property
    def aux_params(self) -> int:
        """Learnable parameters of the auxiliary heads (training only)."""
        return _total(self.aux_rows, "params")

    @property
    def aux_macs(self) -> int:
        """Multiply-adds per image of the auxiliary heads."""
        return _total(self.aux_rows, "macs")

    def row(self, key: str) -> LayerRow:
        for r in self.rows + self.aux_rows:
            if r.key == key:
                return r
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "input_size": self.input_size, "width_mult": self.width_mult,
                "num_classes": self.num_classes, "rows": [asdict(r) for r in self.rows],
                "aux_rows": [asdict(r) for r in self.aux_rows], "total_params": self.total_params,
                "total_macs": self.total_macs, "aux_params": self.aux_params, "aux_macs": self.aux_macs,
                "notes": list(self.notes)}

    def to_markdown(self) -> str:
        """The Table 1 layout as a Markdown table, plus totals and notes."""
        five = "#5x5" if self.variant == "paper" else "#5x5 (3x3 conv)"
        head = ["type", "patch size/stride", "output size", "depth", "#1x1", "#3x3 reduce", "#3x3",
                "#5x5 reduce", five, "pool proj", "params", "ops"]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 9) + "|"]

        def fmt(r: LayerRow) -> str:
            h, w, c = r.output
            cols = [r.type, r.patch, f"{h}x{w}x{c}", str(r.depth) if r.depth else ""]
            cols += ["" if v is None else str(v) for v in (r.ch1x1, r.ch3x3red, r.ch3x3, r.ch5x5red, r.ch5x5, r.pool_proj)]
            cols += [_fmt_k(r.params) if r.params else "", _fmt_m(r.macs) if r.macs else ""]
            return "| " + " | ".join(cols) + " |"

        lines += [fmt(r) for r in self.rows]
        lines.append(f"| **total (main path)** | | | | | | | | | | **{_fmt_k(self.total_params)}** | "
                     f"**{_fmt_m(self.total_macs)}** |")
        if self.aux_rows:
            lines += [fmt(r) for r in self.aux_rows]
            lines.append(f"| **total with aux heads (training)** | | | | | | | | | | "
                         f"**{_fmt_k(self.total_params + self.aux_params)}** | "
                         f"**{_fmt_m(self.total_macs + self.aux_macs)}** |")
        title = (f"GoogLeNet ({self.variant}), {self.input_size}x{self.input_size} input, width_mult "
                 f"{self.width_mult:g}, {self.num_classes} classes. params in K = 1024, ops = multiply-adds "
                 f"per image in M = 10^6.")
        return "\n".join([title, ""] + lines + ([""] + [f"- {n}" for n in self.notes] if self.notes else []))


def _fmt_k(n: int) -> str:
    v = n / K
    return f"{v:.1f}K" if v < 100 else f"{v:,.0f}K"


def _fmt_m(n: int) -> str:
    v = n / M
    return f"{v:.3f}M" if v < 1 else f"{v:.2f}M" if v < 10 else f"{v:,.1f}M"


def _count(module: nn.Module) -> tuple[int, int]:
    params = sum(p.numel() for p in module.parameters())
    weights = sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    return params, weights


def _measure(model: GoogLeNet, input_size: int, aux: bool) -> tuple[dict[str, int], dict[str, tuple[int, int, int]]]:
    """One meta-device forward with hooks: multiply-adds per top-level module, and each top-level
    module's output as (height, width, channels)."""
    macs: dict[str, int] = {}
    outputs: dict[str, tuple[int, int, int]] = {}

    def conv_hook(name: str):
        def hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
            top = name.split(".")[0]
            if isinstance(mod, nn.Conv2d):
                per_out = (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
                macs[top] = macs.get(top, 0) + per_out * out[0].numel()
            else:
                macs[top] = macs.get(top, 0) + mod.in_features * mod.out_features
        return hook

    def out_hook(name: str):
        def hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
            if out.ndim == 4:
                outputs[name] = (int(out.shape[2]), int(out.shape[3]), int(out.shape[1]))
            else:
                outputs[name] = (1, 1, int(out.shape[-1]))
        return hook

    handles = [mod.register_forward_hook(conv_hook(name)) for name, mod in model.named_modules()
               if isinstance(mod, (nn.Conv2d, nn.Linear))]
    handles += [mod.register_forward_hook(out_hook(name)) for name, mod in model.named_children()]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size, device="meta"), return_aux=aux)
    finally:
        for h in handles:
            h.remove()
    return macs, outputs


def _pool_patch(m: nn.Module) -> str:
    k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
    s = m.stride if isinstance(m.stride, int) else m.stride[0]
    return f"{k}x{k}/{s}"


def _main_rows(model: GoogLeNet, macs: dict[str, int], outputs: dict[str, tuple[int, int, int]]) -> list[LayerRow]:
    """The rows of Table 1 along the main path, stem to softmax."""
    rows: list[LayerRow] = []

    def conv_row(key: str, mods: list[str], type_: str, patch: str, **chs: int) -> None:
        p = sum(_count(getattr(model, m))[0] for m in mods)
        w = sum(_count(getattr(model, m))[1] for m in mods)
        rows.append(LayerRow(key, type_, patch, outputs[mods[-1]], len(mods), params=p, weights=w,
                             macs=sum(macs.get(m, 0) for m in mods), **chs))

    def pool_row(key: str) -> None:
        rows.append(LayerRow(key, "max pool", _pool_patch(getattr(model, key)), outputs[key], 0))

    conv_row("conv1", ["conv1"], "convolution", "7x7/2")
    pool_row("maxpool1")
    conv_row("conv2", ["conv2", "conv3"], "convolution", "3x3/1", ch3x3red=model.conv2.conv.out_channels,
             ch3x3=model.conv3.conv.out_channels)
    pool_row("maxpool2")
    for name, *_ in INCEPTION_SPECS:
        key = f"inception{name}"
        blk: Inception = getattr(model, key)
        p, w = _count(blk)
        rows.append(LayerRow(key, f"inception ({name})", "", outputs[key], 2, blk.ch1x1, blk.ch3x3red, blk.ch3x3,
                             blk.ch5x5red, blk.ch5x5, blk.pool_proj, params=p, weights=w, macs=macs.get(key, 0)))
        if name in ("3b", "4e"):
            pool_row("maxpool3" if name == "3b" else "maxpool4")
    h, w_, c = outputs["inception5b"]
    rows.append(LayerRow("avgpool", "avg pool", f"{h}x{w_}/1", outputs["avgpool"], 0))
    rows.append(LayerRow("dropout", f"dropout ({model.dropout.p:.0%})", "", (1, 1, c), 0))
    p, wt = _count(model.fc)
    rows.append(LayerRow("fc", "linear", "", outputs["fc"], 1, params=p, weights=wt, macs=macs.get("fc", 0)))
    rows.append(LayerRow("softmax", "softmax", "", outputs["fc"], 0))
    return rows


def _aux_rows(model: GoogLeNet, macs: dict[str, int], outputs: dict[str, tuple[int, int, int]]) -> list[LayerRow]:
    """One row per auxiliary head the model has (none when built without them)."""
    rows = []
    for key, after in (("aux1", "4a"), ("aux2", "4d")):
        mod = getattr(model, key)
        if mod is None:
            continue
        p, wt = _count(mod)
        fits = caffe_aux_pool_fits(*outputs[f"inception{after}"][:2])
        pool = "5x5/3 avg pool" if model.variant == "paper" and fits else "adaptive 4x4 avg pool"
        rows.append(LayerRow(key, f"aux classifier after {after} ({pool}, conv, fc, fc)", "", outputs[key], 3,
                             params=p, weights=wt, macs=macs.get(key, 0)))
    return rows


def _notes(variant: str) -> tuple[str, ...]:
    if variant == "paper":
        return ("LRN layers (after pool1 and after the 3x3 conv) are omitted, as in the paper's table; "
                "they have no parameters.",
                "The main head's avg pool is global; at 224 px it is the paper's 7x7/1.")
    return ("torchvision layout: BatchNorm after every convolution (counted in params), 3x3 "
            "convolutions in the '5x5' branch, 2x2/2 max pool before 5a.",)


def model_summary(variant: str | GoogLeNet = "paper", input_size: int = 224, width_mult: float = 1.0,
                  num_classes: int = 1000) -> ModelSummary:
    """Table 1 for a variant (or an existing GoogLeNet, whose configuration is used) at ``input_size`` px.

    Counts come from a ``meta``-device copy (no memory, no compute); ``input_size`` is the square
    input side in px, at least ``MIN_INPUT_SIZE[variant]``.
    """
    if isinstance(variant, GoogLeNet):
        cfg = variant.config
        variant, width_mult, num_classes, aux = cfg.variant, cfg.width_mult, cfg.num_classes, variant.aux_logits
    else:
        aux = True
    with torch.device("meta"):
        model = googlenet(variant, num_classes=num_classes, width_mult=width_mult, aux_logits=aux).eval()
    macs, outputs = _measure(model, input_size, aux)
    return ModelSummary(variant, int(input_size), float(width_mult), int(num_classes),
                        tuple(_main_rows(model, macs, outputs)), tuple(_aux_rows(model, macs, outputs)),
                        _notes(variant))


@dataclass(frozen=True)
class PaperComparison:
    """One Table 1 row: ours (weights in K = 1024, ops in M = 10^6) against the paper's print."""

    key: str
    weights_k: float
    paper_params_k: float
    ops_m: float
    paper_ops_m: float

    @property
    def ops_agree(self) -> bool:
        """The paper's whole-million figure is ours rounded to nearest or down."""
        return self.paper_ops_m in (round(self.ops_m), math.floor(self.ops_m))

    @property
    def params_agree(self) -> bool:
        return self.paper_params_k in (round(self.weights_k), math.floor(self.weights_k), round(self.weights_k, 1))


def paper_comparison(summary: ModelSummary | None = None) -> list[PaperComparison]:
    """Compare a paper-variant 224 px, width 1, 1000-class summary with the printed Table 1."""
    s = summary or model_summary("paper", 224, 1.0, 1000)
    if (s.variant, s.input_size, s.width_mult, s.num_classes) != ("paper", 224, 1.0, 1000):
        raise ValueError("the paper's Table 1 describes the paper variant at 224 px, width 1, 1000 classes")
    out = []
    for key, (pk, pm) in PAPER_TABLE1.items():
        r = s.row(key)
        out.append(PaperComparison(key, r.weights / K, pk, r.macs / M, pm))
    return out


def paper_comparison_markdown(rows: list[PaperComparison] | None = None) -> str:
    """The comparison as a Markdown table (default: the paper variant at 224 px)."""
    rows = rows if rows is not None else paper_comparison()
    lines = ["| row | weights (ours, K=1024) | params (paper) | ops (ours, M=10^6) | ops (paper) | ops agree |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        verdict = "yes" if r.ops_agree else ("no: paper slip" if r.key in PAPER_OPS_SLIPS else "NO")
        lines.append(f"| {r.key} | {r.weights_k:,.1f}K | {r.paper_params_k:g}K | {r.ops_m:,.2f}M | "
                     f"{r.paper_ops_m:g}M | {verdict} |")
    return "\n".join(lines)


def summary_report(variant: str = "paper", input_size: int = 224, width_mult: float = 1.0, num_classes: int = 1000,
                   *, compare_paper: bool = False, as_json: bool = False) -> str:
    """The Table 1 summary as Markdown (or JSON), with the printed-paper comparison when
    ``compare_paper`` (only for the paper variant at 224 px, width 1, 1000 classes: ``ValueError``
    otherwise)."""
    summary = model_summary(variant, input_size, width_mult, num_classes)
    rows = paper_comparison(summary) if compare_paper else None
    if as_json:
        doc = summary.to_dict()
        if rows is not None:
            doc["paper_comparison"] = [dict(vars(r), ops_agree=r.ops_agree) for r in rows]
        return json.dumps(doc, indent=2)
    text = summary.to_markdown()
    return text if rows is None else f"{text}\n\n{paper_comparison_markdown(rows)}"
