"""Each layer's figures in an experiment: tuning plot, and the kernel grid for one stimulus."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from actassert import drawing
from actassert.probe import probe
from actassert.tutorial.analysis import PLOTTED_KERNELS
from actassert.tutorial.design import shape_label

__all__ = ["GRID_TOP", "LayerFigures", "grid_figures", "layer_figures", "preferred_stimulus", "slug"]

GRID_TOP = 32
"""Layers with more kernels show only the ``GRID_TOP`` most active ones in the page."""


@dataclass
class LayerFigures:
    """File names (relative to the report folder) of one layer's figures in one experiment."""

    tuning: str
    grid: str | None
    full_grid: str | None
    stimulus: str
    shown_kernels: list[int]


def slug(layer: str) -> str:
    """A file-name-safe form of a layer name."""
    return layer.replace("#", "-").replace("/", "-")


def preferred_stimulus(stimuli: Any, tuning: Any) -> int:
    """Index of the stimulus at the most selective kernel's preferred value (first such one)."""
    best = int(tuning.selectivity().argmax())
    value = float(tuning.preferred()[best])
    column = stimuli.params[tuning.parameter].double()
    return int(torch.argmin((column - value).abs()))


def grid_figures(maps: Any, layer: str, label: str, out: Path, prefix: str
                 ) -> tuple[str, str | None, list[int]]:
    """The page's grid of ``maps [K, H, W]`` and, for a large layer, the full grid too.

    With more than ``2 * GRID_TOP`` kernels the page grid shows the ``GRID_TOP`` kernels with
    the highest mean response to the stimulus, strongest first, labelled with their ids.
    """
    k = int(maps.shape[0])
    name = f"{prefix}-grid-{slug(layer)}.png"
    if k <= 2 * GRID_TOP:
        drawing.kernel_grid(maps, title=f"{layer}: every kernel's map for {label}",
                            path=out / name)
        return name, None, list(range(k))
    strength = maps.flatten(1).mean(dim=1) if maps.dim() > 1 else maps
    top = [int(i) for i in strength.argsort(descending=True)[:GRID_TOP]]
    digits = max(3, len(str(k - 1)))
    drawing.kernel_grid(maps[top], labels=[f"K={i:0{digits}d}" for i in top],
                        title=f"{layer}: the {GRID_TOP} most active of {k} kernels for {label}",
                        path=out / name)
    full = f"{prefix}-grid-all-{slug(layer)}.png"
    drawing.kernel_grid(maps, title=f"{layer}: all {k} kernels for {label}", path=out / full)
    return name, full, top


def _as_swept(tuning: Any, maps: Any, layer: str) -> Any:
    """The recorded maps read as the sweep read them, kernels on dim 1 (so a channels-last
    layer is not drawn row by row); as recorded when the tuning comes from no sweep."""
    swept = getattr(tuning, "responses", None)
    return maps if swept is None else swept.kernels_first(maps, layer)


def layer_figures(net: Any, stimuli: Any, tunings: dict[str, Any], out: Path,
                  prefix: str) -> dict[str, LayerFigures]:
    """Tuning plot and kernel grid of every layer, for one experiment."""
    picks = {layer: preferred_stimulus(stimuli, t) for layer, t in tunings.items()}
    order = sorted(set(picks.values()))
    acts, _ = probe(net, list(tunings), stimuli.images[order])
    figures: dict[str, LayerFigures] = {}
    for layer, tuning in tunings.items():
        plot = f"{prefix}-tuning-{slug(layer)}.png"
        drawing.tuning_plot(tuning, path=out / plot, max_kernels=PLOTTED_KERNELS)
        label = shape_label(stimuli, picks[layer])
        maps = _as_swept(tuning, acts[layer], layer)[order.index(picks[layer])]
        if maps.dim() not in (1, 3):  # e.g. tokens: no map to draw
            figures[layer] = LayerFigures(plot, None, None, label, [])
            continue
        grid, full, shown = grid_figures(maps, layer, label, out, prefix)
        figures[layer] = LayerFigures(plot, grid, full, label, shown)
    return figures
