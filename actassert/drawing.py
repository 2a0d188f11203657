"""The figures a failing test leaves behind: kernel grids, tuning plots, stimulus strips (PNG)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from actassert._kernel_ids import kernel_positions
from actassert.errors import DrawingError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "DrawingError", "TuningLike", "kernel_grid", "save_png", "stimulus_strip", "tuning_kernels",
    "tuning_plot",
]

ArrayLike = Any  # a torch Tensor or a numpy array; torch is never imported here
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_BG = 255  # page colour (white, as the tutorial's matplotlib figures)
_FRAME = 150  # 1-px grey frame around every map, so white maps do not melt into the page
_RED = (230, 0, 0)  # non-finite values, highlighted stimuli
_MARGIN = 8  # page margin, px
_GAP = 6  # space between cells, px
_GAP_Y = 9  # space between rows of a kernel grid (above the next row's labels), px
_LABEL_FONT = 11
_AUTO_MIN = 56  # small maps are upscaled by an integer factor to at least this many px
_AUTO_MAX = 112  # large maps are shown at most this size
_POINT_CELL = 48  # cell of a map without space ([K] or [K, 1, 1])
_STRIP_PER_ROW = 12
_UNITS = {"hue": "degrees", "orientation": "degrees", "phase": "degrees", "size": "px",
          "spatial_frequency": "cycles per image", "radius": "fraction of the side"}
"""Units of the stimulus parameters, for axis labels (``size (px)``)."""
_DEGREES = ("hue", "orientation", "phase")


class TuningLike(Protocol):
    """What ``tuning_plot`` reads from a tuning object (``actassert.tuning.Tuning`` fits).

    Optional attributes read with ``getattr``: ``kernel_ids`` (``Tensor[K]``, default
    ``arange(K)``) and ``focus`` (kernel ids an assertion named; drawn first, titled in red).
    """

    values: Any
    curves: Any
    circular: float | None
    scale: str
    parameter: str
    layer: str | None

    def preferred(self) -> Any: ...

    def selectivity(self) -> Any: ...


# ---- shared helpers ---------------------------------------------------------------------------


def save_png(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Save ``image`` as a PNG at ``path``, creating missing parent folders; return the path.

    Example:
        >>> from PIL import Image
        >>> save_png(Image.new("RGB", (4, 4)), tmp / "grids" / "a.png").name
        'a.png'
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, format="PNG", compress_level=3)
    return out


@lru_cache(maxsize=8)
def _font(size: int) -> Font:
    try:  # Pillow >= 10.1 bundles a scalable font
        return ImageFont.load_default(size=size)
    except (TypeError, AttributeError, ImportError, OSError):  # older Pillow, no FreeType
        return ImageFont.load_default()


def _text_height(font: Font) -> int:
    return int(font.getbbox("K=0g")[3])


def _as_float_array(x: ArrayLike, what: str) -> np.ndarray:
    """A float64 numpy copy of a Tensor (any device, any dtype) or an array-like."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        t = x.detach().cpu()
        if t.is_complex():
            raise DrawingError(f"{what} of dtype {t.dtype} are complex; draw .abs() or .real")
        return np.asarray(t.double().numpy())
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise DrawingError(f"{what} of type {type(x).__name__} are not an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise DrawingError(f"{what} of dtype {arr.dtype} are not real numbers")
    return arr.astype(np.float64, copy=False)


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise DrawingError(f"{name}={value!r} is not an integer >= {low}")
    return int(value)


def _to_image(canvas: np.ndarray, red: np.ndarray | None = None) -> Image.Image:
    """An RGB image of a grey uint8 canvas, with the ``red`` positions painted red."""
    if red is None:
        return Image.fromarray(canvas, "L").convert("RGB")
    rgb = np.repeat(canvas[:, :, None], 3, axis=2)
    rgb[red] = _RED
    return Image.fromarray(rgb, "RGB")


# ---- kernel grid ------------------------------------------------------------------------------


def _normalise(x: np.ndarray, scale: str) -> tuple[np.ndarray, np.ndarray | None, float, float]:
    """Map values to 0..255 per kernel or per layer; flat maps give 128, non-finite ones 0.

    Returns the uint8 maps, the mask of non-finite values (None when all are finite) and the
    layer's finite min and max (for the caption).
    """
    finite = np.isfinite(x)
    bad = None if finite.all() else ~finite
    axis = (1, 2) if scale == "kernel" else None
    if bad is None:
        lo, hi = x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True)
    else:
        lo = np.where(finite, x, np.inf).min(axis=axis, keepdims=True)
        hi = np.where(finite, x, -np.inf).max(axis=axis, keepdims=True)
    with np.errstate(all="ignore"):
        span = hi - lo
        flat = ~(span > 0) | ~np.isfinite(span)
        v = (x - np.where(flat, 0.0, lo)) * (255.0 / np.where(flat, 1.0, span))
        v = np.where(flat, 128.0, v)
        if bad is not None:
            v[bad] = 0.0
    u8 = np.clip(v + 0.5, 0, 255).astype(np.uint8)
    if bad is None:
        return u8, None, float(x.min()), float(x.max())
    fin = x[finite]
    if fin.size == 0:
        return u8, bad, math.nan, math.nan
    return u8, bad, float(fin.min()), float(fin.max())


