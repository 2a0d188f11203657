"""``run_tutorial``: the experiments, their figures, ``summary.json`` and ``report.html``."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchvision

from actassert import __version__, drawing
from actassert.tutorial.depth_plot import depth_plot
from actassert.tutorial.design import Design, shape_label
from actassert.tutorial.findings import Experiment
from actassert.tutorial.layer_figures import LayerFigures, layer_figures
from actassert.tutorial.layers import default_layers
from actassert.tutorial.measure import measure
from actassert.tutorial.page import write_page
from actassert.tutorial.photos import Photos, photo_section
from actassert.tutorial.progress import Progress

__all__ = ["Report", "run_tutorial", "versions"]


@dataclass
class Report:
    """What ``run_tutorial`` found and wrote; ``summary()`` is every number of the page."""

    model: str
    weights: str | None
    device: str
    versions: dict[str, str]
    design: Design
    layers: list[str]
    experiments: dict[str, Experiment]
    figures: dict[str, dict[str, LayerFigures]] = field(default_factory=dict)
    depth_plots: dict[str, str] = field(default_factory=dict)
    strips: dict[str, str] = field(default_factory=dict)
    photos: Photos = field(default_factory=Photos)
    seconds: float = 0.0
    page: Path | None = None

    def answers(self) -> list[str]:
        """The three answers, one sentence each (colour, size, orientation)."""
        return [e.answer() for e in self.experiments.values()]

    def lines(self) -> list[str]:
        """A plain-text table per experiment and the answers (what the command prints)."""
        rows = [f"{'layer':<24} {'K':>5} {'colour-sel.':>11} {'orient.-sel.':>12} "
                f"{'size-tuned':>10} {'pref. size':>10}"]
        colour, size, ori = (self.experiments[k].layers for k in ("colour", "size", "orientation"))
        for c, s, o in zip(colour, size, ori, strict=True):
            pref = f"{s.preferred[1]:.0f} px" if s.preferred else "-"
            rows.append(f"{c.layer:<24} {c.kernels:>5} {100 * c.fraction:>10.0f}% "
                        f"{100 * o.fraction:>11.0f}% {100 * s.fraction:>9.0f}% {pref:>10}")
        return [*rows, *self.answers()]

    def summary(self) -> dict[str, Any]:
        """Every number and sentence of the page, as JSON-ready data."""
        return {
            "model": self.model, "weights": self.weights, "device": self.device,
            "versions": self.versions, "design": asdict(self.design),
            "stimuli": self.design.describe(), "layers": self.layers,
            "experiments": {k: {**asdict(e), "answer": e.answer()}
                            for k, e in self.experiments.items()},
            "figures": {k: {layer: asdict(f) for layer, f in v.items()}
                        for k, v in self.figures.items()},
            "depth_plots": self.depth_plots, "strips": self.strips,
            "photos": asdict(self.photos), "seconds": round(self.seconds, 1),
        }


def versions() -> dict[str, str]:
    """Versions of Python, torch, torchvision and actassert."""
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "actassert": __version__}


def _strips(measured: Any, out: Path) -> dict[str, str]:
    strips = {}
    for key, stimuli in measured.stimuli.items():
        shown = stimuli.where(phase=0.0) if "phase" in stimuli.params else stimuli
        name = f"{key}-stimuli.png"
        drawing.stimulus_strip(shown.images, labels=[shape_label(shown, i)
                                                     for i in range(len(shown))],
                               max_images=len(shown), cell=72, path=out / name)
        strips[key] = name
    return strips


def run_tutorial(net: Any, out: Path, *, layers: list[str] | None = None,
                 design: Design | None = None, progress: Progress | None = None) -> Report:
    """Run the colour, size and orientation experiments on ``net`` and write the report.

    Writes into ``out``: the figures, ``summary.json`` (every number of the page) and
    ``report.html``. ``design`` sets the stimuli (default: ``Design(side=net.input_size)``);
    ``layers`` defaults to ``default_layers(net)``; ``progress`` prints each stage.
    """
    step = progress or Progress(enabled=False)
    design = design or Design(side=int(getattr(net, "input_size", 224) or 224))
    step(f"choosing layers of {getattr(net, 'name', type(net).__name__)}")
    chosen = layers or default_layers(net)
    out.mkdir(parents=True, exist_ok=True)
    measured = measure(net, chosen, design, step)
    report = Report(getattr(net, "name", type(net).__name__), getattr(net, "weights", None),
                    str(getattr(net, "device", "cpu")), versions(), design, chosen,
                    measured.experiments)
    for key, experiment in measured.experiments.items():
        step(f"{key}: figures of {len(chosen)} layers")
        report.figures[key] = layer_figures(net, measured.stimuli[key], measured.tunings[key],
                                            out, key)
        report.depth_plots[key] = depth_plot(experiment, out / f"{key}-depth.png").name
    report.strips = _strips(measured, out)
    step("natural images: top-5 classes and kernel grids")
    report.photos = photo_section(net, chosen, design.side, out)
    step("writing summary.json and report.html")
    report.seconds = step.elapsed()
    (out / "summary.json").write_text(json.dumps(report.summary(), indent=1), encoding="utf-8")
    report.page = write_page(report, out)
    step(f"done: {report.page}")
    return report
