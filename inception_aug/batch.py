"""Batched photometric presets and mirroring for (B, 3, H, W) torch tensors on any device.

The per-image kernels in ``inception_aug.color`` define the semantics; this module re-implements
them with torch ops so a whole batch is distorted in a few kernels (on a GPU after the host->device
copy, or on CPU). Every sample has its own parameters: an op order, factors, lighting alphas.

Clamping modes follow the per-image draws (``PhotometricParams.clamp``, one mode per batch):
``"each"`` (the default) clamps (and for uint8 rounds) after every op; ``"final"`` builds each
sample's 3x4 colour matrix from its per-channel means (same algebra as ``color.color_matrix``,
vectorised) and applies it in one batched matmul, clamping and rounding once.

Inputs:
- uint8 (B, 3, H, W), values 0..255: computed in float32 with the per-image rounding rules
  (``"each"``: clamp to [0, 255] and round to nearest after every op; ``"final"`` and tf-slim: no
  intermediate clipping, one clip and round at the end); returns uint8. Tolerance against
  ``apply_photometric`` on the same images and parameters: ``"each"`` and tf-slim: max |diff| <= 1
  level of 255, >= 99.9% of values identical (only float32 rounding ties differ; in principle a
  later factor up to 1.5 could widen one to 2 levels). ``"final"``: max |diff| <= 1 level, >= 90%
  identical, because the per-image path uses OpenCV's 8-bit fixed-point transform (~5% of values
  1 level off its float64 map) while this one is float32 (tested on real photos, every preset).
- float (B, 3, H, W), values in [0, 1]: the same ops without rounding (clamped to [0, 1] after every
  op in ``"each"`` mode, once in ``"final"``); returns the input dtype. Against the uint8 per-image
  path (``round(255 * out)``): max |diff| <= 4 levels in ``"each"`` mode (tested), because the
  per-image path rounds after every op (hue included) and later factors amplify those roundings;
  <= 1 level in ``"final"`` mode (one rounding).

Parameters come either from a list of ``PhotometricParams`` (the per-image draws, for parity and
logging) or from ``sample_batch_photometric`` with a ``torch.Generator`` (same distributions as
``sample_photometric``, not the same numbers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

from inception_aug.color_presets import (
    GRAY_HOWARD,
    GRAY_TORCHVISION,
    HOWARD_OPS,
    LIGHTING_EIGVAL,
    LIGHTING_EIGVEC,
    TF_SLIM_FAST_ORDERINGS,
    TF_SLIM_ORDERINGS,
    PhotometricParams,
    check_clamp,
    colorjitter_ranges,
    preset_options,
)

__all__ = [
    "OPS", "NO_OP", "BatchPhotometricParams", "params_to_batch", "sample_batch_photometric", "rgb_to_hsv",
    "hsv_to_rgb", "batch_color_matrices", "apply_photometric_batch", "sample_batch_flips", "flip_batch",
    "BatchPhotometric",
]

OPS: tuple[str, ...] = ("brightness", "contrast", "saturation", "hue")  # op code = index here
_CODE = {name: i for i, name in enumerate(OPS)}
NO_OP = -1


@dataclass
class BatchPhotometricParams:
    """Per-sample photometric parameters of a batch, as tensors (on any device).

    Attributes:
        preset: one preset for the whole batch (``howard``, ``colorjitter`` or ``tf-slim``).
        order: (B, K) int64 op codes (index in ``OPS``) in application order, ``-1`` = skip.
        values: (B, 4) float32 value of each op (brightness, contrast, saturation, hue), with the
            meaning of ``PhotometricParams``; ignored where the op is not in ``order``.
        lighting: (B, 3) float32 PCA alphas (howard) or None.
        active: (B,) bool, False for samples without distortion (``None`` in a params list).
        ordering: (B,) int64 TF-slim ordering index, or None.
        fast_mode: TF-slim fast mode.
        clamp: ``"each"`` or ``"final"`` (see ``PhotometricParams.clamp``), one for the batch.
    """

    preset: str
    order: torch.Tensor
    values: torch.Tensor
    lighting: Optional[torch.Tensor]
    active: torch.Tensor
    ordering: Optional[torch.Tensor] = None
    fast_mode: bool = False
    clamp: str = "each"

    def __len__(self) -> int:
        return int(self.order.shape[0])

    def to(self, device: Union[str, torch.device]) -> "BatchPhotometricParams":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return BatchPhotometricParams(self.preset, mv(self.order), mv(self.values), mv(self.lighting),
                                      mv(self.active), mv(self.ordering), self.fast_mode, self.clamp)

    def to_list(self) -> list[Optional[PhotometricParams]]:
        """The per-sample draws as ``PhotometricParams`` (for logging or the per-image kernels)."""
        order = self.order.cpu().tolist()
        vals = self.values.double().cpu().tolist()
        light = None if self.lighting is None else self.lighting.double().cpu().tolist()
        ordering = None if self.ordering is None else self.ordering.cpu().tolist()
        out: list[Optional[PhotometricParams]] = []
        for i, act in enumerate(self.active.cpu().tolist()):
            if not act:
                out.append(None)
                continue
            names = tuple(OPS[c] for c in order[i] if c != NO_OP)
            kw = {n: vals[i][_CODE[n]] for n in names}
            out.append(PhotometricParams(self.preset, names, **kw,
                                         lighting=None if light is None else tuple(light[i]),
                                         ordering=None if ordering is None else int(ordering[i]),
                                         fast_mode=self.fast_mode, clamp=self.clamp))
        return out


def params_to_batch(params: Sequence[Optional[PhotometricParams]],
                    device: Union[str, torch.device, None] = None) -> BatchPhotometricParams:
    """Stack per-image draws (one preset; ``None`` entries mean "no distortion") into tensors."""
    presets = {p.preset for p in params if p is not None}
    if len(presets) > 1:
        raise ValueError(f"a batch holds one photometric preset, got {sorted(presets)}")
    preset = presets.pop() if presets else "none"
    b = len(params)
    k = max([len(p.order) for p in params if p is not None] + [1])
    order = torch.full((b, k), NO_OP, dtype=torch.int64)
    values = torch.zeros((b, 4), dtype=torch.float32)
    active = torch.zeros(b, dtype=torch.bool)
    has_light = any(p is not None and p.lighting is not None for p in params)
    lighting = torch.zeros((b, 3), dtype=torch.float32) if has_light else None
    ordering = torch.zeros(b, dtype=torch.int64) if preset == "tf-slim" else None
    fast = {p.fast_mode for p in params if p is not None}
    if len(fast) > 1:
        raise ValueError("a batch mixes tf-slim fast_mode True and False")
    clamps = {p.clamp for p in params if p is not None}
    if len(clamps) > 1:
        raise ValueError("a batch mixes clamp='each' and clamp='final' draws")
    for i, p in enumerate(params):
        if p is None:
            continue
        active[i] = True
        for j, name in enumerate(p.order):
            order[i, j] = _CODE[name]
            values[i, _CODE[name]] = float(getattr(p, name))
        if p.lighting is not None:
            lighting[i] = torch.tensor(p.lighting, dtype=torch.float32)
        if ordering is not None and p.ordering is not None:
            ordering[i] = p.ordering
    out = BatchPhotometricParams(preset, order, values, lighting, active, ordering, bool(fast and fast.pop()),
                                 clamps.pop() if clamps else "each")
    return out if device is None else out.to(device)


def _uniform(lo: float, hi: float, n: int, g: Optional[torch.Generator], device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device, dtype=torch.float64)


def sample_batch_photometric(preset: str, batch_size: int, generator: Optional[torch.Generator] = None,
                             device: Union[str, torch.device, None] = None, **options: Any
                             ) -> Optional[BatchPhotometricParams]:
    """Draw ``batch_size`` independent photometric distortions with a ``torch.Generator``.

    Same presets, options, defaults (``color_presets.PRESET_DEFAULTS``) and distributions as
    ``inception_aug.color.sample_photometric``; random numbers are drawn on the generator's device
    and the result is moved to ``device``. Returns None for preset ``"none"``."""
    if preset in (None, "none"):
        return None
    opts = preset_options(preset, options)
    gdev = generator.device if generator is not None else torch.device("cpu")
    out = _BATCH_SAMPLERS[preset](int(batch_size), generator, gdev, opts)
    return out if device is None else out.to(device)


def _batch_howard(n: int, g: Optional[torch.Generator], gdev, opts: dict) -> BatchPhotometricParams:
    clamp = check_clamp(opts["clamp"], hue=False)
    perm = torch.argsort(torch.rand((n, 3), generator=g, device=gdev), dim=1)
    values = torch.zeros((n, 4), dtype=torch.float64, device=gdev)
    enabled = []
    for name in HOWARD_OPS:
        v = float(opts[name])
        values[:, _CODE[name]] = _uniform(1 - v, 1 + v, n, g, gdev)
        enabled.append(v != 0)
    codes = torch.tensor([_CODE[nm] if en else NO_OP for nm, en in zip(HOWARD_OPS, enabled)], device=gdev)
    std = float(opts["lighting_std"])
    lighting = (torch.randn((n, 3), generator=g, device=gdev, dtype=torch.float64) * std) if std else None
    return BatchPhotometricParams("howard", codes[perm], values.float(), None if lighting is None else lighting.float(),
                                  torch.ones(n, dtype=torch.bool, device=gdev), clamp=clamp)


def _batch_colorjitter(n: int, g: Optional[torch.Generator], gdev, opts: dict) -> BatchPhotometricParams:
    ranges = colorjitter_ranges(opts)
    clamp = check_clamp(opts["clamp"], hue=ranges[3] is not None)
    perm = torch.argsort(torch.rand((n, 4), generator=g, device=gdev), dim=1)
    values = torch.zeros((n, 4), dtype=torch.float64, device=gdev)
    for i, r in enumerate(ranges):
        if r is not None:
            values[:, i] = _uniform(r[0], r[1], n, g, gdev)
    codes = torch.tensor([i if r is not None else NO_OP for i, r in enumerate(ranges)], device=gdev)
    return BatchPhotometricParams("colorjitter", codes[perm], values.float(), None,
                                  torch.ones(n, dtype=torch.bool, device=gdev), clamp=clamp)


def _batch_tf_slim(n: int, g: Optional[torch.Generator], gdev, opts: dict) -> BatchPhotometricParams:
    fast = bool(opts["fast_mode"])
    ordering = torch.randint(0, 4, (n,), generator=g, device=gdev)
    table = torch.tensor([[_CODE[nm] for nm in o] for o in (TF_SLIM_FAST_ORDERINGS if fast else TF_SLIM_ORDERINGS)],
                         device=gdev)
    values = torch.zeros((n, 4), dtype=torch.float64, device=gdev)
    mb = float(opts["max_brightness"])
    values[:, 0] = _uniform(-mb, mb, n, g, gdev)
    values[:, 2] = _uniform(*opts["saturation"], n, g, gdev)
    if not fast:
        mh = float(opts["max_hue"])
        values[:, 3] = _uniform(-mh, mh, n, g, gdev)
        values[:, 1] = _uniform(*opts["contrast"], n, g, gdev)
    return BatchPhotometricParams("tf-slim", table[ordering], values.float(), None,
                                  torch.ones(n, dtype=torch.bool, device=gdev), ordering, fast)


_BATCH_SAMPLERS = {"howard": _batch_howard, "colorjitter": _batch_colorjitter, "tf-slim": _batch_tf_slim}


# ----------------------------------------------------------------------------------------------
# kernels on float32 (n, 3, H, W); scale = 255 for uint8 semantics, 1 for [0, 1] floats
# ----------------------------------------------------------------------------------------------

def _gray(x: torch.Tensor, w: Sequence[float]) -> torch.Tensor:
    """(n, 1, H, W) ``(w0 x0 + w1 x1) + w2 x2``: each product rounded, then summed left to right
    (two temporaries instead of five; no fused multiply-add, which would round differently)."""
    g = torch.mul(x[:, 0], w[0])
    t = torch.mul(x[:, 1], w[1])
    g.add_(t)
    torch.mul(x[:, 2], w[2], out=t)
    return g.add_(t).unsqueeze(1)


def _col(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(n, 3, H, W) RGB -> HSV with H in turns [0, 1), S = (V - min) / V (0 where V <= 0), V = max.

    Valid for values outside [0, 1] with TF's convention (S = 0 where V <= 0)."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    v, _ = x.max(dim=1)
    mn, _ = x.min(dim=1)
    cr = v - mn
    pos = v > 0
    s = torch.where(pos, cr / torch.where(pos, v, torch.ones_like(v)), torch.zeros_like(v))
    s = torch.where(pos, s, torch.zeros_like(s))
    crd = torch.where(cr == 0, torch.ones_like(cr), cr)
    rc, gc, bc = (v - r) / crd, (v - g) / crd, (v - b) / crd
    h = torch.where(v == r, bc - gc, torch.where(v == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.remainder(h / 6.0, 1.0)
    h = torch.where(cr == 0, torch.zeros_like(h), h)
    return torch.stack((h, s, v), dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_hsv`` (hexcone; H in turns, any S and V).

    Compact form: channel n in (R, G, B) = V - V S clamp(min(k, 4 - k), 0, 1) with
    k = (n_off + 6 H) mod 6 and n_off = (5, 3, 1): a few kernels on a (n, 3, H, W) tensor instead of
    selecting among the six sector cases."""
    h, s, v = hsv[:, 0:1], hsv[:, 1:2], hsv[:, 2:3]
    offs = torch.tensor([5.0, 3.0, 1.0], dtype=hsv.dtype, device=hsv.device).view(1, 3, 1, 1)
    k = torch.remainder(offs + 6.0 * h, 6.0)
    w = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return v - v * s * w


