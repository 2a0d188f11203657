"""The report's fixed prose: how each experiment is measured, notes, and the page's frame."""

from __future__ import annotations

from typing import Any

from actassert.tutorial.findings import longest_run

__all__ = ["BASELINE_AND_CRITERION", "HOW_PARAGRAPHS", "NORMALISATION_NOTE", "PAGE_STYLE", "size_comparison"]

BASELINE_AND_CRITERION = (
    "Baseline: each kernel's response to the blank, the set's own mid-grey background with no "
    "stimulus, read out in the same place and the same way; every curve is the modulation "
    "above it (as Ringach 2002 and Cavanaugh 2002 compute on responses above the spontaneous "
    "rate). Responsiveness criterion: {criterion}; unresponsive kernels are a class of their "
    "own, never selective, and the silent ones (never above the blank) are counted apart. The "
    "tables give three shares per network, each with its 95% Wilson score interval over "
    "kernels: responsive of all, selective of responsive, selective of all. ")

HOW_PARAGRAPHS = {
    "colour": (
        "Stimuli: {stimuli}. A kernel's response to a disc is {measure}. " + BASELINE_AND_CRITERION
        + "Index: {index}. The hue index is 1 for a kernel answering one hue only, 0 for one "
        "answering all hues alike; the colour-versus-grey index compares the best hue with the "
        "best achromatic disc (the light and dark grey discs; the background is the grey of the "
        "discs' own luma). A kernel counts as colour selective when it is responsive, answers "
        "colour at least twice as much as grey (colour-versus-grey index >= 0.5) and its hue "
        "index is at least {min_index:g}."),
    "size": (
        "Stimuli: {stimuli}. A kernel's response to a shape is {measure}; the three shapes are "
        "averaged at each size. " + BASELINE_AND_CRITERION + "Index: {index}. A kernel counts "
        "as size tuned when it is responsive and its peak index is at least {min_index:g}; its "
        "preferred size is the peak of its curve, and the depth plot shows the median and "
        "quartiles of the tuned kernels' preferred sizes (on log sizes) beside the layer's "
        "theoretical receptive field, computed from the kernel sizes, strides and dilations of "
        "the forward (a preferred size larger than it is flagged). The report uses the centre "
        "measure because it is the single-unit measurement behind Cavanaugh, Bair &amp; "
        "Movshon's size tuning: one unit at a fixed place, the stimulus growing around its "
        "receptive field. The foreground mean instead averages every position the shape "
        "covers, so its peak says how much of the shape a layer's maps respond to, not what "
        "size one unit prefers."),
    "orientation": (
        "Stimuli: {stimuli}. A kernel's response to a grating is {measure}; at each orientation "
        "and spatial frequency it keeps its largest response over the phases (the phase "
        "maximum), so a simple-cell-like kernel, which answers one phase and not its opposite, "
        "is not averaged away. " + BASELINE_AND_CRITERION + "At each spatial frequency the "
        "orientation curve of each kernel is formed, and the kernel keeps the frequency where "
        "its curve rises highest above the blank (orientation tuning is measured at a cell's "
        "optimal spatial frequency). Index: {index}: 1 for a kernel answering one orientation "
        "only, 0 for one answering all alike. A kernel counts as orientation selective when it "
        "is responsive and its index is at least {min_index:g}."),
}

NORMALISATION_NOTE = (
    "The photos come with scikit-image (<code>skimage.data</code>) and are resized to the "
    "network's input size by squashing, as the tutorial's <code>Resize((224, 224))</code> does. "
    "The tutorial inverts the normalisation (multiplying by std and adding the mean) to show "
    "the tensors it feeds the network, a good check that what the network sees is right. Here "
    "<code>Network</code> normalises inside its forward, so the images below are exactly the "
    "[0, 1] tensors passed to it, and nothing needs inverting.")


def _medians(rows: list[dict[str, Any]]) -> list[float | None]:
    return [round(r["preferred"][1]) if r["preferred"] else None for r in rows]


def size_comparison(exp: dict[str, Any]) -> str:
    """How the two size measures compare, and whether a plateau is a finding."""
    centre, foreground = _medians(exp["layers"]), _medians(exp["alternative"])

    def listed(values: list[float | None]) -> str:
        return ", ".join("–" if v is None else f"{v:g}" for v in values)

    run_c, run_f = longest_run(centre), longest_run(foreground)
    text = (f"Median preferred size by layer, in px: at the centre {listed(centre)}; with the "
            f"foreground mean {listed(foreground)}. Sizes are sampled on a grid (see the stimuli "
            "above), so a median lands on a sampled size or between two. ")
    if run_f >= 3 and run_c < run_f:
        return text + (f"The foreground mean gives {run_f} consecutive layers the same median, "
                       f"the centre measure at most {run_c}: that plateau comes from the "
                       "foreground mean and is not a finding of this report.")
    if run_c >= 3:
        return text + (f"Both measures give {run_c} or more consecutive layers the same median "
                       "size.")
    return text + "Neither measure gives three consecutive layers the same median size."


PAGE_STYLE = """body { margin: 1.5rem auto; max-width: 1250px; line-height: 1.4; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.3rem; border-bottom: 2px solid #ccc; }
h3 { font-size: 1.05rem; margin-bottom: .3rem; } h4 { margin-bottom: .2rem; }
section.layer { border-top: 1px solid #ddd; margin-top: 1rem; }
.answer, ul.answers li { font-weight: 600; }
table { border-collapse: collapse; font-size: .82rem; margin: .4rem 0; }
td, th { border: 1px solid #ccc; padding: .15rem .4rem; text-align: left; vertical-align: top; }
table.small { display: inline-table; margin-right: 1rem; }
figure img { max-width: 560px; }
figure.wide img { max-width: 100%; }
figcaption { font-size: .78rem; color: #444; max-width: 900px; }
"""
