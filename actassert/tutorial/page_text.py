"""The report's fixed prose: how each experiment is measured, notes, and the page's frame."""

from __future__ import annotations

from typing import Any

from actassert.tutorial.findings import longest_run

__all__ = ["HOW_PARAGRAPHS", "NORMALISATION_NOTE", "PAGE_STYLE", "size_comparison"]

HOW_PARAGRAPHS = {
    "colour": (
        "Stimuli: {stimuli}. A kernel's response to a disc is {measure}. Its hue curve (one "
        "mean response per hue) gives the index, {index}: 1 for a kernel answering one hue only, "
        "0 for one answering all hues alike. A kernel counts as colour selective when its index "
        "is at least {min_index:g}. Silent kernels (no positive response, or a peak under 1% of "
        "the layer's median peak) get index 0 and are left out of the index quartiles."),
    "size": (
        "Stimuli: {stimuli}. A kernel's response to a shape is {measure}; the three shapes are "
        "averaged at each size. The index is {index}. A kernel counts as size tuned when it is at "
        "least {min_index:g}; its preferred size is the peak of its curve, and the depth plot "
        "shows the median and quartiles of the tuned kernels' preferred sizes (on log sizes). "
        "The report uses the centre measure because it is the single-unit measurement behind "
        "Cavanaugh, Bair &amp; Movshon's size tuning: one unit at a fixed place, the stimulus "
        "growing around its receptive field. The foreground mean instead averages every position "
        "the shape covers, most of which see its uniform interior rather than an edge, so its "
        "peak says how much of the shape a layer's maps respond to, not what size one unit "
        "prefers."),
    "orientation": (
        "Stimuli: {stimuli}. A kernel's response to a grating is {measure}; the phases are "
        "averaged. At each spatial frequency the orientation curve of each kernel is formed, and "
        "the kernel keeps the frequency where its curve peaks highest (orientation tuning is "
        "measured at a cell's optimal spatial frequency). The index is {index}: 1 for a kernel "
        "answering one orientation only, 0 for one answering all orientations alike. A kernel "
        "counts as orientation selective when its index is at least {min_index:g}."),
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
