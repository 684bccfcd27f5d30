"""Test protocols as geometry: an image size in, a tuple of :class:`View` out (no pixels here).

A view is the plain data of one network input cut from a photo:

1. resize the whole photo to ``resized`` = (w, h) pixels (shorter side = ``scale``);
2. take the box ``crop`` (x, y, w, h) of that resized image, or, when ``crop`` is None, the whole
   ``square`` (x, y, w, h);
3. resize that box to ``size`` x ``size`` (a no-op for crops, which are cut at ``size`` already);
4. mirror it left-right when ``mirror`` is True.

All boxes are integer pixels in the coordinates of the resized, un-mirrored image.

Protocols (``get_protocol(name, crop_size=224)``):

- ``center``: shorter side 256, the centre crop of the centre square (1 view).
- ``ten``: shorter side 256, centre square, 4 corner crops + centre crop, plus mirrors (10 views).
- ``paper144``: shorter sides 256, 288, 320, 352; left/centre/right squares (top/centre/bottom for
  portrait photos); from each square the 4 corners, the centre and the whole square resized;
  plus mirrors: 4 x 3 x 6 x 2 = 144 views. ``center`` and ``ten`` are subsets of it, view for view.
- ``tencrop-torchvision``: torchvision ``Resize(256)`` + ``TenCrop(224)``: corners and centre of the
  whole resized photo (not of a square), then the same five taken from the mirrored photo.
- ``custom(...)`` / ``"custom:scales=256/288,squares=3,crops=tl/center,mirror=1"``.

The scales are given for a 224-px crop and scale with the crop size (round half up), so a 112-px
model gets 128/144/160/176.

Rounding rules (paper-style protocols):

- resized size: shorter side exactly ``scale``; longer side ``round_half_up(scale * long / short)``,
  computed in integers (no float ties).
- square offsets along the long side: 0 (left/top), ``(L - S) // 2`` (centre), ``L - S``
  (right/bottom), where L is the long side of the resized image and S = scale.
- crop offsets inside a square of side S for crop c: corners at 0 and ``S - c``; centre at
  ``(S - c) // 2`` on both axes (floor).

``tencrop-torchvision`` follows torchvision's arithmetic instead: longer side
``int(scale * long / short)`` (float, truncated), centre offset ``int(round((L - c) / 2.0))``
(Python's round: ties to even), and the mirrored five are cut from the flipped image, so in
un-mirrored coordinates the mirrored top-left crop is the top-right box, and the mirrored centre
crop starts at ``W - c - int(round((W - c) / 2.0))`` (one pixel away from the unmirrored centre when
``W - c`` is odd and its half rounds down).

Photos smaller than the crop are upsampled by the first resize (the shorter side always becomes
``scale`` >= crop size), so every view fits inside its image.

:func:`union_views` merges views of several protocols for one photo: views whose pixels are
guaranteed equal (same resized size, same box, same output size, same mirror flag: the very same
operations on the same photo) are computed once and carry their multiplicity as a weight, so a
weighted average over unique views equals the plain average over the protocol's nominal views.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterable, Sequence

Box = tuple[int, int, int, int]  # (x, y, w, h) in pixels

#: Scales of the paper's protocol for a 224-px crop; other crop sizes scale them.
PAPER_SCALES: tuple[int, ...] = (256, 288, 320, 352)
REFERENCE_CROP = 224
CROP_NAMES: tuple[str, ...] = ("tl", "tr", "bl", "br", "center", "whole")
PROTOCOL_NAMES: tuple[str, ...] = ("center", "ten", "paper144", "tencrop-torchvision")
#: Bumped whenever the geometry of any protocol changes (part of result-cache keys).
GEOMETRY_VERSION = 1


@dataclass(frozen=True)
class View:
    """One network input cut from a photo (see the module docstring for the four steps).

    Attributes:
        scale: shorter side of the resized photo, px.
        resized: (width, height) of the resized photo, px.
        square: (x, y, w, h) of the region the crop was chosen in, inside the resized photo. A
            square of side ``scale`` for paper-style protocols; the whole resized photo for
            ``tencrop-torchvision``.
        crop: (x, y, w, h) inside the resized photo (not relative to ``square``), or None: the
            whole ``square`` resized to ``size``.
        size: output side, px (the model's input size).
        mirror: flip the output left-right.
        source: (width, height) of the photo the view was computed for, or None if unknown.
        tag: human-readable name such as ``s256/left/tl/m``; not part of equality.
    """

    scale: int
    resized: tuple[int, int]
    square: Box
    crop: Box | None
    size: int
    mirror: bool
    source: tuple[int, int] | None = None
    tag: str = field(default="", compare=False)

    @property
    def box(self) -> Box:
        """The box that is cut from the resized photo: ``crop``, or ``square`` when crop is None."""
        return self.crop if self.crop is not None else self.square

    def pixel_key(self) -> tuple:
        """Key under which two views of the same photo are guaranteed to give identical pixels.

        Same resized size + same box + same output size + same mirror flag means the same
        operations on the same input. (A whole square whose side equals ``size`` is the same as a
        crop equal to that square: both are one slice, the second resize being a no-op.)
        """
        return (self.source, self.resized, self.box, self.size, self.mirror)

    def to_dict(self) -> dict:
        """JSON-friendly dict (lists for tuples, ``crop`` None kept)."""
        return {
            "tag": self.tag,
            "scale": self.scale,
            "resized": list(self.resized),
            "square": list(self.square),
            "crop": None if self.crop is None else list(self.crop),
            "size": self.size,
            "mirror": self.mirror,
            "source": None if self.source is None else list(self.source),
        }


def _round_half_up_div(num: int, den: int) -> int:
    """round(num / den) with ties up, exact for non-negative integers."""
    return (2 * num + den) // (2 * den)


def scale_for_crop(scale: int, crop_size: int, base_crop: int = REFERENCE_CROP) -> int:
    """A scale given for a ``base_crop`` model, for a ``crop_size`` model (round half up)."""
    return _round_half_up_div(scale * crop_size, base_crop)


def resized_size(width: int, height: int, scale: int, rounding: str = "round") -> tuple[int, int]:
    """(w, h) of the photo resized so that its shorter side is ``scale``.

    ``rounding="round"``: longer side ``round_half_up(scale * long / short)`` in exact integers.
    ``rounding="torchvision"``: ``int(scale * long / short)`` in floats, as torchvision's Resize.
    """
    _check_size(width, height)
    short, long = (width, height) if width <= height else (height, width)
    if rounding == "round":
        new_long = _round_half_up_div(scale * long, short)
    elif rounding == "torchvision":
        new_long = int(scale * long / short)
    else:
        raise ValueError(f"unknown rounding {rounding!r}; expected 'round' or 'torchvision'")
    return (scale, new_long) if width <= height else (new_long, scale)


def _check_size(width: int, height: int) -> None:
    if not (isinstance(width, int) and isinstance(height, int)) or width < 1 or height < 1:
        raise ValueError(f"image size must be positive integers, got {width!r}x{height!r}")


@dataclass(frozen=True)
class Protocol:
    """A named recipe that turns a photo size into views.

    Attributes:
        name: key used in results (``paper144``, ``ten``, ``custom:...``).
        scales: shorter sides, px, already adapted to ``crop_size``.
        squares: 1 (centre square) or 3 (left/centre/right, or top/centre/bottom).
        crops: subset of ``CROP_NAMES``, in output order.
        mirror: add the mirror image of every view (after all un-mirrored ones of the same crop).
        crop_size: output side, px.
        style: ``"paper"`` (crops inside squares, floor offsets) or ``"torchvision"`` (TenCrop
            of the whole resized photo with torchvision's rounding; crops tl/tr/bl/br/center).
    """

    name: str
    scales: tuple[int, ...]
    squares: int = 3
    crops: tuple[str, ...] = CROP_NAMES
    mirror: bool = True
    crop_size: int = REFERENCE_CROP
    style: str = "paper"

    def __post_init__(self) -> None:
        if not self.scales:
            raise ValueError(f"protocol {self.name!r}: needs at least one scale")
        if self.crop_size < 1:
            raise ValueError(f"protocol {self.name!r}: crop size must be >= 1, got {self.crop_size}")
        for s in self.scales:
            if s < self.crop_size:
                raise ValueError(
                    f"protocol {self.name!r}: scale {s} is smaller than the crop size {self.crop_size}"
                )
        if len(set(self.scales)) != len(self.scales):
            raise ValueError(f"protocol {self.name!r}: repeated scales {self.scales}")
        if self.squares not in (1, 3):
            raise ValueError(f"protocol {self.name!r}: squares must be 1 or 3, got {self.squares}")
        bad = [c for c in self.crops if c not in CROP_NAMES]
        if bad or not self.crops or len(set(self.crops)) != len(self.crops):
            raise ValueError(
                f"protocol {self.name!r}: crops must be distinct names from {CROP_NAMES}, got {self.crops}"
            )
        if self.style not in ("paper", "torchvision"):
            raise ValueError(f"protocol {self.name!r}: unknown style {self.style!r}")
        if self.style == "torchvision" and ("whole" in self.crops or self.squares != 1):
            raise ValueError(f"protocol {self.name!r}: torchvision style has no squares and no 'whole' crop")

    @property
    def nominal_views(self) -> int:
        """Views per photo as the protocol is defined (before any dedupe)."""
        return len(self.scales) * self.squares * len(self.crops) * (2 if self.mirror else 1)

    def signature(self) -> str:
        """Stable text naming every parameter that changes the views (for cache keys)."""
        return (
            f"geom{GEOMETRY_VERSION}:{self.style}:scales={'/'.join(map(str, self.scales))}:"
            f"squares={self.squares}:crops={'/'.join(self.crops)}:mirror={int(self.mirror)}:"
            f"crop={self.crop_size}"
        )

    def views(self, width: int, height: int) -> tuple[View, ...]:
        """The views of a ``width`` x ``height`` photo, in a fixed order.

        Paper style: scale, then square (left/top, centre, right/bottom), then crop in
        ``self.crops`` order, then un-mirrored before mirrored. Torchvision style: scale, then
        torchvision's ten_crop order (tl, tr, bl, br, center, then the same five mirrored).
        """
        return _views_cached(self, int(width), int(height))


@functools.lru_cache(maxsize=4096)
def _views_cached(protocol: Protocol, width: int, height: int) -> tuple[View, ...]:
    _check_size(width, height)
    if protocol.style == "torchvision":
        return _torchvision_views(protocol, width, height)
    return _paper_views(protocol, width, height)


def _square_boxes(resized: tuple[int, int], scale: int, squares: int) -> list[tuple[str, Box]]:
    w, h = resized
    landscape = w >= h
    long = w if landscape else h
    offsets = [("center", (long - scale) // 2)]
    if squares == 3:
        names = ("left", "right") if landscape else ("top", "bottom")
        offsets = [(names[0], 0), offsets[0], (names[1], long - scale)]
    return [(n, (o, 0, scale, scale) if landscape else (0, o, scale, scale)) for n, o in offsets]


def _crop_in_square(square: Box, name: str, c: int) -> Box | None:
    x, y, s, _ = square
    far = s - c
    if name == "whole":
        return None
    dx, dy = {
        "tl": (0, 0),
        "tr": (far, 0),
        "bl": (0, far),
        "br": (far, far),
        "center": (far // 2, far // 2),
    }[name]
    return (x + dx, y + dy, c, c)


def _paper_views(p: Protocol, width: int, height: int) -> tuple[View, ...]:
    out: list[View] = []
    c = p.crop_size
    for scale in p.scales:
        resized = resized_size(width, height, scale, "round")
        for sq_name, square in _square_boxes(resized, scale, p.squares):
            for crop_name in p.crops:
                crop = _crop_in_square(square, crop_name, c)
                for mirror in (False, True) if p.mirror else (False,):
                    tag = f"s{scale}/{sq_name}/{crop_name}" + ("/m" if mirror else "")
                    out.append(View(scale, resized, square, crop, c, mirror, (width, height), tag))
    return tuple(out)


def _torchvision_views(p: Protocol, width: int, height: int) -> tuple[View, ...]:
    out: list[View] = []
    c = p.crop_size
    for scale in p.scales:
        W, H = resized_size(width, height, scale, "torchvision")
        whole = (0, 0, W, H)
        # torchvision center_crop: int(round((L - c) / 2.0)), Python round (ties to even).
        cx, cy = int(round((W - c) / 2.0)), int(round((H - c) / 2.0))
        plain = {"tl": (0, 0), "tr": (W - c, 0), "bl": (0, H - c), "br": (W - c, H - c), "center": (cx, cy)}
        # ten_crop flips the whole image, then five_crops it: a box at x' in the flipped image is
        # the box at W - c - x' in the original, mirrored.
        flipped = {k: (W - c - x, y) for k, (x, y) in plain.items()}
        for mirror, table in ((False, plain), (True, flipped)):
            if mirror and not p.mirror:
                continue
            for name in p.crops:
                x, y = table[name]
                tag = f"tv{scale}/{name}" + ("_flip" if mirror else "")
                out.append(View(scale, (W, H), whole, (x, y, c, c), c, mirror, (width, height), tag))
    return tuple(out)


def custom(
    scales: Sequence[int] = PAPER_SCALES,
    squares: int = 3,
    crops: Sequence[str] = CROP_NAMES,
    mirror: bool = True,
    crop_size: int = REFERENCE_CROP,
    *,
    base_crop: int = REFERENCE_CROP,
    name: str | None = None,
) -> Protocol:
    """A paper-style protocol with chosen parts.

    ``scales`` are shorter sides for a ``base_crop`` model (224 by default) and are rescaled to
    ``crop_size`` (round half up); pass ``base_crop=crop_size`` to give them in pixels as they are.
    """
    px = tuple(scale_for_crop(int(s), crop_size, base_crop) for s in scales)
    crops = tuple(crops)
    if name is None:
        name = (
            f"custom:scales={'/'.join(map(str, px))},squares={squares},"
            f"crops={'/'.join(crops)},mirror={int(bool(mirror))}"
        )
    return Protocol(name, px, squares, crops, bool(mirror), crop_size, "paper")


def _parse_custom(spec: str, crop_size: int) -> Protocol:
    """``custom:scales=256/288,squares=3,crops=tl/center/whole,mirror=1`` (all keys optional)."""
    body = spec.split(":", 1)[1] if ":" in spec else ""
    kwargs: dict = {}
    for part in filter(None, body.split(",")):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"bad custom protocol {spec!r}: expected key=value, got {part!r}")
        if key == "scales":
            kwargs["scales"] = tuple(int(v) for v in value.split("/"))
        elif key == "squares":
            kwargs["squares"] = int(value)
        elif key == "crops":
            kwargs["crops"] = tuple(value.split("/"))
        elif key == "mirror":
            if value.lower() not in ("0", "1", "true", "false", "yes", "no"):
                raise ValueError(f"bad custom protocol {spec!r}: mirror must be 0/1, got {value!r}")
            kwargs["mirror"] = value.lower() in ("1", "true", "yes")
        else:
            raise ValueError(f"bad custom protocol {spec!r}: unknown key {key!r} (scales, squares, crops, mirror)")
    return custom(crop_size=crop_size, **kwargs)


def get_protocol(name: str, crop_size: int = REFERENCE_CROP) -> Protocol:
    """The protocol called ``name`` for a ``crop_size``-px model.

    Names: ``center``, ``ten``, ``paper144``, ``tencrop-torchvision`` and ``custom:...``
    (see :func:`_parse_custom`). The 256/288/320/352 scales are scaled by ``crop_size / 224``.
    """
    s = lambda v: scale_for_crop(v, crop_size)  # noqa: E731
    if name == "center":
        return Protocol("center", (s(256),), 1, ("center",), False, crop_size)
    if name == "ten":
        return Protocol("ten", (s(256),), 1, ("tl", "tr", "bl", "br", "center"), True, crop_size)
    if name == "paper144":
        return Protocol("paper144", tuple(s(v) for v in PAPER_SCALES), 3, CROP_NAMES, True, crop_size)
    if name == "tencrop-torchvision":
        return Protocol(
            "tencrop-torchvision", (s(256),), 1, ("tl", "tr", "bl", "br", "center"), True, crop_size, "torchvision"
        )
    if name == "custom" or name.startswith("custom:"):
        return _parse_custom(name, crop_size)
    raise ValueError(f"unknown protocol {name!r}; expected one of {PROTOCOL_NAMES} or 'custom:...'")


def _as_protocol(p: Protocol | str, crop_size: int) -> Protocol:
    return p if isinstance(p, Protocol) else get_protocol(p, crop_size)


def union_views(
    protocols: Iterable[Protocol | str], width: int, height: int, *, crop_size: int = REFERENCE_CROP
) -> tuple[tuple[View, ...], dict[str, list[tuple[int, int]]]]:
    """Unique views of several protocols for one photo, and how each protocol uses them.

    Returns ``(unique_views, uses)`` where ``uses[protocol.name]`` is a list of
    ``(unique_index, weight)``: ``weight`` is how many of that protocol's nominal views have
    exactly these pixels (see :meth:`View.pixel_key`), so ``sum(weights) == nominal_views`` and
    ``sum(w * f(unique[i])) / sum(w)`` equals the plain mean of ``f`` over the protocol's views.
    The unique views keep the order of first appearance (protocols in the order given). Names
    (strings) are resolved with ``get_protocol(name, crop_size)``.
    """
    protos = tuple(_as_protocol(p, crop_size) for p in protocols)
    names = [p.name for p in protos]
    if len(set(names)) != len(names):
        raise ValueError(f"protocols named twice: {names}")
    unique, uses = _union_cached(protos, int(width), int(height))
    return unique, {k: list(v) for k, v in uses.items()}  # copies: callers may not corrupt the cache


@functools.lru_cache(maxsize=4096)
def _union_cached(
    protos: tuple[Protocol, ...], width: int, height: int
) -> tuple[tuple[View, ...], dict[str, list[tuple[int, int]]]]:
    unique: list[View] = []
    index: dict[tuple, int] = {}
    uses: dict[str, list[tuple[int, int]]] = {}
    for p in protos:
        counts: dict[int, int] = {}
        for v in p.views(width, height):
            k = v.pixel_key()
            if k not in index:
                index[k] = len(unique)
                unique.append(v)
            i = index[k]
            counts[i] = counts.get(i, 0) + 1  # dicts keep first-appearance order
        uses[p.name] = list(counts.items())
    return tuple(unique), uses


def union_cost(
    protocols: Iterable[Protocol | str], width: int, height: int, *, crop_size: int = REFERENCE_CROP
) -> dict:
    """Nominal views per protocol, their total, and the unique views (forward passes) of the union."""
    protos = tuple(_as_protocol(p, crop_size) for p in protocols)
    unique, uses = union_views(protos, width, height)
    nominal = {p.name: p.nominal_views for p in protos}
    return {
        "nominal": nominal,
        "nominal_total": sum(nominal.values()),
        "unique": len(unique),
        "unique_per_protocol": {k: len(v) for k, v in uses.items()},
    }


def views_fit(views: Iterable[View]) -> bool:
    """True when every box lies inside its resized photo and every square inside it too."""
    for v in views:
        W, H = v.resized
        for x, y, w, h in (v.square, v.box):
            if x < 0 or y < 0 or w < 1 or h < 1 or x + w > W or y + h > H:
                return False
    return True


__all__ = [
    "Box",
    "CROP_NAMES",
    "GEOMETRY_VERSION",
    "PAPER_SCALES",
    "PROTOCOL_NAMES",
    "Protocol",
    "View",
    "custom",
    "get_protocol",
    "resized_size",
    "scale_for_crop",
    "union_cost",
    "union_views",
    "views_fit",
]
