"""The three sweeps (colour, size, orientation) with their blank, and per-layer results, without figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from actassert.measures import reduce_maps, sweep
from actassert.receptive_field import receptive_fields
from actassert.tuning import Tuning
from actassert.tutorial.analysis import (
    bandwidth,
    best_frequency_tuning,
    colour_vs_grey,
    layer_result,
    size_measures,
)
from actassert.tutorial.design import Design
from actassert.tutorial.findings import Experiment

__all__ = ["COLOUR_INDEX", "ORIENTATION_INDEX", "SIZE_INDEX", "Measured", "colour_selectivity",
           "control_label", "measure", "stimulus_sets", "study"]

COLOUR_INDEX = ("1 − circular variance of the hue curve over 360 degrees, on the rectified "
                "modulation above the blank (Ringach, Shapley & Hawken 2002, J Neurosci "
                "22:5639), with the colour-versus-grey index 1 − grey / colour (after Rafegas & "
                "Vanrell 2018, Vision Research 151)")
SIZE_INDEX = ("the band-pass peak index 1 − max(r_smallest, r_largest) / r_peak of the size "
              "curve, on the rectified modulation above the blank, 0 for a curve that only grows "
              "or only falls; beside it Cavanaugh's suppression index (r_peak − r_largest) / "
              "r_peak and summation field (the smallest size reaching 95% of the peak) "
              "(Cavanaugh, Bair & Movshon 2002, J Neurophysiol 88:2530)")
ORIENTATION_INDEX = ("1 − circular variance over 180 degrees (orientation angles doubled) of the "
                     "rectified modulation above the blank, at the kernel's preferred spatial "
                     "frequency, phases by their maximum (Ringach, Shapley & Hawken 2002), with "
                     "the half-width at half height as bandwidth")

Step = Callable[[str], None]


@dataclass
class Measured:
    """The experiments and what figures need: stimuli and tunings per experiment and layer."""

    experiments: dict[str, Experiment]
    stimuli: dict[str, Any]
    tunings: dict[str, dict[str, Any]]


def stimulus_sets(design: Design, device: Any = None) -> dict[str, Any]:
    """The three stimulus sets, drawn once and shown to every network of the study."""
    return {"colour": design.colour_set(device), "size": design.shape_set(device),
            "orientation": design.grating_set(device)}


def _centre_and_foreground(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Both size read-outs in one forward: ``[N, 2K]``, the centre first."""
    return torch.cat([reduce_maps(maps, masks, "centre"), reduce_maps(maps, masks, "foreground")],
                     dim=1)


def colour_selectivity(responses: Any, layer: str, design: Design) -> tuple[Any, Any, Any]:
    """One layer's hue tuning (blank-subtracted), colour-versus-grey index and colour-selective
    kernels, from a sweep of ``design.colour_set()`` with ``baseline=True``.

    Colour-selective: responsive, answering its best hue at least ``design.min_colour_ratio``
    times its best grey disc (both above the blank), and hue-tuned (index >= ``min_index``).

    Returns:
        ``(tuning, colour_vs_grey [K], selective BoolTensor[K])``.
    """
    hue_rows = responses.params["saturation"] > 0
    values, base = responses[layer], responses.baseline[layer]
    tuning = Tuning(responses.params["hue"][hue_rows], values[hue_rows], circular=360.0,
                    parameter="hue", layer=layer, baseline=base[hue_rows])
    tuning.responses = responses
    grey = (values[~hue_rows] - base[~hue_rows]).double().amax(dim=0)
    versus = colour_vs_grey(tuning, grey)
    selective = (versus >= 1 - 1 / design.min_colour_ratio) & tuning.selective(design.min_index)
    return tuning, versus, selective


def _colour(responses: Any, layers: list[str], design: Design) -> tuple[dict[str, Any], list[Any]]:
    """Hue tunings and per-layer results with the colour-vs-grey criterion."""
    tunings, rows = {}, []
    for layer in layers:
        tuning, versus, selective = colour_selectivity(responses, layer, design)
        tunings[layer] = tuning
        rows.append(layer_result(tuning, design.min_index, selective=selective,
                                 measures={"colour_vs_grey": versus}))
    return tunings, rows


def _size(responses: Any, layers: list[str], design: Design) -> tuple[dict[str, Any], ...]:
    """Centre and foreground size tunings, and per-layer results of each."""
    out: tuple[dict[str, Any], ...] = ({}, {}, {}, {})
    for layer in layers:
        both, base = responses[layer], responses.baseline[layer]
        k = both.shape[1] // 2
        for part, (tunings, rows) in enumerate(((out[0], out[1]), (out[2], out[3]))):
            cols = slice(part * k, (part + 1) * k)
            tuning = Tuning(responses.params["size"], both[:, cols], scale="log",
                            parameter="size", layer=layer, baseline=base[:, cols])
            tuning.responses = responses
            tunings[layer] = tuning
            rows[layer] = layer_result(tuning, design.min_index, measures=size_measures(tuning))
    return out


