"""The answer against depth, for the trained network and its untrained twin: the share of selective
kernels with its 95% interval, and a median with its quartiles, per layer; macaque references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actassert.tutorial.analysis import LayerResult
from actassert.tutorial.findings import Experiment
from actassert.tutorial.references import REFERENCE_LINES

__all__ = ["depth_plot"]



def _shares(ax: Any, results: list[LayerResult], label: str, style: str) -> None:
    xs = list(range(len(results)))
    mid, low, high = [], [], []
    for r in results:
        p, lo, hi = r.shares.get("selective") or [r.fraction, r.fraction, r.fraction]
        mid.append(100 * p)
        low.append(100 * (p - lo))
        high.append(100 * (hi - p))
    ax.errorbar(xs, mid, yerr=[low, high], fmt=style, capsize=3, lw=1.5, ms=5,
                label=f"{label}: selective of all, bars 95% Wilson")


def _spread(ax: Any, results: list[LayerResult], label: str, style: str, value: str) -> None:
    pts: list[tuple[int, list[float]]] = []
    for i, r in enumerate(results):
        q = r.preferred if value == "preferred" else r.index
        if q is not None:
            pts.append((i, q))
    if not pts:
        return
    med = [q[1] for _, q in pts]
    ax.errorbar([i for i, _ in pts], med, yerr=[[q[1] - q[0] for _, q in pts],
                                                [q[2] - q[1] for _, q in pts]],
                fmt=style, capsize=3, lw=1.5, ms=5, label=f"{label}: median, bars 25%..75%")


def _runs(experiment: Experiment) -> list[tuple[list[LayerResult], str, str]]:
    runs = [(experiment.layers, "trained" + (", centre" if experiment.alternative else ""), "o-")]
    if experiment.control:
        runs.append((experiment.control, "untrained twin" + (
            ", centre" if experiment.alternative else ""), "s--"))
    return runs


def _size_axis(ax: Any, experiment: Experiment) -> None:
    ax.set_yscale("log")
    fields = [(i, r.receptive_field) for i, r in enumerate(experiment.layers) if r.receptive_field]
    if fields:
        ax.plot([i for i, _ in fields], [f for _, f in fields], "k:", lw=1,
                label="theoretical receptive field (px)")
    ticks = [4, 8, 16, 32, 64, 128, 256, 512]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.set_yticks([], minor=True)
    ax.set_ylabel(f"preferred {experiment.parameter} of size-tuned kernels (px)")


def depth_plot(experiment: Experiment, path: Path) -> Path:
    """Two panels against the layers in forward order, both networks on each: the share of
    selective kernels (%, with its 95% interval), and the median (with quartiles) of the
    preferred size for ``size`` or of the index otherwise, with the macaque reference."""
    from matplotlib.figure import Figure  # matplotlib: slow to import

    fig = Figure(figsize=(11, 4.4), dpi=100, layout="constrained")
    share, spread = fig.subplots(1, 2)
    second = "preferred" if experiment.key == "size" else "index"
    for results, label, style in _runs(experiment):
        _shares(share, results, label, style)
        _spread(spread, results, label, style, second)
    share.set_ylabel("selective kernels (% of all)")
    share.set_ylim(0, 100)
    if second == "preferred":
        _size_axis(spread, experiment)
    else:
        spread.set_ylabel("selectivity index of responsive kernels")
        spread.set_ylim(0, 1)
    if experiment.key in REFERENCE_LINES:
        level, text = REFERENCE_LINES[experiment.key]
        text = text.format(level)
        spread.axhline(level, color="tab:green", lw=1, ls="-.", label=text)
    names = [r.layer for r in experiment.layers]
    for ax in (share, spread):
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_xlabel("layer, in forward order (input side left)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{experiment.title} across depth: trained vs untrained twin", fontsize=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