def _tile(cells: np.ndarray, ncols: int, slot_w: int, top: int, fill: Any,
          frame: Any) -> np.ndarray:
    """Lay ``cells [K, ch, cw]`` out row by row in slots of ``slot_w`` px with ``top`` px of
    label space above each framed map and gaps between slots, in one numpy assignment."""
    k, ch, cw = cells.shape
    rows = -(-k // ncols)
    bh, bw = top + ch + 2 + _GAP_Y, slot_w + _GAP
    x0 = (slot_w - cw - 2) // 2
    blocks = np.full((rows * ncols, bh, bw), fill, dtype=cells.dtype)
    blocks[:k, top:top + ch + 2, x0:x0 + cw + 2] = frame
    blocks[:k, top + 1:top + 1 + ch, x0 + 1:x0 + 1 + cw] = cells
    grid = blocks.reshape(rows, ncols, bh, bw).transpose(0, 2, 1, 3).reshape(rows * bh, ncols * bw)
    return grid[:-_GAP_Y, :-_GAP]


def _auto_cell(side: int) -> int:
    if side <= 1:
        return _POINT_CELL
    if side < _AUTO_MIN:
        return side * -(-_AUTO_MIN // side)
    return min(side, _AUTO_MAX)


def kernel_grid(maps: ArrayLike, *, cols: int = 16, scale: str = "kernel", cell: int | None = None,
                labels: bool | Sequence[str] = True, title: str | None = None,
                path: str | os.PathLike[str] | None = None) -> Image.Image:
    """Draw every kernel's activation map of one layer for one image, as the tutorial's figures.

    Maps are laid out ``cols`` per row (fewer when there are fewer kernels) in grey, black = low
    and white = high, each in a 1-px grey frame with its label (``K=000``, zero-padded to 3
    digits, more from 1000 kernels) above it. The grid is built as one numpy array and the labels
    are drawn with PIL, so 512 maps of 28x28 take a few tens of milliseconds.

    Scaling: ``"kernel"`` stretches every map to its own min..max (what ``matshow`` does, the
    tutorial's look); ``"shared"`` uses one min..max over the layer, so kernels' strengths
    compare. A flat map (max == min; a dead kernel) is drawn mid-grey under either scale, never
    NaN. Non-finite values (NaN, +-inf) are drawn red, left out of the min..max, and counted in a
    note at the top: a failing test usually wants to see where they are.

    Layers without space (``[K]`` or ``[K, 1, 1]``, e.g. ``fc`` or ``avgpool``): every kernel is
    one square cell filled with its grey and its value printed inside (``0.123``). One number
    has no range of its own, so such layers are always scaled over the layer (``"shared"``).

    Args:
        maps: one image's maps of one layer, ``[K, H, W]``, ``[K]`` or ``[K, 1, 1]`` (Tensor on
            any device, or ndarray).
        cols: cells per row.
        scale: ``"kernel"`` or ``"shared"``, see above.
        cell: size in px of a map's longer side (nearest-neighbour resampling). None picks one:
            small maps are upscaled by a whole factor to at least 56 px (7x7 -> 56, 28x28 -> 56),
            larger ones shown as they are up to 112 px (112x112 -> 112, 224x224 -> 112).
        labels: True for ``K=000`` labels, False for none, or one string per kernel.
        title: a line at the top (layer, stimulus); with it comes a line naming the scale and the
            layer's value range.
        path: if given, the PNG is also saved there (parent folders created).

    Returns:
        The grid as an RGB ``PIL.Image.Image``.

    Raises:
        DrawingError: a shape that is not ``[K, H, W]``/``[K]``, no kernel, a bad ``cols``,
            ``cell``, ``scale`` or wrong number of labels.

    Example:
        >>> acts = torch.rand(64, 56, 56)
        >>> img = kernel_grid(acts, title="maxpool, image 0")
        >>> img.size[0] > 16 * 56
        True
    """
    x = _as_float_array(maps, "maps")
    shape = tuple(x.shape)
    if x.ndim == 1 or (x.ndim == 3 and shape[1:] == (1, 1)):
        x = x.reshape(-1, 1, 1)
        pointwise = True
    elif x.ndim == 3:
        pointwise = False
    else:
        hint = (f": pass maps[i] for image i of the batch of {shape[0]}" if x.ndim == 4 else
                ": one image's maps of one layer are [K, H, W], or [K] for a layer without space")
        raise DrawingError(f"maps must be [K, H, W] or [K]; got shape {shape}{hint}")
    if x.size == 0:
        raise DrawingError(f"maps of shape {shape} hold no kernel or no position to draw")
    if scale not in ("kernel", "shared"):
        raise DrawingError(f"scale={scale!r} is not 'kernel' (each map its own min..max) or "
                           "'shared' (one min..max over the layer)")
    cols = _check_int(cols, "cols", 1)
    k, h, w = x.shape
    if cell is not None:
        cell = _check_int(cell, "cell", 1)
    side = cell if cell is not None else _auto_cell(max(h, w))
    ch, cw = max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w)))
    if isinstance(labels, bool):
        digits = max(3, len(str(k - 1)))
        texts = [f"K={i:0{digits}d}" for i in range(k)] if labels else []
    else:
        texts = [str(s) for s in labels]
        if len(texts) != k:
            raise DrawingError(f"labels has {len(texts)} entries for {k} kernels")

    used_scale = "shared" if pointwise else scale
    u8, bad, lo, hi = _normalise(x, used_scale)
    rows_i = (np.arange(ch) * h) // ch
    cols_i = (np.arange(cw) * w) // cw
    cells = u8[:, rows_i[:, None], cols_i[None, :]]

    font = _font(_LABEL_FONT)
    label_h = _text_height(font) + 3 if texts else 0
    draw_probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    widths = [draw_probe.textlength(s, font=font) for s in texts]
    slot_w = max(cw + 2, int(max(widths, default=0)) + 2)
    ncols = min(cols, k)

    header: list[tuple[str, Font]] = []
    if title is not None:
        desc = ("one grey scale for the whole layer" if used_scale == "shared"
                else "each map scaled to its own range")
        header.append((title, _font(15)))
        where = f"{h} x {w} positions" if not pointwise else "one value each"
        info = (f"{k} kernels of {where}; {desc}, black lowest, white highest; values from "
                f"{lo:.4g} to {hi:.4g}")
        header.append((info, font))
    if bad is not None:
        n_nan = int(np.isnan(x).sum())
        counts = [f"{c} {name}" for c, name in ((n_nan, "NaN"), (int(bad.sum()) - n_nan, "inf"))
                  if c]
        n_bad_k = int(bad.any(axis=(1, 2)).sum())
        header.append((f"{' and '.join(counts)} values drawn red (in {n_bad_k} of {k} kernels)",
                       font))
    line_hs = [_text_height(f) + 4 for _, f in header]
    head_h = sum(line_hs) + (4 if header else 0)
    head_w = max((int(draw_probe.textlength(s, font=f)) for s, f in header), default=0)

    grid = _tile(cells, ncols, slot_w, label_h, _BG, _FRAME)
    width = max(grid.shape[1], head_w) + 2 * _MARGIN
    height = grid.shape[0] + head_h + 2 * _MARGIN
    canvas = np.full((height, width), _BG, dtype=np.uint8)
    top = _MARGIN + head_h
    canvas[top:top + grid.shape[0], _MARGIN:_MARGIN + grid.shape[1]] = grid
    red = None
    if bad is not None:
        bad_cells = bad[:, rows_i[:, None], cols_i[None, :]]
        red = np.zeros((height, width), dtype=bool)
        red[top:top + grid.shape[0], _MARGIN:_MARGIN + grid.shape[1]] = _tile(
            bad_cells, ncols, slot_w, label_h, False, False)
    image = _to_image(canvas, red)

    draw = ImageDraw.Draw(image)
    y = _MARGIN
    for (line, f), lh in zip(header, line_hs, strict=True):
        draw.text((_MARGIN, y), line, fill=(0, 0, 0), font=f)
        y += lh
    pitch_x, pitch_y = slot_w + _GAP, label_h + ch + 2 + _GAP_Y
    for i, (s, tw) in enumerate(zip(texts, widths, strict=True)):
        r, c = divmod(i, ncols)
        tx = _MARGIN + c * pitch_x + (slot_w - tw) / 2
        draw.text((tx, top + r * pitch_y), s, fill=(0, 0, 0), font=font)
    if pointwise:
        _print_values(draw, x.reshape(-1), u8.reshape(-1), ncols, slot_w, (pitch_x, pitch_y),
                      (top + label_h, cw, ch))
    if path is not None:
        save_png(image, path)
    return image