def _orientation(responses: Any, layers: list[str], design: Design
                 ) -> tuple[dict[str, Any], list[Any]]:
    tunings, rows = {}, []
    for layer in layers:
        tuning, _ = best_frequency_tuning(responses, layer)
        tuning.responses = responses
        tunings[layer] = tuning
        rows.append(layer_result(tuning, design.min_index, measures={
            "circular_variance": 1 - tuning.selectivity(), "bandwidth": bandwidth(tuning)}))
    return tunings, rows


def measure(net: Any, layers: list[str], design: Design, step: Step,
            sets: dict[str, Any] | None = None, who: str = "") -> Measured:
    """Sweep the three stimulus sets (each with its blank) through ``layers``; summarise.

    Args:
        net: the network.
        layers: recorded layer names, in forward order.
        design: the stimuli.
        step: called with a line before each sweep (progress).
        sets: the stimulus sets (default: drawn from ``design``); a study shows the same sets
            to both networks.
        who: how progress names the network (``"untrained twin: "``).
    """
    sets = sets or stimulus_sets(design, getattr(net, "device", None))
    described = design.describe()
    n_layers = f"{len(layers)} layers"
    step(f"{who}colour: sweeping {len(sets['colour'])} hue and grey discs and the blank "
         f"through {n_layers}")
    colour = sweep(net, sets["colour"], layers, reduce="foreground", baseline=True)
    step(f"{who}size: sweeping {len(sets['size'])} shapes and the blank through {n_layers} "
         "(centre and foreground)")
    size = sweep(net, sets["size"], layers, reduce=_centre_and_foreground, baseline=True)
    step(f"{who}orientation: sweeping {len(sets['orientation'])} gratings and the blank "
         f"through {n_layers}")
    gratings = sweep(net, sets["orientation"], layers, reduce="centre", baseline=True)
    colour_t, colour_rows = _colour(colour, layers, design)
    centre_t, centre_rows, fore_t, fore_rows = _size(size, layers, design)
    orient_t, orient_rows = _orientation(gratings, layers, design)
    m = design.min_index
    experiments = {
        "colour": Experiment("colour", "Colour", "hue", "degrees", described["colour"],
                             "the mean over the disc (sweep reduce='foreground')", COLOUR_INDEX,
                             m, colour_rows),
        "size": Experiment("size", "Size", "size", "px", described["size"],
                           "the response at the map position under the shape's centre (sweep "
                           "reduce='centre'); also the mean over the shape "
                           "(reduce='foreground') for comparison", SIZE_INDEX, m,
                           list(centre_rows.values()), list(fore_rows.values())),
        "orientation": Experiment("orientation", "Orientation", "orientation", "degrees",
                                  described["orientation"], "the response at the map position "
                                  "under the image centre (sweep reduce='centre'), the single "
                                  "unit of physiology", ORIENTATION_INDEX, m, orient_rows),
    }
    tunings = {"colour": colour_t, "size": centre_t, "size-foreground": fore_t,
               "orientation": orient_t}
    return Measured(experiments, sets, tunings)


def control_label(seed: int | None) -> str:
    """How answers name the untrained twin: ``untrained twin (random init, seed 0)``."""
    return f"untrained twin (random init, seed {seed})"


def study(net: Any, layers: list[str], design: Design, step: Step, control: Any = None,
          label: str = "untrained twin") -> tuple[Measured, Measured | None]:
    """Measure ``net`` and, when given, its ``control`` twin on the same stimuli and layers.

    Each experiment of the first gets the twin's results (``control``, ``control_label``), so
    its answer says what training changed. The receptive field of each layer (the same for
    both: one architecture) is added to the size results.

    Returns:
        ``(trained, twin)``: the twin's own ``Measured`` too (None without a control).
    """
    sets = stimulus_sets(design, getattr(net, "device", None))
    trained = measure(net, layers, design, step, sets)
    twin = None if control is None else measure(control, layers, design, step, sets,
                                                "untrained twin: ")
    fields = receptive_fields(net, layers, design.side)
    for key, experiment in trained.experiments.items():
        for rows in (experiment.layers, experiment.alternative):
            for row in rows:
                row.receptive_field = fields.get(row.layer)
        if twin is not None:
            other = twin.experiments[key]
            for row in (*other.layers, *other.alternative):
                row.receptive_field = fields.get(row.layer)
            experiment.control, experiment.control_alternative = other.layers, other.alternative
            experiment.control_label = label
    return trained, twin
