"""``run_tutorial``: the experiments, their figures, ``summary.json`` and ``report.html``."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchvision

from actassert import drawing
from actassert._support.progress import Progress
from actassert._support.version import package_version
from actassert.layer_choice import default_layers
from actassert.responsiveness import Responsiveness
from actassert.tutorial.depth_plot import depth_plot
from actassert.tutorial.design import Design, shape_label
from actassert.tutorial.findings import Experiment
from actassert.tutorial.layer_figures import LayerFigures, layer_figures
from actassert.tutorial.measure import control_label, study
from actassert.tutorial.page import write_page
from actassert.tutorial.photos import Photos, photo_section
from actassert.tutorial.references import REFERENCES

__all__ = ["REFERENCES", "Report", "run_tutorial", "versions"]

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
    control: dict[str, Any] = field(default_factory=lambda: {"run": False, "seed": None,
                                                             "note": "no control was asked for"})

    def answers(self) -> list[str]:
        """The three answers (colour, size, orientation), each with what training changed."""
        return [e.answer() for e in self.experiments.values()]

    def lines(self) -> list[str]:
        """A table of both networks per layer and the answers (what the command prints).

        Each cell is ``trained / untrained`` (``-`` where no control was run): the share of all
        kernels that are colour-selective, orientation-selective, size-tuned, and the median
        preferred size beside the layer's theoretical receptive field.
        """
        exps = [self.experiments[k] for k in ("colour", "orientation", "size")]
        rows = [f"{'layer':<22} {'K':>5} {'RF px':>5}  {'colour-sel.':>11} {'orient.-sel.':>12} "
                f"{'size-tuned':>11} {'pref. size px':>13}   (trained / untrained)"]
        for i, c in enumerate(exps[0].layers):
            cells = []
            for e in exps:
                twin = e.control[i] if e.control else None
                cells.append(f"{100 * e.layers[i].fraction:.0f}/"
                             + (f"{100 * twin.fraction:.0f}%" if twin else "-"))
            size, twin = exps[2].layers[i], exps[2].control[i] if exps[2].control else None
            pref = "/".join(f"{r.preferred[1]:.0f}" if r and r.preferred else "-"
                            for r in (size, twin))
            rf = f"{c.receptive_field:.0f}" if c.receptive_field else "-"
            rows.append(f"{c.layer:<22} {c.kernels:>5} {rf:>5}  {cells[0]:>11} {cells[1]:>12} "
                        f"{cells[2]:>11} {pref:>13}")
        if not self.control["run"]:
            rows.append(f"Control not run: {self.control['note']}")
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
            "control": self.control, "references": REFERENCES,
            "criterion": Responsiveness().describe(),
        }


def versions() -> dict[str, str]:
    """Versions of Python, torch, torchvision and actassert."""
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "actassert": package_version()}


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
                 design: Design | None = None, progress: Progress | None = None,
                 control: Any = None, control_seed: int | None = None,
                 control_note: str | None = None) -> Report:
    """Run the colour, size and orientation experiments on ``net`` and write the report.

    Writes into ``out``: the figures, ``summary.json`` (every number of the page) and
    ``report.html``. ``design`` sets the stimuli (default: ``Design(side=net.input_size)``);
    ``layers`` defaults to ``default_layers(net)``; ``progress`` prints each stage.
    ``control`` is the untrained twin (same architecture, random initialisation seeded with
    ``control_seed``): every experiment runs on it too, with the same stimuli and layers, and
    every table, depth plot and answer shows both. Without it, ``control_note`` says why.
    """
    step = progress or Progress(enabled=False)
    design = design or Design(side=int(getattr(net, "input_size", 224) or 224))
    step(f"choosing layers of {getattr(net, 'name', type(net).__name__)}")
    chosen = layers or default_layers(net)
    out.mkdir(parents=True, exist_ok=True)
    label = control_label(control_seed)
    measured, _ = study(net, chosen, design, step, control, label)
    report = Report(getattr(net, "name", type(net).__name__), getattr(net, "weights", None),
                    str(getattr(net, "device", "cpu")), versions(), design, chosen,
                    measured.experiments)
    report.control = ({"run": True, "seed": control_seed, "note": label} if control is not None
                      else {"run": False, "seed": None,
                            "note": control_note or "no control was asked for (--control none)"})
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