def _print_values(draw: ImageDraw.ImageDraw, values: np.ndarray, grey: np.ndarray, ncols: int,
                  slot_w: int, pitch: tuple[int, int], box: tuple[int, int, int]) -> None:
    """Write each value of a layer without space inside its cell, in a colour that contrasts."""
    font = _font(10)
    top, cw, ch = box
    th = _text_height(font)
    x0 = (slot_w - cw - 2) // 2 + 1
    for i, (v, g) in enumerate(zip(values.tolist(), grey.tolist(), strict=True)):
        r, c = divmod(i, ncols)
        s = f"{v:.3g}"
        tw = draw.textlength(s, font=font)
        colour = (255, 255, 255) if (g < 128 or not math.isfinite(v)) else (0, 0, 0)
        draw.text((_MARGIN + c * pitch[0] + x0 + (cw - tw) / 2,
                   top + r * pitch[1] + 1 + (ch - th) / 2), s, fill=colour, font=font)


# ---- tuning plot ------------------------------------------------------------------------------


def _kernel_positions(kernels: Any, ids: np.ndarray) -> list[int]:
    if hasattr(kernels, "detach"):
        kernels = kernels.detach().cpu().flatten().tolist()
    elif isinstance(kernels, np.ndarray):
        kernels = kernels.ravel().tolist()
    wanted = [kernels] if isinstance(kernels, (int, np.integer)) else list(kernels)
    return kernel_positions(wanted, ids.tolist(), "this tuning", DrawingError)