def _hue_shift(x: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """Shift H by ``v`` turns per sample (values in [0, scale])."""
    hsv = rgb_to_hsv(x / scale if scale != 1.0 else x)
    hsv = torch.cat((torch.remainder(hsv[:, :1] + _col(v), 1.0), hsv[:, 1:]), dim=1)
    out = hsv_to_rgb(hsv)
    return out * scale if scale != 1.0 else out


def _tf_hsv(x: torch.Tensor, code: int, v: torch.Tensor) -> torch.Tensor:
    """TF-slim saturation (code 2) or hue (code 3) on float [0, 1] (values may be out of range).

    Saturation in closed form (H and V kept): with V = max, S = (V - min) / V (0 where V <= 0) and
    S' = clip(S v, 0, 1), each channel becomes V - (V - c) S'/S, and V where S = 0 (TF's rule)."""
    if code == 2:
        vmax, _ = x.max(dim=1, keepdim=True)
        vmin, _ = x.min(dim=1, keepdim=True)
        pos = vmax > 0
        s = torch.where(pos, (vmax - vmin) / torch.where(pos, vmax, torch.ones_like(vmax)), torch.zeros_like(vmax))
        s_new = torch.clamp(s * _col(v), 0.0, 1.0)
        ratio = torch.where(s > 0, s_new / torch.where(s > 0, s, torch.ones_like(s)), torch.zeros_like(s))
        return vmax - (vmax - x) * ratio
    hsv = rgb_to_hsv(x)
    hsv = torch.cat((torch.remainder(hsv[:, :1] + _col(v), 1.0), hsv[:, 1:]), dim=1)
    return hsv_to_rgb(hsv)


def _run_ops(y: torch.Tensor, p: BatchPhotometricParams, act: torch.Tensor, *, tf: bool, w: Sequence[float],
             scale: float, finish) -> torch.Tensor:
    """Step k applies each sample's k-th op. The blend ops of a step are one fused per-sample map
    y = a * y + b + c * gray(y) over the whole batch (identity a=1, b=c=0 for the other samples);
    HSV ops run on the subset of samples that need them."""
    n = y.shape[0]
    vals = p.values
    for k in range(p.order.shape[1]):
        codes = torch.where(act, p.order[:, k], torch.full_like(p.order[:, k], NO_OP))
        present = set(torch.unique(codes).tolist())
        blend = present & ({0, 1} if tf else {0, 1, 2})
        if blend:
            a = torch.ones(n, device=y.device)
            b = torch.zeros((n, 3), device=y.device)
            c = torch.zeros(n, device=y.device)
            for code in blend:
                m = codes == code
                f = vals[:, code]
                if code == 0 and tf:  # additive brightness
                    b = torch.where(m.unsqueeze(1), f.unsqueeze(1).expand(n, 3), b)
                    continue
                a = torch.where(m, f, a)
                if code == 1:  # contrast: blend with the mean (gray mean, or per-channel mean for TF)
                    mean = y.mean(dim=(2, 3)) if tf else _gray(y, w).mean(dim=(1, 2, 3)).unsqueeze(1).expand(n, 3)
                    b = torch.where(m.unsqueeze(1), (1.0 - f).unsqueeze(1) * mean, b)
                elif code == 2:  # saturation: blend with the per-pixel gray
                    c = torch.where(m, 1.0 - f, c)
            gray = _gray(y, w) if 2 in blend else None
            y.mul_(_col(a)).add_(b.view(n, 3, 1, 1))  # in place: y is our own float copy
            if gray is not None:
                y.addcmul_(_col(c), gray)
            if finish is not None:
                y = finish(y)
        for code in present - blend - {NO_OP}:
            idx = torch.nonzero(codes == code, as_tuple=True)[0]
            v = vals.index_select(0, idx)[:, code]
            t = _tf_hsv(y.index_select(0, idx), code, v) if tf else _hue_shift(y.index_select(0, idx), v, scale)
            if finish is not None:
                t = finish(t)
            y = y.index_copy(0, idx, t)
    return y


def _lighting_offsets(p: BatchPhotometricParams, scale: float, device) -> torch.Tensor:
    """(B, 3) float32 PCA lighting offsets in the units of the input (zero for inactive samples)."""
    vec = torch.tensor(LIGHTING_EIGVEC, dtype=torch.float64, device=device)
    val = torch.tensor(LIGHTING_EIGVAL, dtype=torch.float64, device=device)
    off = ((p.lighting.double() * val) @ vec.T * scale).float()
    return torch.where(p.active.unsqueeze(1), off, torch.zeros_like(off))


def batch_color_matrices(p: BatchPhotometricParams, channel_mean: torch.Tensor, scale: float = 255.0
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample affine colour maps (A (B, 3, 3), b (B, 3)) of fused draws: ``y = A x + b``.

    ``channel_mean``: (B, 3) per-channel means of the input, in its units (``scale`` = 255 for
    uint8 levels, 1 for [0, 1] floats). The same composition as ``color.color_matrix``: step k
    multiplies each sample's map by its k-th op (identity where absent); contrast blends with the
    gray mean ``w . (A m + b)`` of the image so far; lighting adds its offset last."""
    n, dev = len(p), channel_mean.device
    w = torch.tensor(GRAY_HOWARD if p.preset == "howard" else GRAY_TORCHVISION, dtype=torch.float64, device=dev)
    eye = torch.eye(3, dtype=torch.float64, device=dev).expand(n, 3, 3)
    a = eye.clone()
    b = torch.zeros((n, 3), dtype=torch.float64, device=dev)
    m = channel_mean.double()
    vals = p.values.double()
    for k in range(p.order.shape[1]):
        codes = torch.where(p.active, p.order[:, k], torch.full_like(p.order[:, k], NO_OP))
        f = torch.ones(n, dtype=torch.float64, device=dev)  # scalar part f I of every op
        t = torch.zeros(n, dtype=torch.float64, device=dev)  # equal offset on the 3 channels (contrast)
        sat = torch.zeros(n, dtype=torch.float64, device=dev)  # (1 - f) 1 w^T part (saturation)
        for code in (0, 1, 2):
            sel = codes == code
            f = torch.where(sel, vals[:, code], f)
            if code == 1:
                gray_mean = ((a @ m.unsqueeze(2)).squeeze(2) + b) @ w
                t = torch.where(sel, (1.0 - vals[:, 1]) * gray_mean, t)
            elif code == 2:
                sat = torch.where(sel, 1.0 - vals[:, 2], sat)
        tmat = f.view(n, 1, 1) * eye + sat.view(n, 1, 1) * w.view(1, 1, 3).expand(n, 3, 3)
        a = tmat @ a
        b = (tmat @ b.unsqueeze(2)).squeeze(2) + t.unsqueeze(1)
    if p.lighting is not None:
        b = b + _lighting_offsets(p, scale, dev).double()
    return a.float(), b.float()


def apply_photometric_batch(x: torch.Tensor,
                            params: Union[BatchPhotometricParams, Sequence[Optional[PhotometricParams]], None]
                            ) -> torch.Tensor:
    """Apply per-sample photometric distortions to a (B, 3, H, W) uint8 or float ([0, 1]) tensor.

    Returns a new tensor of the input's dtype and device. See the module docstring for rounding
    and the tolerance against the per-image kernels."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
    if params is None:
        return x.clone()
    if not isinstance(params, BatchPhotometricParams):
        params = params_to_batch(params)
    if len(params) != x.shape[0]:
        raise ValueError(f"{len(params)} photometric parameter sets for a batch of {x.shape[0]}")
    is_u8 = x.dtype == torch.uint8
    if not is_u8 and not x.is_floating_point():
        raise ValueError(f"expected uint8 or floating point input, got {x.dtype}")
    if params.preset == "none" or not bool(params.active.any()):
        return x.clone()
    p = params.to(x.device)
    scale = 255.0 if is_u8 else 1.0
    y = x.to(torch.float32, copy=True)  # our own copy: the ops below work in place
    act = p.active
    if params.clamp == "final" and params.preset != "tf-slim":
        a, b = batch_color_matrices(p, y.mean(dim=(2, 3)), scale)
        n, _, h, w_ = y.shape
        y = torch.baddbmm(b.unsqueeze(2), a, y.view(n, 3, h * w_)).view(n, 3, h, w_)
        y.clamp_(0.0, scale)
        if is_u8:
            y.round_()
    elif params.preset == "tf-slim":
        y = y.div_(scale) if is_u8 else y
        y = _run_ops(y, p, act, tf=True, w=GRAY_TORCHVISION, scale=1.0, finish=None)
        y = torch.clamp(y, 0.0, 1.0)
        y = torch.round(y * 255.0) if is_u8 else y
    else:
        w = GRAY_HOWARD if params.preset == "howard" else GRAY_TORCHVISION

        def finish(t: torch.Tensor) -> torch.Tensor:  # in place on float temporaries
            t.clamp_(0.0, scale)
            return t.round_() if is_u8 else t

        y = _run_ops(y, p, act, tf=False, w=w, scale=scale, finish=finish)
        if p.lighting is not None:
            y = finish(y.add_(_lighting_offsets(p, scale, x.device).view(-1, 3, 1, 1)))
    if not bool(act.all()):
        y = torch.where(_col(act), y, x.float())
    return y.to(torch.uint8) if is_u8 else y.to(x.dtype)


# ----------------------------------------------------------------------------------------------
# mirroring
# ----------------------------------------------------------------------------------------------

def sample_batch_flips(batch_size: int, generator: Optional[torch.Generator] = None, p: float = 0.5,
                       device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """(B,) bool, each True with probability ``p``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"flip probability must be in [0, 1], got {p}")
    gdev = generator.device if generator is not None else torch.device("cpu")
    out = torch.rand(int(batch_size), generator=generator, device=gdev) < p
    return out if device is None else out.to(device)


def flip_batch(x: torch.Tensor, flips: Union[torch.Tensor, Sequence[bool], np.ndarray]) -> torch.Tensor:
    """Mirror (left-right) the samples of a (B, C, H, W) tensor where ``flips`` is True."""
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    f = torch.as_tensor(np.asarray(flips, dtype=bool) if not isinstance(flips, torch.Tensor) else flips,
                        device=x.device).bool()
    if f.shape != (x.shape[0],):
        raise ValueError(f"flips must have shape ({x.shape[0]},), got {tuple(f.shape)}")
    return torch.where(f.view(-1, 1, 1, 1), x.flip(-1), x)


class BatchPhotometric:
    """Callable ``x -> distorted x`` for (B, 3, H, W) batches: draws per-sample photometric params
    (preset and options as ``sample_photometric``) and flips with ``generator``, applies them, and
    keeps the last draw in ``last_params`` / ``last_flips`` for logging."""

    def __init__(self, preset: str = "howard", flip: float = 0.5, generator: Optional[torch.Generator] = None,
                 **options: Any) -> None:
        self.preset = preset
        self.flip = float(flip)
        self.generator = generator
        self.options = options
        sample_batch_photometric(preset, 1, None, **options)  # validate options now, not mid-epoch
        self.last_params: Optional[BatchPhotometricParams] = None
        self.last_flips: Optional[torch.Tensor] = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        self.last_params = sample_batch_photometric(self.preset, b, self.generator, device=x.device, **self.options)
        y = apply_photometric_batch(x, self.last_params)
        self.last_flips = sample_batch_flips(b, self.generator, self.flip, device=x.device)
        return flip_batch(y, self.last_flips)
