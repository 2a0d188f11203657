"""The tutorial's two systematic experiments (colour and size) on any model, as a report with figures."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ACTIVATIONS", "default_layers", "LayerFinding", "Report", "run_tutorial"]

#: Module types whose outputs are firing-rate-like (non-negative), the natural places to record.
ACTIVATIONS = ("ReLU", "ReLU6", "GELU", "SiLU", "Hardswish", "LeakyReLU", "ELU", "Mish")
MIN_INDEX = 0.3


def default_layers(net: Any, count: int = 6) -> list[str]:
    """``count`` activation layers evenly spread over the forward (first and last included).

    One probe forward of a grey image finds the activation modules in the order they run; a
    module called several times (a ResNet block's ``relu``) counts once, by its last call (the
    block's output after the residual sum). Falls back to every leaf module when the network
    has no activation module.
    """
    import warnings

    import torch

    from actassert.errors import NeverRanWarning
    from actassert.layers import list_layers, root_module
    from actassert.recording import record

    modules = dict(root_module(net).named_modules())
    leaves = list_layers(net, leaves_only=True)
    wanted = [n for n in leaves if type(modules[n]).__name__ in ACTIVATIONS] or leaves
    side = int(getattr(net, "input_size", 224) or 224)
    device = getattr(net, "device", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeverRanWarning)
        with record(net, wanted, register=False, keep_inputs=False, skip_non_tensors=True,
                    reduce=lambda t: t.flatten(1)[:, :1]) as probe:
            probe.run(torch.full((1, 3, side, side), 0.5, device=device))
    last: dict[str, str] = {}
    for key in probe:  # keys in the order the forward produced them
        name = key.split("#")[0]
        last.pop(name, None)
        last[name] = key
    ordered = list(last.values())
    if len(ordered) <= count:
        return ordered
    step = (len(ordered) - 1) / (count - 1)
    return [ordered[round(i * step)] for i in range(count)]


@dataclass
class LayerFinding:
    """One layer's answers: share of colour-selective and size-tuned kernels, preferred size."""

    layer: str
    kernels: int
    colour_fraction: float
    colour_median: float
    size_fraction: float
    preferred_size: float | None


@dataclass
class Report:
    """What ``run_tutorial`` found and wrote."""

    model: str
    findings: list[LayerFinding]
    figures: list[Path] = field(default_factory=list)
    page: Path | None = None

    def lines(self) -> list[str]:
        """The findings as a plain-text table and two answer lines."""
        rows = [f"{'layer':<24} {'K':>5} {'colour-selective':>17} {'size-tuned':>11} "
                f"{'preferred size':>15}"]
        for f in self.findings:
            size = f"{f.preferred_size:.0f} px" if f.preferred_size is not None else "-"
            rows.append(f"{f.layer:<24} {f.kernels:>5} {100 * f.colour_fraction:>16.0f}% "
                        f"{100 * f.size_fraction:>10.0f}% {size:>15}")
        return [*rows, self.colour_answer(), self.size_answer()]

    def colour_answer(self) -> str:
        """Are colour-selective kernels more common early or deep?"""
        half = max(1, len(self.findings) // 2)
        early = sum(f.colour_fraction for f in self.findings[:half]) / half
        late = sum(f.colour_fraction for f in self.findings[half:]) / max(1, len(self.findings) - half)
        low = min(self.findings, key=lambda f: f.colour_fraction)
        high = max(self.findings, key=lambda f: f.colour_fraction)
        where = "the first" if early > late else "the second"
        return (f"Colour: on average {100 * early:.0f}% of kernels are colour selective (index >= "
                f"{MIN_INDEX}) in the first half of these layers and {100 * late:.0f}% in the second: "
                f"more common in {where} half; fewest in {low.layer} "
                f"({100 * low.colour_fraction:.0f}%), most in {high.layer} "
                f"({100 * high.colour_fraction:.0f}%).")

    def size_answer(self) -> str:
        """Do kernels prefer a size, and does it change with depth?"""
        tuned = [f for f in self.findings if f.preferred_size is not None]
        if len(tuned) < 2:
            return "Size: too few size-tuned kernels to compare depths."
        a, b = tuned[0], tuned[-1]
        first, last = a.preferred_size or 0.0, b.preferred_size or 0.0
        trend = "grows" if last > first else "does not grow"
        return (f"Size: the median preferred size of size-tuned kernels {trend} with depth, from "
                f"{first:.0f} px in {a.layer} to {last:.0f} px in {b.layer}.")


def run_tutorial(net: Any, out: Path, *, layers: list[str] | None = None, hues: int = 24,
                 image_size: int | None = None) -> Report:
    """Run the colour and size experiments on ``net``, write figures and ``report.html`` in ``out``.

    Colour: discs of ``hues`` hues as bright as the grey background (``luminance="matched"``),
    response = mean over the disc; a kernel is colour selective when 1 − circular variance
    >= 0.3. Size: white circles, squares and triangles in half-octave sizes from 1/28 of the image
    to 0.8 of it; a kernel is size tuned when its peak index >= 0.3.
    """
    import torch

    from actassert import drawing
    from actassert.measures import sweep
    from actassert.recording import record
    from actassert.stimuli import hue_disc, shapes

    side = int(image_size or getattr(net, "input_size", 224) or 224)
    chosen = layers or default_layers(net)
    device = getattr(net, "device", None)
    out.mkdir(parents=True, exist_ok=True)
    discs = hue_disc(torch.arange(hues) * (360.0 / hues), size=side, radius=0.25,
                     luminance="matched", device=device)
    smallest = max(4.0, side / 28)
    sizes = [float(round(smallest * 2 ** (i / 2))) for i in range(20)
             if smallest * 2 ** (i / 2) <= 0.8 * side]
    forms = shapes(["circle", "square", "triangle"], sizes, colour=1.0, background=0.5, size=side,
                   device=device)
    colour = sweep(net, discs, chosen, reduce="foreground")
    size = sweep(net, forms, chosen, reduce="foreground")
    findings: list[LayerFinding] = []
    figures: list[Path] = [out / "hues.png", out / "shapes.png"]
    drawing.stimulus_strip(discs.images, labels=discs.params, path=figures[0])
    drawing.stimulus_strip(forms.images, labels=forms.params, path=figures[1])
    with record(net, chosen, register=False, keep_inputs=False) as maps:
        maps.run(discs.images[:1])
    for key in colour:
        hue_tuning = colour.tuning("hue", key)
        size_tuning = size.tuning("size", key, scale="log")
        tuned = (size_tuning.selectivity() >= MIN_INDEX) & ~size_tuning.silent()
        preferred = size_tuning.preferred()[tuned]
        findings.append(LayerFinding(
            key, hue_tuning.kernels, hue_tuning.fraction_selective(MIN_INDEX),
            hue_tuning.median_index(), float(tuned.float().mean()),
            float(preferred.log().median().exp()) if tuned.any() else None))
        slug = key.replace("#", "-")
        for kind, tuning in (("hue", hue_tuning), ("size", size_tuning)):
            path = out / f"{kind}-tuning-{slug}.png"
            drawing.tuning_plot(tuning, path=path, max_kernels=8)
            figures.append(path)
        if key in maps and maps[key].dim() in (2, 4):
            path = out / f"grid-{slug}.png"
            drawing.kernel_grid(maps[key][0], title=f"{key}, {discs.label(0)}", path=path)
            figures.append(path)
    report = Report(getattr(net, "name", type(net).__name__), findings, figures)
    report.page = _write_page(report, out)
    return report


def _write_page(report: Report, out: Path) -> Path:
    rows = "\n".join(html.escape(line) for line in report.lines()[:-2])
    figures = "".join(f'<figure><a href="{html.escape(p.name)}"><img src="{html.escape(p.name)}" '
                      f'alt="{html.escape(p.name)}"></a><figcaption>{html.escape(p.name)}'
                      "</figcaption></figure>" for p in report.figures)
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>actassert '
            f"tutorial: {html.escape(report.model)}</title><style>body{{font-family:system-ui,"
            "sans-serif;margin:1.5rem}figure{display:inline-block;margin:.3rem;vertical-align:top}"
            "img{max-width:420px;border:1px solid #ccc}figcaption{font-size:.75rem}</style>"
            f"</head><body><h1>Activation maps of {html.escape(report.model)}</h1>"
            f"<p>{html.escape(report.colour_answer())}</p><p>{html.escape(report.size_answer())}</p>"
            f"<pre>{rows}</pre>{figures}</body></html>")
    target = out / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
