"""Colour arithmetic for stimuli: vectorised HSV to RGB, Rec. 601 luma and luma-matched hues."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["LUMA_WEIGHTS", "disc_colours", "hsv_to_rgb", "luma"]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""Rec. 601 luma weights of R, G and B; they sum to 1, so a grey level is its own luma."""


def hsv_to_rgb(hue: Tensor, saturation: Tensor, value: Tensor) -> Tensor:
    """Convert HSV colours to RGB, all on the tensors' device and dtype.

    Args:
        hue: degrees, any real number (taken modulo 360), shape ``[N]``.
        saturation: in [0, 1], shape ``[N]``.
        value: in [0, 1], shape ``[N]``.

    Returns:
        ``[N, 3]`` RGB in [0, 1].

    Example:
        >>> hsv_to_rgb(torch.tensor([120.0]), torch.tensor([1.0]), torch.tensor([1.0]))
        tensor([[0., 1., 0.]])
    """
    offsets = torch.tensor([5.0, 3.0, 1.0], dtype=hue.dtype, device=hue.device)
    k = torch.remainder(offsets + (hue / 60.0)[:, None], 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    v = value[:, None]
    return v - v * saturation[:, None] * ramp


def luma(rgb: Tensor) -> Tensor:
    """Rec. 601 luma ``0.299 R + 0.587 G + 0.114 B`` of ``[N, 3]`` colours, shape ``[N]``.

    Example:
        >>> luma(torch.tensor([[1.0, 1.0, 1.0]]))
        tensor([1.])
    """
    weights = torch.tensor(LUMA_WEIGHTS, dtype=rgb.dtype, device=rgb.device)
    return rgb @ weights


def disc_colours(hue: Tensor, saturation: Tensor, value: Tensor, background: float,
                 matched: bool) -> tuple[Tensor, Tensor]:
    """The RGB colour of each disc and its HSV value, in the dtype of ``hue`` (use float64).

    ``matched=False``: the plain HSV colour. ``matched=True``: the colour of that hue whose luma
    equals ``background`` (a grey level, hence its own luma) with the largest chroma the [0, 1]
    gamut allows, scaled by ``saturation`` (1 = that largest chroma, 0 = the background grey);
    ``value`` is then ignored and the returned value is the one the match produced.

    A colour of hue h is ``m + c * pure(h)``, ``pure(h)`` the full-saturation, full-value colour
    (min channel 0, max 1) of luma ``Yp``. Its luma is ``m + c * Yp``; with ``m >= 0`` and
    ``m + c <= 1`` the largest chroma at luma ``b`` is ``min(b / Yp, (1 - b) / (1 - Yp))``.

    Returns:
        ``(rgb [N, 3], value [N])``.

    Example:
        >>> rgb, _ = disc_colours(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([1.0]),
        ...                       0.5, matched=True)
        >>> round(float(luma(rgb)[0]), 6)
        0.5
    """
    if not matched:
        rgb = hsv_to_rgb(hue, saturation, value)
        return rgb, rgb.amax(dim=1)
    ones = torch.ones_like(hue)
    pure = hsv_to_rgb(hue, ones, ones)
    pure_luma = luma(pure)
    chroma = saturation * torch.minimum(background / pure_luma,
                                        (1.0 - background) / (1.0 - pure_luma))
    floor = background - chroma * pure_luma
    rgb = (floor[:, None] + chroma[:, None] * pure).clamp(0.0, 1.0)
    return rgb, rgb.amax(dim=1)