def _figure_to_image(fig: Any) -> Image.Image:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(np.ascontiguousarray(rgba[:, :, :3]), "RGB")


class _Curves:
    """The arrays of a tuning object, read once as numpy (CPU, float64)."""

    def __init__(self, tuning: TuningLike) -> None:
        self.values = _as_float_array(tuning.values, "tuning.values").reshape(-1)
        self.curves = _as_float_array(tuning.curves, "tuning.curves")
        if (self.curves.ndim != 2 or self.curves.shape[0] != len(self.values)
                or 0 in self.curves.shape):
            raise DrawingError(f"tuning.curves must be [V values, K kernels] with "
                               f"V={len(self.values)}; got shape {tuple(self.curves.shape)}")
        n_k = self.curves.shape[1]
        raw_ids = getattr(tuning, "kernel_ids", None)
        self.ids = (np.arange(n_k) if raw_ids is None else
                    _as_float_array(raw_ids, "tuning.kernel_ids").astype(np.int64).reshape(-1))
        try:
            self.index: np.ndarray | None = _as_float_array(tuning.selectivity(),
                                                            "selectivity").reshape(-1)
        except ValueError:  # e.g. fewer than 3 values: no index, kernels ordered by peak
            self.index = None
        self.focus_order = [int(k) for k in (getattr(tuning, "focus", None) or [])]
        self.focus = set(self.focus_order)
        self.focus_reason: str | None = getattr(tuning, "focus_reason", None)

    def choose(self, kernels: Any, max_kernels: int) -> tuple[list[int], str]:
        """Positions of the kernels to draw, in order, and how they were chosen (for a title)."""
        if kernels is not None:
            chosen = _kernel_positions(kernels, self.ids)
            how = ("as requested" if len(chosen) <= max_kernels
                   else f"first {max_kernels} of {len(chosen)} requested")
            return chosen[:max_kernels], how
        if self.focus_reason:  # a failed assertion: exactly the kernels its message names
            chosen = _kernel_positions(self.focus_order, self.ids)
            return chosen[:max_kernels], self.focus_reason
        score = (self.index if self.index is not None
                 else np.nan_to_num(self.curves.max(axis=0), nan=-np.inf))
        order = [int(i) for i in np.argsort(-score, kind="stable")]
        named = [i for i in order if int(self.ids[i]) in self.focus]
        chosen = (named + [i for i in order if int(self.ids[i]) not in self.focus])
        how = "most selective first" if self.index is not None else "strongest first"
        return chosen[:max_kernels], ("named kernels, then " if named else "") + how


