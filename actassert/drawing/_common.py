"""What the three figures share: page colours and spacing, fonts, text fitting, arrays, PNGs."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from actassert.errors import DrawingError

__all__ = [
    "BG", "GAP", "MARGIN", "RED", "ArrayLike", "Font", "as_float_array", "check_int",
    "font", "save_png", "text_height", "text_width", "wrap_text",
]

ArrayLike = Any  # a torch Tensor or a numpy array; torch is never imported here
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

BG = 255  # page colour (white, as the tutorial's matplotlib figures)
RED = (230, 0, 0)  # non-finite values, highlighted stimuli
MARGIN = 8  # page margin, px
GAP = 6  # space between cells, px
_LABEL_FONT = 11  # px, labels and captions


def save_png(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Save ``image`` as a PNG at ``path``, creating missing parent folders; return the path.

    Args:
        image: the figure.
        path: where to write it.

    Returns:
        ``path`` as a ``Path``.

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
def font(size: int = _LABEL_FONT) -> Font:
    """PIL's default font at ``size`` px, by default the labels' (a bitmap font on a Pillow
    without FreeType)."""
    try:  # Pillow >= 10.1 bundles a scalable font
        return ImageFont.load_default(size=size)
    except (TypeError, AttributeError, ImportError, OSError):  # older Pillow, no FreeType
        return ImageFont.load_default()


def text_height(face: Font) -> int:
    """Height in px of a line of text in ``face`` (ascenders and descenders)."""
    return int(face.getbbox("K=0g")[3])


@lru_cache(maxsize=1)
def _probe() -> ImageDraw.ImageDraw:
    return ImageDraw.Draw(Image.new("L", (1, 1)))


def text_width(text: str, face: Font) -> float:
    """Width in px of ``text`` in ``face``, as drawn on a grey page."""
    return float(_probe().textlength(text, font=face))


def as_float_array(x: ArrayLike, what: str) -> np.ndarray:
    """A float64 numpy copy of a Tensor (any device, any dtype) or an array-like.

    Args:
        x: a Tensor (read through ``.detach().cpu()``, torch is never imported) or an array-like.
        what: its name in error messages (``"maps"``).

    Returns:
        The values as a float64 ndarray.

    Raises:
        DrawingError: complex values, or values that are not real numbers.
    """
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


def check_int(value: object, name: str, low: int) -> int:
    """``value`` as an int, or a ``DrawingError`` naming the argument ``name`` if not >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise DrawingError(f"{name}={value!r} is not an integer >= {low}")
    return int(value)


def _fit(text: str, face: Font, width: int) -> str:
    if text_width(text, face) <= width:
        return text
    while text and text_width(text + "…", face) > width:
        text = text[:-1]
    return text + "…"


def wrap_text(text: str, face: Font, width: int, lines: int = 2) -> list[str]:
    """``text`` on at most ``lines`` lines of ``width`` px, broken at spaces.

    Only a last line that still does not fit is cut with an ellipsis.

    Args:
        text: the text.
        face: its font.
        width: the px each line may take.
        lines: the most lines.

    Returns:
        The lines (one empty line for an empty text).

    Example:
        >>> wrap_text("hue=90 size=0.25", font(11), 60)
        ['hue=90', 'size=0.25']
    """
    out: list[str] = []
    words = text.split(" ")
    while words and len(out) < lines - 1:
        line = words.pop(0)
        while words and text_width(f"{line} {words[0]}", face) <= width:
            line = f"{line} {words.pop(0)}"
        out.append(line)
    if words:
        out.append(" ".join(words))
    return [_fit(line, face, width) for line in out] or [""]
