"""Stimulus sets for activation experiments: ``Stimuli`` and the generators that draw them.

``hue_disc``, ``shapes`` and ``gratings`` draw all their images at once in torch on the target
device (coordinate grids built once, broadcast over the parameter axis), deterministically, in
float32; ``load_images`` reads photos with pillow. Each returns a ``Stimuli`` with foreground
masks and every parameter of every image.

Products: each swept argument takes a scalar or a sequence. The images are the Cartesian product
of the sequences in the order of the signature, the first argument varying slowest, exactly like
``itertools.product``: ``hue_disc([0, 90], radius=[0.1, 0.2])`` gives (hue, radius) = (0, 0.1),
(0, 0.2), (90, 0.1), (90, 0.2).

Geometry: pixel (row i, column j) has its centre at x = j + 0.5, y = i + 0.5 pixels (y points
down); ``center=(x, y)`` is a fraction of the image side (default the middle, (0.5, 0.5)). A pixel
belongs to a shape iff its centre lies inside it, with no anti-aliasing: ``images[mask]`` is
exactly the stimulus colour and ``images[~mask]`` exactly the background.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from actassert._support.colour import disc_colours, luma
from actassert._support.image_io import fit_image, read_source
from actassert.errors import StimulusError
from actassert.stimulus_set import Stimuli
from actassert.stimulus_set import to_device as _device

__all__ = ["SHAPE_KINDS", "BoundStimuli", "Stimuli", "gratings", "hue_disc", "load_images", "on",
           "shapes"]

SHAPE_KINDS = ("circle", "square", "triangle", "diamond")
"""The shapes ``shapes`` draws; ``params["kind"]`` holds indices into this tuple."""

Values = float | Sequence[float] | Tensor
Source = str | os.PathLike[str]


def hue_disc(hues: Values, *, size: int = 224, radius: Values = 0.2, background: float = 0.5,
             saturation: Values = 1.0, value: Values = 1.0,
             center: tuple[float, float] | None = None, luminance: str = "free",
             device: torch.device | str | None = None) -> Stimuli:
    """A disc of each hue on a uniform grey background: the colour experiment.

    Args:
        hues: degrees, any real numbers, taken modulo 360 (0 and 360 are the same image);
            ``params["hue"]`` holds the wrapped value in [0, 360).
        size: image side in pixels (at least 8).
        radius: disc radius as a fraction of the image side, in (0, 0.5]; 0.5 touches the edges
            of a centred disc (an off-centre disc is clipped by the border).
        background: grey level of the background in [0, 1].
        saturation: HSV saturation in [0, 1].
        value: HSV value in [0, 1] (only with ``luminance="free"``).
        center: (x, y) of the disc centre as fractions of the image side; default the middle.
        luminance: ``"free"``: the plain HSV colour, so luma changes with hue (yellow is much
            brighter than blue). ``"matched"``: each colour keeps its hue but is moved to the
            luma (Rec. 601) of the background, with the largest chroma the [0, 1] gamut allows
            times ``saturation``; responses then cannot come from brightness. ``params["value"]``
            then holds the HSV value the match produced.
        device: where to draw; None means CPU.

    Radius, saturation and value may be sequences (a product with the hues, see the module
    docstring). ``params``: hue, radius, saturation, value, and luma (the disc colour's luma).

    Example:
        >>> s = hue_disc(range(0, 360, 30), radius=[0.1, 0.2], size=64, luminance="matched")
        >>> len(s), s.images.shape[1:], round(float(s.params["luma"].min()), 3)
        (24, torch.Size([3, 64, 64]), 0.5)
    """
    side, dev, grey = _side(size), _device(device), _unit("background", background)
    if luminance not in ("free", "matched"):
        raise StimulusError(f"luminance={luminance!r} is not one of 'free', 'matched'")
    matched = luminance == "matched"
    values = _reals("value", value, 0.0, 1.0)
    if matched and values != [1.0]:
        raise StimulusError(f"luminance='matched' sets each colour's value itself; leave value "
                            f"at 1.0 (got value={value!r})")
    if matched and not 0.0 < grey < 1.0:
        raise StimulusError(f"luminance='matched' needs a background strictly between 0 and 1 "
                            f"(got background={grey!r}): no colour has the luma of pure "
                            "black or white")
    axes = _product(hue=_wrap(_reals("hues", hues), 360.0),
                    radius=_reals("radius", radius, 0.0, 0.5, "half the image side", True),
                    saturation=_reals("saturation", saturation, 0.0, 1.0), value=values)
    rgb, realised = disc_colours(axes["hue"], axes["saturation"], axes["value"], grey, matched)
    dx, dy = _grid(side, center, dev)
    radii, which = torch.unique(axes["radius"], return_inverse=True)  # draw each disc size once
    r2 = ((radii * side) ** 2).to(dev, torch.float32)
    discs = (dx * dx + dy * dy)[None] < r2[:, None, None]
    axes["value"], axes["luma"] = realised, luma(rgb)
    return _draw(discs, which, rgb, grey, axes, {}, "radius")


def shapes(kind: str | Sequence[str], sizes: Values, *,
           colour: float | tuple[float, float, float] = (1.0, 1.0, 1.0), background: float = 0.5,
           size: int = 224, center: tuple[float, float] | None = None,
           device: torch.device | str | None = None) -> Stimuli:
    """Filled shapes of each kind and size on a grey background: the size experiment.

    A shape's size is the side of its bounding box in pixels: the circle's diameter, the
    (axis-aligned) square's side, the equilateral triangle's side (apex up; its height is
    size * sqrt(3) / 2), the diamond's diagonal. The bounding box is centred on ``center``.
    The square includes its left/top edges and excludes its right/bottom ones, so a square of
    integer size s inside the image covers exactly s * s pixels wherever it is placed; a circle
    covers about pi * s**2 / 4 pixels. Shapes reaching past the border are clipped.

    Args:
        kind: one of ``SHAPE_KINDS`` or a sequence of them (a product with ``sizes``).
        sizes: bounding-box sides in pixels, in (0, size]; non-integers are allowed.
        colour: the shape's colour: an (r, g, b) triple or a grey level, in [0, 1].
        background: grey level of the background in [0, 1], different from ``colour``.
        size: image side in pixels (at least 8).
        center: (x, y) of the shape's centre as fractions of the image side; default the middle.
        device: where to draw; None means CPU.

    ``params``: "kind" (int codes into ``categories["kind"] == SHAPE_KINDS``) and "size".

    Example:
        >>> s = shapes(["circle", "square"], [4, 20], size=32)
        >>> [s.label(i) for i in range(4)][-1], int(s.masks[3].sum())
        ('kind=square size=20', 400)
    """
    kinds = [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, Iterable) else []
    if not kinds:
        raise StimulusError(f"kind must be a shape name or a non-empty sequence; got {kind!r}")
    for name in kinds:
        if name not in SHAPE_KINDS:
            raise StimulusError(f"kind {name!r} is not one of {', '.join(SHAPE_KINDS)}")
    side, dev, grey = _side(size), _device(device), _unit("background", background)
    rgb = _colour_triple(colour)
    if rgb == (grey, grey, grey):
        raise StimulusError(f"colour={colour!r} equals background={background!r}: the shapes "
                            "would be invisible")
    axes = _product(kind=[float(SHAPE_KINDS.index(k)) for k in kinds],
                    size=_reals("sizes", sizes, 0.0, float(side), f"the image side size={side}",
                                True))
    dx, dy = (g[None] for g in _grid(side, center, dev))
    codes = axes["kind"].long()
    mask = torch.empty(len(codes), side, side, dtype=torch.bool, device=dev)
    for code in codes.unique().tolist():
        rows = (codes == code).nonzero().flatten()
        half = (axes["size"][rows] / 2).to(dev, torch.float32)[:, None, None]
        mask[rows.to(dev)] = _SHAPE_MASKS[SHAPE_KINDS[code]](dx, dy, half)
    axes["kind"] = codes
    colours = torch.tensor(rgb, dtype=torch.float64).expand(len(codes), 3)
    return _draw(mask, None, colours, grey, axes, {"kind": SHAPE_KINDS}, "size")


def gratings(orientations: Values, spatial_frequencies: Values, phases: Values = (0.0,), *,
             size: int = 224, contrast: Values = 1.0, radius: float | None = None,
             background: float = 0.5, device: torch.device | str | None = None) -> Stimuli:
    """Sinusoidal luminance gratings ``background * (1 + contrast * cos(2 pi f u / size + phase))``.

    ``u`` is the signed distance in pixels from the image centre along the direction
    ``orientation`` measured counter-clockwise from the rightward x axis as seen on screen:
    0 deg gives vertical bars (luminance varies left to right), 90 deg horizontal bars, 45 deg
    bars running top-left to bottom-right. Orientations are taken modulo 180 (a grating turned
    by 180 deg is the same pattern) before the phase is applied, so 190 deg with phase p draws
    the 10 deg grating with phase p; phases are taken modulo 360, and phase 0 puts a bright
    crest through the image centre. ``contrast`` is Michelson contrast: the mean is
    ``background``, the extremes ``background * (1 +- contrast)``.

    Args:
        orientations: degrees, any real numbers; ``params`` holds them wrapped to [0, 180).
        spatial_frequencies: cycles per image side, in [0, size / 2] (the Nyquist limit).
        phases: degrees.
        size: image side in pixels (at least 8).
        contrast: Michelson contrast in [0, 1]; ``background * (1 + contrast)`` must be <= 1.
        radius: None fills the image (masks all True); else a circular aperture of that radius
            (fraction of the side, in (0, 0.5]), grey outside, and the mask is the aperture.
        background: mean grey level, in (0, 1).
        device: where to draw; None means CPU.

    The product runs orientation x spatial frequency x phase x contrast. ``params``:
    orientation, spatial_frequency, phase, contrast.

    Example:
        >>> g = gratings([0, 45, 90, 135], [2, 4], size=32)
        >>> len(g), g.label(7)
        (8, 'orientation=135 spatial_frequency=4')
    """
    side, dev, grey = _side(size), _device(device), _unit("background", background)
    if not 0.0 < grey < 1.0:
        raise StimulusError(f"background={background!r} must be strictly between 0 and 1 (the "
                            "mean grey level the grating modulates)")
    aperture = _aperture(radius, side)
    axes = _product(
        orientation=_wrap(_reals("orientations", orientations), 180.0),
        spatial_frequency=_reals("spatial_frequencies", spatial_frequencies, 0.0, side / 2,
                                 f"the Nyquist limit size/2={side / 2:g} cycles per image"),
        phase=_wrap(_reals("phases", phases), 360.0),
        contrast=_reals("contrast", contrast, 0.0, 1.0))
    peak = grey * (1.0 + float(axes["contrast"].max()))
    if peak > 1.0:
        raise StimulusError(f"contrast={contrast!r} on background={background!r} reaches "
                            f"{peak:g} > 1; lower the contrast or the background")
    lum, mask = _grating_luminance(axes, side, grey, aperture, dev)
    if not bool(mask[0].any()):
        raise StimulusError(f"radius={radius!r} draws no pixel at size={side}; make it larger")
    images = lum[:, None].expand(-1, 3, -1, -1).contiguous()
    return Stimuli(images, mask[:, None], _stored(axes), {}, (grey, grey, grey))


def load_images(paths_or_urls: Source | Sequence[Source], *, size: int = 224, fit: str = "squash",
                cache_dir: Source | None = None, timeout: float = 10.0,
                device: torch.device | str | None = None) -> Stimuli:
    """Natural images from local files or http(s) URLs, as RGB in [0, 1] at ``size x size``.

    URLs are fetched with ``requests`` and cached under ``cache_dir`` (default
    ``~/.cache/actassert/images/``) in a file named by the sha256 of the URL, so a URL is
    requested once. ``fit="squash"`` resizes to size x size like the tutorial's
    ``Resize((224, 224))``; ``fit="crop"`` resizes the short side to ``size`` and crops the
    centre, like ``Resize(size)`` then ``CenterCrop(size)``. Masks are all True; ``params``:
    "index" (0..N-1) and "source" (codes into ``categories["source"]``, the paths/URLs as given).

    Raises:
        ImageLoadError: a missing file, not an image, a bad URL, an HTTP error or a timeout;
            the message names the source and the fix.

    Example:
        >>> s = load_images(["cat.png", "https://x.org/dog.jpg"], fit="crop")  # doctest: +SKIP
        >>> s.label(1)  # doctest: +SKIP
        'index=1 source=dog.jpg'
    """
    if fit not in ("squash", "crop"):
        raise StimulusError(f"fit={fit!r} is not one of 'squash', 'crop'")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
        raise StimulusError(f"timeout={timeout!r} must be a positive number of seconds")
    side, dev = _side(size), _device(device)
    single = isinstance(paths_or_urls, (str, os.PathLike))
    sources = [paths_or_urls] if single else list(paths_or_urls)
    if not sources:
        raise StimulusError("paths_or_urls must not be empty")
    arrays = [fit_image(read_source(s, cache_dir=cache_dir, timeout=float(timeout)), side, fit)
              for s in sources]
    images = torch.from_numpy(np.stack(arrays)).to(dev).permute(0, 3, 1, 2).float().div_(255.0)
    names = [str(s) for s in sources]
    vocab = tuple(dict.fromkeys(names))
    params = {"index": torch.arange(len(names)),
              "source": torch.tensor([vocab.index(n) for n in names], dtype=torch.int64)}
    masks = torch.ones(len(names), 1, side, side, dtype=torch.bool, device=dev)
    return Stimuli(images.contiguous(), masks, params, {"source": vocab})


# ---- drawing helpers ---------------------------------------------------------------------------

def _circle(dx: Tensor, dy: Tensor, half: Tensor) -> Tensor:
    return dx * dx + dy * dy < half * half


def _square(dx: Tensor, dy: Tensor, half: Tensor) -> Tensor:
    return (dx >= -half) & (dx < half) & (dy >= -half) & (dy < half)


def _triangle(dx: Tensor, dy: Tensor, half: Tensor) -> Tensor:
    half_height = half * (math.sqrt(3.0) / 2.0)  # side 2*half, bounding box centred
    return (dy < half_height) & (dx.abs() * math.sqrt(3.0) < dy + half_height)


def _diamond(dx: Tensor, dy: Tensor, half: Tensor) -> Tensor:
    return dx.abs() + dy.abs() < half


_SHAPE_MASKS: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "circle": _circle, "square": _square, "triangle": _triangle, "diamond": _diamond}


def _grid(side: int, center: Any, device: torch.device) -> tuple[Tensor, Tensor]:
    """Pixel-centre offsets from the centre: ``dx [1, W]`` and ``dy [H, 1]``, float32.

    Computed in float64 on the CPU and then rounded, so the geometry is the same on any device.
    """
    if center is None:
        cx = cy = 0.5
    else:
        try:
            cx, cy = (float(c) for c in center)
            ok = all(0.0 <= c <= 1.0 for c in (cx, cy))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise StimulusError(f"center={center!r} must be two fractions (x, y) of the image "
                                "side, each in [0, 1]")
    pixels = torch.arange(side, dtype=torch.float64) + 0.5
    dx = (pixels - cx * side).to(device, torch.float32)
    dy = (pixels - cy * side).to(device, torch.float32)
    return dx[None, :], dy[:, None]


def _grating_luminance(axes: dict[str, Tensor], side: int, grey: float, aperture: float | None,
                       device: torch.device) -> tuple[Tensor, Tensor]:
    """Each grating's luminance ``[N, H, W]`` and its mask (the aperture, or all True).

    ``aperture`` is the radius in pixels of the circular window (grey outside), ``None`` for none.
    """
    theta = torch.deg2rad(axes["orientation"])
    k = 2.0 * math.pi * axes["spatial_frequency"] / side
    a, b = (t.to(device, torch.float32)[:, None, None]
            for t in (k * theta.cos(), -k * theta.sin()))
    phi = torch.deg2rad(axes["phase"]).to(device, torch.float32)[:, None, None]
    dx, dy = _grid(side, None, device)
    wave = torch.cos(a * dx + b * dy + phi)
    gain = (grey * axes["contrast"]).to(device, torch.float32)[:, None, None]
    lum = (grey + gain * wave).clamp(0.0, 1.0)
    if aperture is None:
        return lum, torch.ones_like(lum, dtype=torch.bool)
    mask = ((dx * dx + dy * dy) < aperture ** 2).expand_as(lum).contiguous()
    return torch.where(mask, lum, torch.tensor(grey, dtype=torch.float32, device=device)), mask


def _draw(shapes: Tensor, which: Tensor | None, rgb: Tensor, grey: float,
          axes: dict[str, Tensor], categories: dict[str, tuple[str, ...]],
          geometry: str) -> Stimuli:
    """Paint ``rgb [N, 3]`` inside ``shapes[which] [N, H, W]`` (``which=None``: one shape per
    image) and ``grey`` elsewhere, after checking that no shape is empty."""
    empty = ~shapes.flatten(1).any(dim=1)
    if bool(empty.any()):
        u = int(empty.nonzero()[0])
        i = u if which is None else int((which == u).nonzero()[0])
        raise StimulusError(f"{geometry}={float(axes[geometry][i]):g} draws no pixel at size="
                            f"{shapes.shape[-1]} (no pixel centre falls inside); make it larger")
    if which is not None:
        shapes = shapes.index_select(0, which.to(shapes.device))
    masks = shapes[:, None]
    colour = rgb.to(masks.device, torch.float32)[:, :, None, None]
    return Stimuli(torch.where(masks, colour, grey), masks, _stored(axes), categories,
                   (grey, grey, grey))


def _stored(axes: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v if v.dtype == torch.int64 else v.float() for k, v in axes.items()}


def _product(**axes: list[float]) -> dict[str, Tensor]:
    """Cartesian product of the value lists, first varying slowest, as float64 CPU columns."""
    grids = torch.meshgrid(*(torch.tensor(v, dtype=torch.float64) for v in axes.values()),
                           indexing="ij")
    return {name: g.reshape(-1) for name, g in zip(axes, grids, strict=False)}


# ---- argument validation -----------------------------------------------------------------------

def _reals(name: str, value: Any, low: float | None = None, high: float | None = None,
           high_reason: str = "", low_open: bool = False) -> list[float]:
    """Validate a scalar or sequence of finite numbers within [low, high] (``(low`` if low_open)."""
    if isinstance(value, Tensor) or hasattr(value, "__array__"):
        items = torch.as_tensor(value).flatten().tolist()
    elif isinstance(value, (str, bytes)) or not isinstance(value, (numbers.Real, Iterable)):
        raise StimulusError(f"{name}={value!r} must be a number or a sequence of numbers")
    else:
        items = [value] if isinstance(value, numbers.Real) else list(value)
    if not items:
        raise StimulusError(f"{name} must not be empty")
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise StimulusError(f"{name} holds {v!r}, which is not a number")
        x = float(v)
        if not math.isfinite(x):
            raise StimulusError(f"{name}={x!r} is not a finite number")
        if high is not None and x > high:
            raise StimulusError(f"{name}={x!r} is larger than {high:g}"
                                + (f" ({high_reason})" if high_reason else ""))
        if low is not None and (x < low or (low_open and x == low)):
            raise StimulusError(f"{name}={x!r} must be {'>' if low_open else '>='} {low:g}")
        out.append(x)
    return out


def _aperture(radius: Any, side: int) -> float | None:
    """A grating's aperture radius in pixels from ``radius`` (a fraction of the side, or None)."""
    if radius is None:
        return None
    if not isinstance(radius, numbers.Real):
        raise StimulusError(f"radius={radius!r} must be one number (or None)")
    return _reals("radius", radius, 0.0, 0.5, "half the image side", True)[0] * side


def _wrap(values: list[float], period: float) -> list[float]:
    """Values modulo ``period``, rounded to float32 (as stored in params), in [0, period).

    Python's % gives ``period`` itself for tiny negatives, and float32 rounds 359.99999999 up.
    """
    wrapped = torch.tensor([v % period for v in values], dtype=torch.float64).float()
    return torch.where(wrapped >= period, 0.0, wrapped).double().tolist()


def _unit(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not 0.0 <= float(value) <= 1.0:
        raise StimulusError(f"{name}={value!r} must be a grey level in [0, 1]")
    return float(value)


def _colour_triple(colour: Any) -> tuple[float, float, float]:
    if isinstance(colour, numbers.Real) and not isinstance(colour, bool):
        colour = (colour,) * 3
    try:
        triple = tuple(_unit("colour", c) for c in colour)
    except (StimulusError, TypeError):
        triple = ()
    if len(triple) != 3:
        raise StimulusError(f"colour={colour!r} must be a grey level or an (r, g, b) triple, "
                            "each in [0, 1]")
    return triple


def _side(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 8:
        raise StimulusError(f"size={size!r} must be an int of at least 8 (pixels per side)")
    return int(size)


class BoundStimuli:
    """The stimulus generators of this module with ``device=`` preset (the ``stimuli`` fixture).

    ``on("cuda").hue_disc(range(0, 360, 10), size=64)`` is ``hue_disc(..., device="cuda")``; an
    explicit ``device=`` still wins.
    """

    def __init__(self, device: torch.device | str | None) -> None:
        self.device = device

    def hue_disc(self, hues: Values, *, size: int = 224, radius: Values = 0.2,
                 background: float = 0.5, saturation: Values = 1.0, value: Values = 1.0,
                 center: tuple[float, float] | None = None, luminance: str = "free",
                 device: torch.device | str | None = None) -> Stimuli:
        """:func:`hue_disc` on this object's device unless ``device`` is given."""
        return hue_disc(hues, size=size, radius=radius, background=background,
                        saturation=saturation, value=value, center=center, luminance=luminance,
                        device=self.device if device is None else device)

    def shapes(self, kind: str | Sequence[str], sizes: Values, *,
               colour: float | tuple[float, float, float] = (1.0, 1.0, 1.0),
               background: float = 0.5, size: int = 224,
               center: tuple[float, float] | None = None,
               device: torch.device | str | None = None) -> Stimuli:
        """:func:`shapes` on this object's device unless ``device`` is given."""
        return shapes(kind, sizes, colour=colour, background=background, size=size,
                      center=center, device=self.device if device is None else device)

    def gratings(self, orientations: Values, spatial_frequencies: Values,
                 phases: Values = (0.0,), *, size: int = 224, contrast: Values = 1.0,
                 radius: float | None = None, background: float = 0.5,
                 device: torch.device | str | None = None) -> Stimuli:
        """:func:`gratings` on this object's device unless ``device`` is given."""
        return gratings(orientations, spatial_frequencies, phases, size=size, contrast=contrast,
                        radius=radius, background=background,
                        device=self.device if device is None else device)

    def load_images(self, paths_or_urls: Source | Sequence[Source], *, size: int = 224,
                    fit: str = "squash", cache_dir: Source | None = None, timeout: float = 10.0,
                    device: torch.device | str | None = None) -> Stimuli:
        """:func:`load_images` on this object's device unless ``device`` is given."""
        return load_images(paths_or_urls, size=size, fit=fit, cache_dir=cache_dir,
                           timeout=timeout, device=self.device if device is None else device)

    def __repr__(self) -> str:
        return f"<actassert stimuli on {self.device}>"


def on(device: Any) -> BoundStimuli:
    """The generators of this module drawing on ``device`` unless told otherwise.

    Example:
        >>> on("cpu").hue_disc([0, 90], size=16).device.type
        'cpu'
    """
    return BoundStimuli(device)
