"""A model under the battery (layer 7): :class:`Subject`, with the fixed stimuli and default layers
every check shares, and :func:`subject`, which loads one from ``NAME[@WEIGHTS]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from actassert.battery.names import CHECKS
from actassert.layer_choice import default_layers
from actassert.models.loading import load_model
from actassert.models.names import parse_model_spec
from actassert.settings import BatteryOptions
from actassert.stimuli import Stimuli, gratings, hue_disc, shapes

__all__ = ["Subject", "battery_stimuli", "subject"]


@dataclass
class Subject:
    """A model under the battery, with the fixed stimuli and default layers every check shares."""

    spec: str
    net: Any
    stimuli: Stimuli
    layers: list[str]
    options: BatteryOptions = field(default_factory=BatteryOptions)
    #: runs several checks share (``battery.shared``), while a check still to run needs them
    shared: dict[str, Any] = field(default_factory=dict, repr=False)
    #: the checks still to run (all of them unless the caller says which will run)
    pending: set[str] = field(default_factory=lambda: set(CHECKS), repr=False)

    @property
    def images(self) -> torch.Tensor:
        """The fixed stimuli's images, ``[N, 3, H, W]`` in [0, 1]."""
        return self.stimuli.images


def battery_stimuli(side: int, device: Any = None) -> Stimuli:
    """The fixed stimuli of the battery: 8 hue discs, 4 circles, 4 gratings (16 images).

    Example:
        >>> len(battery_stimuli(32)), battery_stimuli(32).images.shape[-1]
        (16, 32)
    """
    discs = hue_disc(range(0, 360, 45), size=side, radius=0.25, luminance="matched",
                     device=device)
    circles = shapes("circle", [side // 8, side // 4, side // 2, 3 * side // 4], size=side,
                     device=device)
    bars = gratings([0, 45, 90, 135], [4.0], size=side, device=device)
    parts = (discs, circles, bars)  # different parameters: joined as images and masks
    images = torch.cat([p.images for p in parts])
    return Stimuli(images, torch.cat([p.masks for p in parts]),
                   {"index": torch.arange(len(images), device=images.device)}, {})


def subject(spec: str, options: BatteryOptions | None = None, *, device: Any = "auto",
            download: bool | None = None) -> Subject:
    """Load the model named by ``spec`` (``NAME[@WEIGHTS]``) with its stimuli and layers.

    ``download=False`` never downloads weights; None follows the configured policy.
    """
    name, weights = parse_model_spec(spec)
    net = load_model(name, weights=weights, device=device, download=download)
    side = int(getattr(net, "input_size", 224) or 224)
    return Subject(spec, net, battery_stimuli(side, net.device), default_layers(net, 6),
                   options or BatteryOptions())