def tuning_kernels(tuning: TuningLike, kernels: int | Sequence[int] | Tensor | None = None, *,
                   max_kernels: int = 16) -> list[int]:
    """The kernel ids ``tuning_plot`` draws, in panel order.

    Kernels in ``tuning.focus`` (named by an assertion) first, then the most selective (highest
    ``tuning.selectivity()``; ties keep layer order). When ``selectivity()`` raises ``ValueError``
    (fewer than 3 sampled values), the kernels with the highest peak response instead.

    Example:
        >>> tun = Tuning([0.0, 1, 2], torch.tensor([[0.0, 1, 0], [1, 1, 1], [0, 1, 0.5]]))
        >>> tuning_kernels(tun, max_kernels=2)
        [0, 2]
    """
    max_kernels = _check_int(max_kernels, "max_kernels", 1)
    data = _Curves(tuning)
    return [int(data.ids[i]) for i in data.choose(kernels, max_kernels)[0]]


def tuning_plot(tuning: TuningLike, kernels: int | Sequence[int] | Tensor | None = None, *,
                path: str | os.PathLike[str] | None = None, max_kernels: int = 16,
                polar: bool | None = None) -> Image.Image:
    """Plot response against the swept parameter, one small panel per kernel.

    By default the ``max_kernels`` most selective kernels are drawn, most selective first, and
    kernels in ``tuning.focus`` (the ones an assertion named) before them with red titles; see
    ``tuning_kernels``. Each panel is titled ``K=012  index 0.43`` (the kernel's id in the layer
    and its selectivity index) and marks the preferred value with a star and a dashed line. A
    circular parameter is drawn on a polar axis by default (angle = value / period, ticks in the
    parameter's units, the curve closed); hue (``parameter="hue"``, period 360) gets markers in
    their own hues and, on a linear axis, a hue colour bar along the bottom. A ``scale="log"``
    parameter (size, spatial frequency) gets a log x axis labelled with the sampled values.
    Rendered on matplotlib's Agg canvas directly, so the user's pyplot backend is never touched.

    Args:
        tuning: an ``actassert.tuning.Tuning`` or any object with its attributes (``TuningLike``).
        kernels: kernel ids (as in ``tuning.kernel_ids``) to draw instead of the most selective.
        path: if given, the PNG is also saved there (parent folders created).
        max_kernels: at most this many panels; a longer ``kernels`` list is cut and the figure's
            title says so.
        polar: polar axes; None means polar for circular parameters.

    Returns:
        The figure as an RGB ``PIL.Image.Image`` (100 dpi, about 290x260 px per panel, 4 panels
        per row).

    Raises:
        DrawingError: an unknown kernel id, ``polar=True`` for a non-circular parameter, a bad
            ``max_kernels``, or curves that are not ``[V, K]``.

    Example:
        >>> hues = torch.arange(0.0, 360.0, 10.0)
        >>> tun = Tuning(hues, torch.rand(36, 64), circular=360, parameter="hue", layer="conv1")
        >>> tuning_plot(tun, max_kernels=8, path=tmp / "hue.png").mode
        'RGB'
    """
    max_kernels = _check_int(max_kernels, "max_kernels", 1)
    data = _Curves(tuning)
    values, curves, ids, index = data.values, data.curves, data.ids, data.index
    n_k = curves.shape[1]
    circular = getattr(tuning, "circular", None)
    log = getattr(tuning, "scale", "linear") == "log"
    parameter = str(getattr(tuning, "parameter", "value"))
    layer = getattr(tuning, "layer", None)
    if polar is None:
        polar = circular is not None
    elif polar and circular is None:
        raise DrawingError(f"polar=True needs a circular parameter; {parameter!r} has "
                           "circular=None (use polar=False or None)")
    preferred = _as_float_array(tuning.preferred(), "preferred").reshape(-1)
    chosen, how = data.choose(kernels, max_kernels)
    focus = data.focus

    from matplotlib.colors import hsv_to_rgb
    from matplotlib.figure import Figure

    n = len(chosen)
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(2.9 * ncols + 0.2, 2.6 * nrows + 0.45), dpi=100, layout="constrained")
    where = "unnamed layer" if layer is None else str(layer)
    fig.suptitle(f"{where}: {parameter} tuning, {n} of {n_k} kernels ({how})", fontsize=11)
    hue = parameter.lower() == "hue" and circular is not None and float(circular) == 360.0
    colours: Any = hsv_to_rgb(np.stack([np.mod(values, 360) / 360, np.full_like(values, 0.9),
                                        np.full_like(values, 0.9)], 1)) if hue else "C0"
    digits = max(3, len(str(int(ids.max()))))
    for slot, pos in enumerate(chosen):
        ax = fig.add_subplot(nrows, ncols, slot + 1, projection="polar" if polar else None)
        y = curves[:, pos]
        kid = int(ids[pos])
        title = f"K={kid:0{digits}d}" + ("" if index is None else f"  index {index[pos]:.2f}")
        ax.set_title(title, fontsize=9, color="#c00000" if kid in focus else "black",
                     pad=10 if polar else 4)
        ax.tick_params(labelsize=7)
        peak = float(np.nanmax(y)) if np.isfinite(y).any() else 0.0
        if polar:
            period = float(circular)  # type: ignore[arg-type]
            _polar_panel(ax, values, y, period, colours, float(preferred[pos]), peak,
                         "°" if parameter in _DEGREES else "")
        else:
            _linear_panel(ax, values, y, colours, float(preferred[pos]), peak, log=log,
                          period=None if circular is None else float(circular), hue=hue)
            if slot // ncols == nrows - 1 or slot + ncols >= n:
                unit = _UNITS.get(parameter)
                ax.set_xlabel(f"{parameter} ({unit})" if unit else parameter, fontsize=8)
            if slot % ncols == 0:
                ax.set_ylabel("mean response", fontsize=8)
    image = _figure_to_image(fig)
    if path is not None:
        save_png(image, path)
    return image


