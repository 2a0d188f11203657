"""Attention maps: each head's attention from one query token (the class token) over the patch
grid, one cell per head, as one PNG."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from actassert.drawing._common import ArrayLike, as_float_array, check_int
from actassert.drawing.grids import kernel_grid
from actassert.errors import DrawingError

__all__ = ["AttentionLayout", "attention_grid", "attention_layout"]

MAX_PREFIX = 8  # tokens before the patch grid that a ViT may carry (class, registers)


@dataclass(frozen=True)
class AttentionLayout:
    """What an attention grid shows; computed by ``attention_layout``, drawn by ``kernel_grid``.

    Attributes:
        maps: ``[heads, side, side]`` float64: each head's weights from ``query`` to the patches.
        prefix: tokens before the patch grid (class and register tokens), left out of the maps.
        side: the patch grid's side.
        query: the token whose attention is drawn (0: the class token).
        labels: one label per head (``head 0``, ...).
    """

    maps: np.ndarray
    prefix: int
    side: int
    query: int
    labels: list[str]


def _prefix_of(keys: int, prefix: int | None) -> tuple[int, int]:
    """``(prefix, side)``: the leading tokens and the square patch grid after them."""
    if prefix is not None:
        check_int(prefix, "prefix", 0)
        side = math.isqrt(max(keys - prefix, 0))
        if side < 1 or side * side != keys - prefix:
            raise DrawingError(f"prefix={prefix}: the other {keys - prefix} of {keys} tokens form "
                               "no square patch grid")
        return prefix, side
    fits = [(p, math.isqrt(keys - p)) for p in range(1, min(MAX_PREFIX, keys - 1) + 1)
            if math.isqrt(keys - p) >= 2 and math.isqrt(keys - p) ** 2 == keys - p]
    if len(fits) != 1:
        found = ", ".join(f"prefix={p} ({s}x{s})" for p, s in fits) or "none"
        raise DrawingError(
            f"attention over {keys} tokens: the patch grid cannot be decided.\n"
            f"Expected: exactly one way to read 1..{MAX_PREFIX} leading tokens (class, "
            "registers) and a square grid after them\n"
            f"Obtained: {found}\nFix: pass prefix= (the class token plus the register tokens)")
    return fits[0]


def attention_layout(weights: ArrayLike, *, image: int = 0, query: int = 0,
                     prefix: int | None = None) -> AttentionLayout:
    """Each head's attention from token ``query`` of one image, over the patch grid.

    Args:
        weights: ``[N, heads, T, S]`` softmax weights (a ``name:attn`` record) or one image's
            ``[heads, T, S]``.
        image: which image of ``N``.
        query: the token whose row is drawn (0: the class token).
        prefix: tokens before the patch grid; None finds it, when exactly one count of 1 to 8
            leading tokens leaves a square grid (197 tokens: 1, 14x14), else refuses.

    Raises:
        DrawingError: a shape that is not ``[N, heads, T, S]``, an index out of range, or a
            patch grid that cannot be decided.
    """
    w = as_float_array(weights, "weights")
    if w.ndim == 3:
        w = w[None]
    if w.ndim != 4:
        raise DrawingError(f"weights of shape {list(w.shape)} are not [N, heads, T, S] "
                           "attention weights (record 'name:attn')")
    check_int(image, "image", 0)
    check_int(query, "query", 0)
    if image >= w.shape[0] or query >= w.shape[2]:
        raise DrawingError(f"image={image}, query={query} out of range for weights of shape "
                           f"{list(w.shape)}")
    start, side = _prefix_of(w.shape[3], prefix)
    maps = w[image, :, query, start:].reshape(w.shape[1], side, side)
    return AttentionLayout(maps, start, side, query, [f"head {h}" for h in range(w.shape[1])])


def attention_grid(weights: ArrayLike, *, image: int = 0, query: int = 0,
                   prefix: int | None = None, title: str | None = None, cols: int = 8,
                   path: str | os.PathLike[str] | None = None) -> Image.Image:
    """Draw each head's attention from the class token (``query``) over the patch grid.

    One grey cell per head (white: most attended), each scaled to its own range as a kernel
    grid is, so a head that attends to a few patches shows them.

    Args:
        weights: as :func:`attention_layout`.
        image: as :func:`attention_layout`.
        query: as :func:`attention_layout`.
        prefix: as :func:`attention_layout`.
        title: a line at the top; the query and grid are added to it.
        cols: heads per row.
        path: if given, the PNG is also saved there.

    Returns:
        The grid as an RGB ``PIL.Image.Image``.

    Example:
        >>> import numpy as np
        >>> w = np.random.default_rng(0).dirichlet(np.ones(17), size=(1, 2, 17))  # 1 + 4x4 tokens
        >>> attention_grid(w, prefix=1).size[0] > 0
        True
    """
    layout = attention_layout(weights, image=image, query=query, prefix=prefix)
    what = "class token" if layout.query == 0 and layout.prefix else f"token {layout.query}"
    line = (f"attention from the {what} over the {layout.side}x{layout.side} patches "
            f"({layout.prefix} prefix token(s) left out)")
    return kernel_grid(layout.maps, cols=cols, labels=layout.labels,
                       title=f"{title}: {line}" if title else line, path=path)
