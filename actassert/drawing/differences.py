"""Difference grids: one layer's change per kernel (obtained - expected) on one diverging scale.

A kernel grid (``grids``) stretches each map to its own range, which is right for looking at
activations and wrong for a difference: a zero difference would be black in one map and white in
another. Here every map shares one scale centred on zero: blue below, white at zero, red above,
``-m .. +m`` with ``m`` the largest ``|difference|`` of the layer, named in the header. The kernel
a comparison found worst is outlined.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from PIL import Image, ImageDraw

from actassert.drawing._common import BG, MARGIN, ArrayLike, Font, font, save_png, text_width
from actassert.drawing.grids import _FRAME, GridLayout, _draw_text, _tile, grid_layout
from actassert.errors import DrawingError

__all__ = ["difference_grid", "diverging_colours", "NEGATIVE", "POSITIVE", "MARK"]

#: The colours of ``-m`` and ``+m`` (ColorBrewer's RdBu ends); zero is white.
NEGATIVE = (33, 102, 172)
POSITIVE = (178, 24, 43)
#: The outline of the worst kernel (and the non-finite values): green, on neither side.
MARK = (0, 160, 60)


def diverging_colours(values: np.ndarray, bound: float) -> np.ndarray:
    """RGB uint8 ``[..., 3]`` of ``values`` on ``-bound .. +bound``: blue, white at 0, red.

    Non-finite values are drawn in ``MARK``; ``bound == 0`` (no difference) is all white.

    Example:
        >>> diverging_colours(np.array([-1.0, 0.0, 1.0]), 1.0).tolist()
        [[33, 102, 172], [255, 255, 255], [178, 24, 43]]
    """
    finite = np.isfinite(values)
    t = np.zeros(values.shape) if bound <= 0 else np.clip(np.where(finite, values, 0) / bound,
                                                          -1, 1)
    end = np.where(t[..., None] < 0, np.array(NEGATIVE, float), np.array(POSITIVE, float))
    rgb = 255.0 + np.abs(t)[..., None] * (end - 255.0)
    rgb[~finite] = MARK
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _header(layout: GridLayout, title: str | None, bound: float, worst: int | None,
            bad: int) -> list[tuple[str, Font]]:
    k, h, w = layout.values.shape
    where = f"{h} x {w} positions" if (h, w) != (1, 1) else "one value each"
    lines: list[tuple[str, Font]] = []
    if title is not None:
        lines.append((title, font(15)))
    lines.append((f"{k} kernels of {where}; one diverging scale for every map: blue "
                  f"-{bound:.3g}, white 0, red +{bound:.3g} (the largest |difference|)", font()))
    notes = []
    if worst is not None:
        notes.append(f"worst kernel K={worst:0{max(3, len(str(k - 1)))}d} outlined in green")
    if bad:
        notes.append(f"{bad} non-finite values drawn green")
    if notes:
        lines.append(("; ".join(notes), font()))
    return lines


def difference_grid(difference: ArrayLike, *, worst: int | None = None,
                    title: str | None = None, cols: int = 16,
                    path: str | os.PathLike[str] | None = None) -> Image.Image:
    """Draw one layer's difference maps (``[K, H, W]`` or ``[K]``) on one scale centred on 0.

    Args:
        difference: obtained - expected, one image's maps of one layer.
        worst: the kernel to outline (the comparison's worst), or None.
        title: the first line; the scale follows it on the second.
        cols: maps per row.
        path: if given, the PNG is also saved there.

    Returns:
        The grid as an RGB ``PIL.Image.Image``.

    Raises:
        DrawingError: as ``kernel_grid``, or ``worst`` is not a kernel of the layer.

    Example:
        >>> d = np.zeros((4, 6, 6)); d[2, 3, 3] = -0.5
        >>> difference_grid(d, worst=2, title="features.5").size[0] > 4 * 56
        True
    """
    layout = grid_layout(difference, cols=cols, scale="shared", title=None)
    x = layout.values
    k = x.shape[0]
    if worst is not None and not 0 <= int(worst) < k:
        raise DrawingError(f"worst={worst} is not a kernel of a layer of {k} kernels")
    finite = x[np.isfinite(x)]
    bound = float(np.abs(finite).max()) if finite.size else 0.0
    header = _header(layout, title, bound, worst, int(x.size - finite.size))
    layout = dataclasses.replace(layout, header=header)
    _, ch, cw = layout.cells.shape
    h, w = x.shape[1:]
    at = (slice(None), ((np.arange(ch) * h) // ch)[:, None], ((np.arange(cw) * w) // cw)[None, :])
    rgb_cells = diverging_colours(x[at], bound)
    planes = [_tile(np.ascontiguousarray(rgb_cells[..., c]), layout, BG, _FRAME) for c in range(3)]
    grid = np.stack(planes, axis=2)
    head_w = max((int(text_width(s, f)) for s, f in layout.header), default=0)
    canvas = np.full((grid.shape[0] + layout.head_h + 2 * MARGIN,
                      max(grid.shape[1], head_w) + 2 * MARGIN, 3), BG, dtype=np.uint8)
    top = MARGIN + layout.head_h
    canvas[top:top + grid.shape[0], MARGIN:MARGIN + grid.shape[1]] = grid
    image = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(image)
    _draw_text(draw, layout, top)
    if worst is not None:
        _outline(draw, layout, top, int(worst))
    if path is not None:
        save_png(image, path)
    return image


def _outline(draw: ImageDraw.ImageDraw, layout: GridLayout, top: int, kernel: int) -> None:
    """A 2-px green frame around kernel ``kernel``'s map (outside its grey 1-px frame)."""
    pitch_x, pitch_y = layout.pitch
    _, ch, cw = layout.cells.shape
    r, c = divmod(kernel, layout.ncols)
    x0 = MARGIN + c * pitch_x + (layout.slot_w - cw - 2) // 2
    y0 = top + r * pitch_y + layout.label_h
    pad = 2
    draw.rectangle((x0 - pad, y0 - pad, x0 + cw + 1 + pad, y0 + ch + 1 + pad), outline=MARK,
                   width=2)