def _polar_panel(ax: Any, values: np.ndarray, y: np.ndarray, period: float, colours: Any,
                 pref: float, peak: float, unit: str = "") -> None:
    theta = values * (2 * np.pi / period)
    ax.plot(np.append(theta, theta[:1]), np.append(y, y[:1]), color="0.35", lw=1, zorder=2)
    ax.scatter(theta, y, c=colours, s=16, zorder=3, edgecolors="none")
    lo = min(0.0, float(np.nanmin(y)) if np.isfinite(y).any() else 0.0)
    hi = peak if peak > lo else lo + 1.0
    ax.set_ylim(lo, hi + 0.08 * (hi - lo))
    tp = pref * 2 * np.pi / period
    ax.plot([tp, tp], [lo, peak], color="black", lw=0.8, ls="--", zorder=1)
    ax.plot([tp], [peak], marker="*", ms=11, color="black", mec="white", mew=0.5, zorder=4)
    ticks = np.arange(8) * (2 * np.pi / 8)
    ax.set_xticks(ticks, [f"{period * i / 8:g}{unit}" for i in range(8)])
    ax.yaxis.set_major_locator(_max_ticks(3))


def _linear_panel(ax: Any, values: np.ndarray, y: np.ndarray, colours: Any, pref: float,
                  peak: float, *, log: bool, period: float | None, hue: bool) -> None:
    ax.plot(values, y, color="0.35", lw=1, zorder=2)
    ax.scatter(values, y, c=colours, s=16, zorder=3, edgecolors="none")
    ax.axvline(pref, color="black", lw=0.8, ls="--", zorder=1)
    ax.plot([pref], [peak], marker="*", ms=11, color="black", mec="white", mew=0.5, zorder=4)
    if log:
        ax.set_xscale("log")
        if len(values) <= 10:  # label the sampled sizes themselves, not powers of ten
            ax.set_xticks(values, [f"{v:.3g}" for v in values], minor=False)
            ax.set_xticks([], minor=True)
    if period is not None:
        ax.set_xlim(0, period)
    if hue:  # a strip of the hues along the bottom, under the curve
        finite = y[np.isfinite(y)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        span = hi - lo if hi > lo else 1.0
        ax.set_ylim(lo - 0.22 * span, hi + 0.08 * span)
        strip = ax.inset_axes((0.0, 0.0, 1.0, 0.08))
        strip.imshow(np.linspace(0, 1, 256)[None, :], cmap="hsv", aspect="auto",
                     extent=(0, 360, 0, 1))
        strip.set_axis_off()
    ax.yaxis.set_major_locator(_max_ticks(4))


def _max_ticks(n: int) -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(n)


# ---- stimulus strip ---------------------------------------------------------------------------


def _stimulus_labels(labels: Sequence[str] | Mapping[str, Any] | None, n: int) -> list[str]:
    if labels is None:
        return [f"#{i}" for i in range(n)]
    if isinstance(labels, Mapping):
        columns = {name: _as_float_array(v, f"labels[{name!r}]").reshape(-1)
                   for name, v in labels.items()}
        for name, col in columns.items():
            if len(col) != n:
                raise DrawingError(f"labels[{name!r}] has {len(col)} values for {n} images")
        return [" ".join(f"{name}={col[i]:g}" for name, col in columns.items()) for i in range(n)]
    if isinstance(labels, str):
        raise DrawingError(f"labels={labels!r} is one string; pass one label per image")
    texts = [str(s) for s in labels]
    if len(texts) != n:
        raise DrawingError(f"labels has {len(texts)} entries for {n} images")
    return texts


def _fit(text: str, font: Font, width: int) -> str:
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    if probe.textlength(text, font=font) <= width:
        return text
    while text and probe.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _wrap(text: str, font: Font, width: int, lines: int = 2) -> list[str]:
    """``text`` on at most ``lines`` lines of ``width`` px, broken at spaces; only a last line
    that still does not fit is cut with an ellipsis."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    out: list[str] = []
    words = text.split(" ")
    while words and len(out) < lines - 1:
        line = words.pop(0)
        while words and probe.textlength(f"{line} {words[0]}", font=font) <= width:
            line = f"{line} {words.pop(0)}"
        out.append(line)
    if words:
        out.append(" ".join(words))
    return [_fit(line, font, width) for line in out] or [""]


def stimulus_strip(images: ArrayLike, *, labels: Sequence[str] | Mapping[str, Any] | None = None,
                   highlight: int | Sequence[int] | None = None, max_images: int = 24,
                   cell: int = 96, path: str | os.PathLike[str] | None = None) -> Image.Image:
    """Draw the stimuli a network was shown, in rows of up to 12, each with its label under it.

    Each image is fitted into ``cell`` x ``cell`` px (box filter when shrinking, nearest
    neighbour when enlarging). With more than ``max_images`` images an evenly spaced subset is
    shown (always including the highlighted ones) and a caption says ``24 of 360 shown``.
    Values are clipped to [0, 1] (uint8 input is read as 0..255); non-finite pixels are red.

    Args:
        images: ``[N, 3, H, W]`` (or ``[N, 1, H, W]``) in [0, 1], Tensor or ndarray. Only the
            shown images are copied to the CPU.
        labels: one string per image, or a mapping of parameter name to ``N`` values
            (``Stimuli.params``) giving ``"hue=90"``; None labels images by index (``#12``).
            Labels wider than the cell wrap onto a second line at spaces; only what still does
            not fit is cut with an ellipsis.
        highlight: index (or indices) of images framed in red.
        max_images: at most this many images are drawn.
        cell: px of an image's longer side.
        path: if given, the PNG is also saved there (parent folders created).

    Returns:
        The strip as an RGB ``PIL.Image.Image``.

    Raises:
        DrawingError: a shape that is not ``[N, C, H, W]`` with C in (1, 3), no image, a
            highlight index out of range, or labels that do not match ``N``.

    Example:
        >>> strip = stimulus_strip(torch.rand(360, 3, 64, 64), labels={"hue": torch.arange(360)},
        ...                        highlight=90)
        >>> strip.size
        (1312, 291)
    """
    max_images = _check_int(max_images, "max_images", 1)
    cell = _check_int(cell, "cell", 8)
    shape = tuple(getattr(images, "shape", np.shape(images)))
    if len(shape) != 4 or shape[1] not in (1, 3):
        hint = ": for one image use images[None]" if len(shape) == 3 else ""
        raise DrawingError(f"images must be [N, 3, H, W] or [N, 1, H, W]; got shape {shape}{hint}")
    n = int(shape[0])
    if n == 0 or 0 in shape:
        raise DrawingError(f"images of shape {shape} hold no image to draw")
    texts = _stimulus_labels(labels, n)
    marked = ([] if highlight is None else
              [highlight] if isinstance(highlight, (int, np.integer)) else list(highlight))
    for h in marked:
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 0 <= h < n:
            raise DrawingError(f"highlight={h!r} is not an image index in 0..{n - 1}")
    marked_set = {int(h) for h in marked}

    shown = list(range(n))
    if n > max_images:
        shown = sorted(set(np.rint(np.linspace(0, n - 1, max_images)).astype(int).tolist()))
        for h in sorted(marked_set - set(shown)):
            free = [s for s in shown if s not in marked_set]
            if free:
                shown.remove(min(free, key=lambda s: abs(s - h)))
            shown = sorted([*shown, h])
        shown = shown[:max_images]
    is_uint8 = str(getattr(images, "dtype", "")).endswith("uint8")
    picked = images[shown] if hasattr(images, "detach") else np.asarray(images)[shown]
    arr = _as_float_array(picked, "images")
    if is_uint8:
        arr = arr / 255.0
    bad = ~np.isfinite(arr).all(axis=1)
    pix = (np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    pix = np.repeat(pix, 3, axis=1) if pix.shape[1] == 1 else pix
    pix = pix.transpose(0, 2, 3, 1).copy()
    pix[bad] = _RED

    font = _font(_LABEL_FONT)
    wrapped = {i: _wrap(texts[i], font, cell + _GAP) for i in shown}
    line_h = _text_height(font) + 2
    label_h = line_h * max(len(w) for w in wrapped.values()) + 4
    per_row = min(len(shown), _STRIP_PER_ROW)
    rows = -(-len(shown) // per_row)
    caption = f"{len(shown)} of {n} shown (evenly spaced)" if len(shown) < n else None
    head_h = _text_height(font) + 8 if caption else 0
    pitch_x, pitch_y = cell + 2 * _GAP, cell + label_h + 2 * _GAP
    page = Image.new("RGB", (per_row * pitch_x + 2 * _MARGIN,
                             rows * pitch_y + head_h + 2 * _MARGIN), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    if caption:
        draw.text((_MARGIN, _MARGIN), caption, fill=(0, 0, 0), font=font)
    h, w = shape[2], shape[3]
    f = cell / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    resample = Image.Resampling.BOX if f < 1 else Image.Resampling.NEAREST
    for slot, (idx, img) in enumerate(zip(shown, pix, strict=True)):
        r, c = divmod(slot, per_row)
        x0 = _MARGIN + c * pitch_x + _GAP + (cell - size[0]) // 2
        y0 = _MARGIN + head_h + r * pitch_y + _GAP + (cell - size[1]) // 2
        page.paste(Image.fromarray(img, "RGB").resize(size, resample), (x0, y0))
        if idx in marked_set:
            draw.rectangle((x0 - 4, y0 - 4, x0 + size[0] + 3, y0 + size[1] + 3),
                           outline=_RED, width=3)
        for j, line in enumerate(wrapped[idx]):
            tx = _MARGIN + c * pitch_x + (pitch_x - draw.textlength(line, font=font)) / 2
            draw.text((tx, _MARGIN + head_h + r * pitch_y + 2 * _GAP + cell - 2 + j * line_h),
                      line, fill=_RED if idx in marked_set else (0, 0, 0), font=font)
    if path is not None:
        save_png(page, path)
    return page
