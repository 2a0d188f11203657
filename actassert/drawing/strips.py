"""Stimulus strips: the images a network was shown, in rows, each with its label under it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from actassert.drawing._common import (
    GAP,
    MARGIN,
    RED,
    ArrayLike,
    as_float_array,
    check_int,
    font,
    save_png,
    text_height,
    wrap_text,
)
from actassert.errors import DrawingError

__all__ = ["StripLayout", "render_strip", "stimulus_strip", "strip_layout"]

_PER_ROW = 12  # images per row


@dataclass(frozen=True)
class StripLayout:
    """What a stimulus strip shows and where; computed by ``strip_layout``, drawn by
    ``render_strip``.

    Attributes:
        pixels: the shown images as uint8 ``[S, H, W, 3]`` (non-finite pixels red).
        shown: the index of each shown image among all ``N``.
        marked: the highlighted indices (framed and labelled in red).
        lines: the label of each shown image, on one or two lines.
        caption: ``24 of 360 shown (evenly spaced)`` when a subset is shown, else None.
        cell: px of the square each image is fitted into.
        size: (width, height) in px of a drawn image.
        shrink: images are shrunk (box filter) rather than enlarged (nearest neighbour).
        per_row: images per row.
        line_h: px per label line.
        label_h: px of label space under each image.
    """

    pixels: np.ndarray
    shown: list[int]
    marked: set[int]
    lines: list[list[str]]
    caption: str | None
    cell: int
    size: tuple[int, int]
    shrink: bool
    per_row: int
    line_h: int
    label_h: int

    @property
    def head_h(self) -> int:
        """Height in px of the caption line, 0 without one."""
        return text_height(font()) + 8 if self.caption else 0

    @property
    def pitch(self) -> tuple[int, int]:
        """Distance in px from one image's slot to the next one's, across and down."""
        return self.cell + 2 * GAP, self.cell + self.label_h + 2 * GAP

    @property
    def page_size(self) -> tuple[int, int]:
        """(width, height) of the whole strip in px."""
        rows = -(-len(self.shown) // self.per_row)
        pitch_x, pitch_y = self.pitch
        return self.per_row * pitch_x + 2 * MARGIN, rows * pitch_y + self.head_h + 2 * MARGIN


def _stimulus_labels(labels: Sequence[str] | Mapping[str, Any] | None, n: int) -> list[str]:
    if labels is None:
        return [f"#{i}" for i in range(n)]
    if isinstance(labels, Mapping):
        columns = {name: as_float_array(v, f"labels[{name!r}]").reshape(-1)
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


def _image_count(images: ArrayLike) -> tuple[int, int, int]:
    """N, H and W of ``[N, C, H, W]`` images with C in (1, 3), at least one of them."""
    shape = tuple(getattr(images, "shape", np.shape(images)))
    if len(shape) != 4 or shape[1] not in (1, 3):
        hint = ": for one image use images[None]" if len(shape) == 3 else ""
        raise DrawingError(f"images must be [N, 3, H, W] or [N, 1, H, W]; got shape {shape}{hint}")
    if shape[0] == 0 or 0 in shape:
        raise DrawingError(f"images of shape {shape} hold no image to draw")
    return int(shape[0]), int(shape[2]), int(shape[3])


def _highlighted(highlight: int | Sequence[int] | None, n: int) -> set[int]:
    marked = ([] if highlight is None else
              [highlight] if isinstance(highlight, (int, np.integer)) else list(highlight))
    for h in marked:
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 0 <= h < n:
            raise DrawingError(f"highlight={h!r} is not an image index in 0..{n - 1}")
    return {int(h) for h in marked}


def _shown(n: int, marked: set[int], max_images: int) -> list[int]:
    """All ``n`` indices, or ``max_images`` evenly spaced ones that include the marked ones."""
    if n <= max_images:
        return list(range(n))
    shown = sorted(set(np.rint(np.linspace(0, n - 1, max_images)).astype(int).tolist()))
    for h in sorted(marked - set(shown)):
        free = [s for s in shown if s not in marked]
        if free:
            shown.remove(min(free, key=lambda s: abs(s - h)))
        shown = sorted([*shown, h])
    return shown[:max_images]


def _pixels(images: ArrayLike, shown: list[int]) -> np.ndarray:
    """The shown images as uint8 ``[S, H, W, 3]``, clipped to [0, 1], non-finite pixels red."""
    is_uint8 = str(getattr(images, "dtype", "")).endswith("uint8")
    picked = images[shown] if hasattr(images, "detach") else np.asarray(images)[shown]
    arr = as_float_array(picked, "images")
    if is_uint8:
        arr = arr / 255.0
    bad = ~np.isfinite(arr).all(axis=1)
    pix = (np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    pix = np.repeat(pix, 3, axis=1) if pix.shape[1] == 1 else pix
    pix = pix.transpose(0, 2, 3, 1).copy()
    pix[bad] = RED
    return pix


def strip_layout(images: ArrayLike, *, labels: Sequence[str] | Mapping[str, Any] | None = None,
                 highlight: int | Sequence[int] | None = None, max_images: int = 24,
                 cell: int = 96) -> StripLayout:
    """Check ``stimulus_strip``'s arguments and work out what it draws where (no drawing).

    Args:
        images: as ``stimulus_strip``.
        labels: as ``stimulus_strip``.
        highlight: as ``stimulus_strip``.
        max_images: as ``stimulus_strip``.
        cell: as ``stimulus_strip``.

    Returns:
        The strip's layout.

    Raises:
        DrawingError: as ``stimulus_strip``.
    """
    max_images = check_int(max_images, "max_images", 1)
    cell = check_int(cell, "cell", 8)
    n, h, w = _image_count(images)
    texts = _stimulus_labels(labels, n)
    marked = _highlighted(highlight, n)
    shown = _shown(n, marked, max_images)
    small = font()
    lines = [wrap_text(texts[i], small, cell + GAP) for i in shown]
    line_h = text_height(small) + 2
    f = cell / max(h, w)
    return StripLayout(
        pixels=_pixels(images, shown), shown=shown, marked=marked, lines=lines,
        caption=f"{len(shown)} of {n} shown (evenly spaced)" if len(shown) < n else None,
        cell=cell, size=(max(1, round(w * f)), max(1, round(h * f))), shrink=f < 1,
        per_row=min(len(shown), _PER_ROW), line_h=line_h,
        label_h=line_h * max(len(x) for x in lines) + 4)


def render_strip(layout: StripLayout) -> Image.Image:
    """Draw a stimulus strip from its layout with PIL.

    Args:
        layout: from ``strip_layout``.

    Returns:
        The strip as an RGB ``PIL.Image.Image``.
    """
    small = font()
    page = Image.new("RGB", layout.page_size, (255, 255, 255))
    draw = ImageDraw.Draw(page)
    if layout.caption:
        draw.text((MARGIN, MARGIN), layout.caption, fill=(0, 0, 0), font=small)
    cell, (w, h), top = layout.cell, layout.size, MARGIN + layout.head_h
    pitch_x, pitch_y = layout.pitch
    resample = Image.Resampling.BOX if layout.shrink else Image.Resampling.NEAREST
    for slot, (idx, img, lines) in enumerate(zip(layout.shown, layout.pixels, layout.lines,
                                                 strict=True)):
        r, c = divmod(slot, layout.per_row)
        x0 = MARGIN + c * pitch_x + GAP + (cell - w) // 2
        y0 = top + r * pitch_y + GAP + (cell - h) // 2
        page.paste(Image.fromarray(img, "RGB").resize((w, h), resample), (x0, y0))
        if idx in layout.marked:
            draw.rectangle((x0 - 4, y0 - 4, x0 + w + 3, y0 + h + 3), outline=RED, width=3)
        for j, line in enumerate(lines):
            tx = MARGIN + c * pitch_x + (pitch_x - draw.textlength(line, font=small)) / 2
            draw.text((tx, top + r * pitch_y + 2 * GAP + cell - 2 + j * layout.line_h), line,
                      fill=RED if idx in layout.marked else (0, 0, 0), font=small)
    return page


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
    image = render_strip(strip_layout(images, labels=labels, highlight=highlight,
                                      max_images=max_images, cell=cell))
    if path is not None:
        save_png(image, path)
    return image
