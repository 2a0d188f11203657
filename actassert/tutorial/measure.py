"""The three sweeps (colour, size, orientation) and their per-layer results, without figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actassert.tutorial.analysis import best_frequency_tuning, layer_result
from actassert.tutorial.design import Design
from actassert.tutorial.findings import Experiment

__all__ = ["Measured", "measure", "COLOUR_INDEX", "SIZE_INDEX", "ORIENTATION_INDEX"]

COLOUR_INDEX = ("1 − circular variance of the rectified hue curve over 360 degrees "
                "(Ringach, Shapley & Hawken 2002, J Neurosci 22:5639)")
SIZE_INDEX = ("the band-pass peak index 1 − max(r_smallest, r_largest) / r_peak of the size "
              "curve, 0 for a curve that only grows or only falls (after Cavanaugh, Bair & "
              "Movshon 2002, J Neurophysiol 88:2530)")
ORIENTATION_INDEX = ("1 − circular variance over 180 degrees (orientation angles doubled) of the "
                     "rectified orientation curve at the kernel's preferred spatial frequency "
                     "(Ringach, Shapley & Hawken 2002)")

Step = Callable[[str], None]


@dataclass
class Measured:
    """The experiments and what figures need: stimuli and tunings per experiment and layer."""

    experiments: dict[str, Experiment]
    stimuli: dict[str, Any]
    tunings: dict[str, dict[str, Any]]


def measure(net: Any, layers: list[str], design: Design, step: Step) -> Measured:
    """Sweep the three stimulus sets through ``layers`` and summarise every layer.

    Args:
        net: the network.
        layers: recorded layer names, in forward order.
        design: the stimuli.
        step: called with a line before each sweep (progress).
    """
    from actassert.measures import sweep

    device = getattr(net, "device", None)
    sets = {"colour": design.hue_discs(device), "size": design.shape_set(device),
            "orientation": design.grating_set(device)}
    described = design.describe()
    n_layers = f"{len(layers)} layers"
    step(f"colour: sweeping {len(sets['colour'])} hue discs through {n_layers}")
    colour = sweep(net, sets["colour"], layers, reduce="foreground")
    step(f"size: sweeping {len(sets['size'])} shapes through {n_layers} (centre and foreground)")
    centre = sweep(net, sets["size"], layers, reduce="centre")
    foreground = sweep(net, sets["size"], layers, reduce="foreground")
    step(f"orientation: sweeping {len(sets['orientation'])} gratings through {n_layers}")
    gratings = sweep(net, sets["orientation"], layers, reduce="mean")
    tunings: dict[str, dict[str, Any]] = {
        "colour": {k: colour.tuning("hue", k) for k in colour},
        "size": {k: centre.tuning("size", k, scale="log") for k in centre},
        "size-foreground": {k: foreground.tuning("size", k, scale="log") for k in foreground},
        "orientation": {k: best_frequency_tuning(gratings, k)[0] for k in gratings},
    }
    m = design.min_index

    def results(name: str) -> list[Any]:
        return [layer_result(t, m) for t in tunings[name].values()]

    experiments = {
        "colour": Experiment("colour", "Colour", "hue", "degrees", described["colour"],
                             "the mean over the disc (sweep reduce='foreground')", COLOUR_INDEX,
                             m, results("colour")),
        "size": Experiment("size", "Size", "size", "px", described["size"],
                           "the response at the map position under the shape's centre (sweep "
                           "reduce='centre'); also the mean over the shape "
                           "(reduce='foreground') for comparison", SIZE_INDEX, m,
                           results("size"), results("size-foreground")),
        "orientation": Experiment("orientation", "Orientation", "orientation", "degrees",
                                  described["orientation"], "the mean over the whole map "
                                  "(sweep reduce='mean'; the gratings fill the image)",
                                  ORIENTATION_INDEX, m, results("orientation")),
    }
    return Measured(experiments, sets, tunings)
