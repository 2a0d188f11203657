"""Hypothesis strategies over stimulus parameters (never raw pixels), for property-based tests.

Each strategy draws the *parameters* of a controlled stimulus and returns the drawn ``Stimuli``
(one image, with its mask and parameters), so a failing example shrinks to a readable stimulus
such as ``hue=0 radius=0.05``. Importing this module registers the ``actassert`` settings
profile (no deadline, 25 examples); the plugin registers it too when pytest runs with
``--hypothesis-profile=actassert``.

Example:
    >>> from hypothesis import given
    >>> from actassert import strategies as st
    >>> @given(disc=st.hue_discs(size=32))
    ... def test_disc_is_on_grey(disc):
    ...     assert disc.images[~disc.masks.expand_as(disc.images)].eq(0.5).all()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as hs

from actassert._support.hypothesis import register_profile
from actassert.errors import StimulusError
from actassert.stimuli import SHAPE_KINDS, gratings, hue_disc, shapes

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from actassert.stimuli import Stimuli

__all__ = ["hues", "hue_discs", "shape_stimuli", "grating_stimuli"]

register_profile()  # settings.load_profile("actassert") works once strategies is imported


def _bounds(name: str, low: float, high: float, *, floor: float, ceiling: float) -> None:
    for label, value in ((f"min_{name}", low), (f"max_{name}", high)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            raise StimulusError(f"{label}={value!r} must be a number")
        if not floor <= value <= ceiling:
            raise StimulusError(f"{label}={value!r} is outside [{floor:g}, {ceiling:g}]")
    if low > high:
        raise StimulusError(f"min_{name}={low!r} is larger than max_{name}={high!r}")


def hues(*, min_value: float = 0.0, max_value: float = 360.0) -> SearchStrategy[float]:
    """Hue angles in degrees, ``min_value <= hue < max_value`` (0 and 360 are the same hue)."""
    _bounds("value", min_value, max_value, floor=-1e6, ceiling=1e6)
    return hs.floats(min_value, max_value, exclude_max=max_value > min_value,
                     allow_nan=False, allow_infinity=False)


def hue_discs(*, size: int = 64, min_radius: float = 0.05, max_radius: float = 0.5,
              luminance: str | Sequence[str] = ("free", "matched"), background: float = 0.5,
              device: Any = None) -> SearchStrategy[Stimuli]:
    """One coloured disc on grey: hue in [0, 360), radius a fraction of the side, luminance mode.

    Args:
        size: image side in pixels.
        min_radius: smallest radius, a fraction of the image side (> 0).
        max_radius: largest radius (<= 0.5).
        luminance: the mode (``"matched"``, as ``stimuli.hue_disc`` takes it) or the modes to
            draw from (``("free", "matched")``).
        background: grey level of the background.
        device: where to draw the image.
    """
    _bounds("radius", min_radius, max_radius, floor=1e-9, ceiling=0.5)
    modes = [luminance] if isinstance(luminance, str) else list(luminance)
    unknown = [m for m in modes if m not in ("free", "matched")]
    if not modes or unknown:
        shown = luminance if isinstance(luminance, str) else tuple(luminance)
        raise StimulusError(f"luminance={shown!r} must name 'free' and/or 'matched' (one "
                            "string or a sequence of them)")
    smallest = max(min_radius, 0.75 / size)  # a disc must cover at least one pixel centre

    @hs.composite
    def draw(pick: Any) -> Stimuli:
        hue = pick(hues())
        radius = pick(hs.floats(min(smallest, max_radius), max_radius))
        mode = pick(hs.sampled_from(modes))
        return hue_disc([hue], size=size, radius=radius, luminance=mode, background=background,
                        device=device)

    return draw()


def shape_stimuli(*, kinds: Sequence[str] | None = None, min_size: float = 4.0,
                  max_size: float | None = None, image_size: int = 64, colour: float = 1.0,
                  background: float = 0.5, device: Any = None) -> SearchStrategy[Stimuli]:
    """One filled shape on grey: kind and size (side of the bounding box, px) drawn.

    Args:
        kinds: shapes to draw from (default every kind ``shapes`` knows).
        min_size: smallest size in pixels.
        max_size: largest size in pixels (default the image side).
        image_size: image side in pixels.
        colour: grey level of the shape.
        background: grey level of the background.
        device: where to draw the image.
    """
    chosen = list(kinds) if kinds is not None else list(SHAPE_KINDS)
    unknown = [k for k in chosen if k not in SHAPE_KINDS]
    if not chosen or unknown:
        raise StimulusError(f"kinds={tuple(chosen)!r} must name some of {', '.join(SHAPE_KINDS)}")
    top = float(image_size) if max_size is None else max_size
    _bounds("size", min_size, top, floor=2.0, ceiling=float(image_size))

    @hs.composite
    def draw(pick: Any) -> Stimuli:
        kind = pick(hs.sampled_from(chosen))
        size = pick(hs.floats(min_size, top))
        return shapes(kind, [size], colour=colour, background=background, size=image_size,
                      device=device)

    return draw()


def grating_stimuli(*, size: int = 64, min_frequency: float = 1.0,
                    max_frequency: float | None = None, contrast: float = 1.0,
                    device: Any = None) -> SearchStrategy[Stimuli]:
    """One full-field grating: orientation in [0, 180), spatial frequency (cycles per image), phase.

    Args:
        size: image side in pixels.
        min_frequency: lowest spatial frequency in cycles per image side.
        max_frequency: highest (default a quarter of the side, well under the Nyquist limit).
        contrast: Michelson contrast.
        device: where to draw the image.
    """
    top = size / 4 if max_frequency is None else max_frequency
    _bounds("frequency", min_frequency, top, floor=0.0, ceiling=size / 2)

    @hs.composite
    def draw(pick: Any) -> Stimuli:
        orientation = pick(hs.floats(0.0, 180.0, exclude_max=True))
        frequency = pick(hs.floats(min_frequency, top))
        phase = pick(hs.floats(0.0, 360.0, exclude_max=True))
        return gratings([orientation], [frequency], [phase], size=size, contrast=contrast,
                        device=device)

    return draw()
