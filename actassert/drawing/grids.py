"""Kernel grids: every kernel's activation map of one layer for one image, in grey, as one PNG."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from actassert.drawing._common import (
    BG,
    GAP,
    MARGIN,
    RED,
    ArrayLike,
    Font,
    as_float_array,
    check_int,
    font,
    save_png,
    text_height,
    text_width,
)
from actassert.errors import DrawingError

__all__ = ["GridLayout", "grid_layout", "kernel_grid", "render_grid"]

_FRAME = 150  # 1-px grey frame around every map, so white maps do not melt into the page
_GAP_Y = 9  # space between rows of a kernel grid (above the next row's labels), px
_AUTO_MIN = 56  # small maps are upscaled by an integer factor to at least this many px
_AUTO_MAX = 112  # large maps are shown at most this size
_POINT_CELL = 48  # cell of a map without space ([K] or [K, 1, 1])


@dataclass(frozen=True)
class GridLayout:
    """What a kernel grid shows and where; computed by ``grid_layout``, drawn by ``render_grid``.

    Attributes:
        values: the maps as float64 ``[K, h, w]`` (``[K, 1, 1]`` for a layer without space).
        grey: ``values`` scaled to uint8 grey levels (non-finite values 0), same shape.
        cells: ``grey`` resampled to the drawn size, ``[K, cell_h, cell_w]``.
        bad_cells: where ``cells`` show a non-finite value (drawn red); None when all are finite.
        pointwise: a layer without space: each cell also prints its value.
        labels: the text above each map (empty: no labels), with ``label_widths`` in px.
        label_widths: width of each label in px.
        label_h: px of label space above each map (0 without labels).
        slot_w: px width of one column's slot (the map or its label, whichever is wider).
        ncols: maps per row.
        header: the lines at the top (title, scale and range, non-finite count) with their fonts.
    """

    values: np.ndarray
    grey: np.ndarray
    cells: np.ndarray
    bad_cells: np.ndarray | None
    pointwise: bool
    labels: list[str]
    label_widths: list[float]
    label_h: int
    slot_w: int
    ncols: int
    header: list[tuple[str, Font]]

    @property
    def line_heights(self) -> list[int]:
        """Height in px of each header line."""
        return [text_height(f) + 4 for _, f in self.header]

    @property
    def head_h(self) -> int:
        """Height in px of the header, 0 without one."""
        return sum(self.line_heights) + (4 if self.header else 0)

    @property
    def pitch(self) -> tuple[int, int]:
        """Distance in px from one map's slot to the next one's, across and down."""
        return self.slot_w + GAP, self.label_h + self.cells.shape[1] + 2 + _GAP_Y


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


def _auto_cell(side: int) -> int:
    if side <= 1:
        return _POINT_CELL
    if side < _AUTO_MIN:
        return side * -(-_AUTO_MIN // side)
    return min(side, _AUTO_MAX)


def _read_maps(maps: ArrayLike, scale: str) -> tuple[np.ndarray, bool]:
    """The maps as float64 ``[K, h, w]`` and whether the layer is without space; checks ``scale``."""
    x = as_float_array(maps, "maps")
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
    return x, pointwise


def _kernel_labels(labels: bool | Sequence[str], k: int) -> list[str]:
    if isinstance(labels, bool):
        digits = max(3, len(str(k - 1)))
        return [f"K={i:0{digits}d}" for i in range(k)] if labels else []
    texts = [str(s) for s in labels]
    if len(texts) != k:
        raise DrawingError(f"labels has {len(texts)} entries for {k} kernels")
    return texts


def _header(title: str | None, x: np.ndarray, bad: np.ndarray | None, shared: bool,
            value_range: tuple[float, float]) -> list[tuple[str, Font]]:
    """The lines above the grid: the title with the scale and value range, the non-finite count."""
    small = font()
    k, h, w = x.shape
    header: list[tuple[str, Font]] = []
    if title is not None:
        desc = ("one grey scale for the whole layer" if shared
                else "each map scaled to its own range")
        header.append((title, font(15)))
        # maps of 1 x 1 are a layer without space: read as [K, 1, 1]
        where = f"{h} x {w} positions" if (h, w) != (1, 1) else "one value each"
        header.append((f"{k} kernels of {where}; {desc}, black lowest, white highest; values "
                       f"from {value_range[0]:.4g} to {value_range[1]:.4g}", small))
    if bad is not None:
        n_nan = int(np.isnan(x).sum())
        counts = [f"{c} {name}" for c, name in ((n_nan, "NaN"), (int(bad.sum()) - n_nan, "inf"))
                  if c]
        n_bad_k = int(bad.any(axis=(1, 2)).sum())
        header.append((f"{' and '.join(counts)} values drawn red (in {n_bad_k} of {k} kernels)",
                       small))
    return header


def grid_layout(maps: ArrayLike, *, cols: int = 16, scale: str = "kernel",
                cell: int | None = None, labels: bool | Sequence[str] = True,
                title: str | None = None) -> GridLayout:
    """Check ``kernel_grid``'s arguments and work out what it draws where (no drawing).

    Args:
        maps: as ``kernel_grid``.
        cols: as ``kernel_grid``.
        scale: as ``kernel_grid``.
        cell: as ``kernel_grid``.
        labels: as ``kernel_grid``.
        title: as ``kernel_grid``.

    Returns:
        The grid's layout.

    Raises:
        DrawingError: as ``kernel_grid``.
    """
    x, pointwise = _read_maps(maps, scale)
    cols = check_int(cols, "cols", 1)
    k, h, w = x.shape
    side = _auto_cell(max(h, w)) if cell is None else check_int(cell, "cell", 1)
    ch, cw = max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w)))
    texts = _kernel_labels(labels, k)
    shared = pointwise or scale == "shared"  # one number has no range of its own
    u8, bad, lo, hi = _normalise(x, "shared" if shared else scale)
    at = (slice(None), ((np.arange(ch) * h) // ch)[:, None], ((np.arange(cw) * w) // cw)[None, :])
    small = font()
    widths = [text_width(s, small) for s in texts]
    return GridLayout(
        values=x, grey=u8, cells=u8[at], bad_cells=None if bad is None else bad[at],
        pointwise=pointwise, labels=texts, label_widths=widths,
        label_h=text_height(small) + 3 if texts else 0,
        slot_w=max(cw + 2, int(max(widths, default=0)) + 2), ncols=min(cols, k),
        header=_header(title, x, bad, shared, (lo, hi)))


def _tile(cells: np.ndarray, layout: GridLayout, fill: object, frame: object) -> np.ndarray:
    """Lay ``cells [K, ch, cw]`` out row by row in the layout's slots, with label space above each
    framed map and gaps between slots, in one numpy assignment."""
    k, ch, cw = cells.shape
    ncols, slot_w, top = layout.ncols, layout.slot_w, layout.label_h
    rows = -(-k // ncols)
    bh, bw = top + ch + 2 + _GAP_Y, slot_w + GAP
    x0 = (slot_w - cw - 2) // 2
    blocks = np.full((rows * ncols, bh, bw), fill, dtype=cells.dtype)
    blocks[:k, top:top + ch + 2, x0:x0 + cw + 2] = frame
    blocks[:k, top + 1:top + 1 + ch, x0 + 1:x0 + 1 + cw] = cells
    grid = blocks.reshape(rows, ncols, bh, bw).transpose(0, 2, 1, 3).reshape(rows * bh, ncols * bw)
    return grid[:-_GAP_Y, :-GAP]


def render_grid(layout: GridLayout) -> Image.Image:
    """Draw a kernel grid from its layout: the maps as one numpy array, then the text with PIL.

    Args:
        layout: from ``grid_layout``.

    Returns:
        The grid as an RGB ``PIL.Image.Image``.
    """
    grid = _tile(layout.cells, layout, BG, _FRAME)
    head_w = max((int(text_width(s, f)) for s, f in layout.header), default=0)
    width = max(grid.shape[1], head_w) + 2 * MARGIN
    height = grid.shape[0] + layout.head_h + 2 * MARGIN
    top = MARGIN + layout.head_h
    where = (slice(top, top + grid.shape[0]), slice(MARGIN, MARGIN + grid.shape[1]))
    canvas = np.full((height, width), BG, dtype=np.uint8)
    canvas[where] = grid
    if layout.bad_cells is None:
        image = Image.fromarray(canvas, "L").convert("RGB")
    else:
        red = np.zeros((height, width), dtype=bool)
        red[where] = _tile(layout.bad_cells, layout, False, False)
        rgb = np.repeat(canvas[:, :, None], 3, axis=2)
        rgb[red] = RED
        image = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(image)
    _draw_text(draw, layout, top)
    if layout.pointwise:
        _print_values(draw, layout, top + layout.label_h)
    return image


def _draw_text(draw: ImageDraw.ImageDraw, layout: GridLayout, top: int) -> None:
    """The header lines at the top, then each map's label centred above it."""
    y = MARGIN
    for (line, f), lh in zip(layout.header, layout.line_heights, strict=True):
        draw.text((MARGIN, y), line, fill=(0, 0, 0), font=f)
        y += lh
    small = font()
    pitch_x, pitch_y = layout.pitch
    for i, (s, tw) in enumerate(zip(layout.labels, layout.label_widths, strict=True)):
        r, c = divmod(i, layout.ncols)
        tx = MARGIN + c * pitch_x + (layout.slot_w - tw) / 2
        draw.text((tx, top + r * pitch_y), s, fill=(0, 0, 0), font=small)


def _print_values(draw: ImageDraw.ImageDraw, layout: GridLayout, top: int) -> None:
    """Write each value of a layer without space inside its cell, in a colour that contrasts."""
    face = font(10)
    _, ch, cw = layout.cells.shape
    th = text_height(face)
    x0 = (layout.slot_w - cw - 2) // 2 + 1
    pitch_x, pitch_y = layout.pitch
    values, grey = layout.values.reshape(-1).tolist(), layout.grey.reshape(-1).tolist()
    for i, (v, g) in enumerate(zip(values, grey, strict=True)):
        r, c = divmod(i, layout.ncols)
        s = f"{v:.3g}"
        tw = draw.textlength(s, font=face)
        colour = (255, 255, 255) if (g < 128 or not math.isfinite(v)) else (0, 0, 0)
        draw.text((MARGIN + c * pitch_x + x0 + (cw - tw) / 2,
                   top + r * pitch_y + 1 + (ch - th) / 2), s, fill=colour, font=face)


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
    image = render_grid(grid_layout(maps, cols=cols, scale=scale, cell=cell, labels=labels,
                                    title=title))
    if path is not None:
        save_png(image, path)
    return image
