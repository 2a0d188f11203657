"""The answer against depth: share of selective kernels and a median with its quartiles, per layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actassert.tutorial.analysis import LayerResult
from actassert.tutorial.findings import Experiment

__all__ = ["depth_plot"]


def _series(ax: Any, results: list[LayerResult], label: str, style: str,
            value: str) -> None:
    xs = list(range(len(results)))
    if value == "fraction":
        ax.plot(xs, [100 * r.fraction for r in results], style, label=label, lw=1.5, ms=5)
        return
    pts: list[tuple[int, list[float]]] = []
    for i, r in zip(xs, results, strict=True):
        q = r.preferred if value == "preferred" else r.index
        if q is not None:
            pts.append((i, q))
    if not pts:
        return
    x = [p[0] for p in pts]
    med = [p[1][1] for p in pts]
    low = [p[1][1] - p[1][0] for p in pts]
    high = [p[1][2] - p[1][1] for p in pts]
    ax.errorbar(x, med, yerr=[low, high], fmt=style, capsize=3, lw=1.5, ms=5,
                label=f"{label}: median, bars 25%..75%")


def depth_plot(experiment: Experiment, path: Path) -> Path:
    """Two panels against the layers in forward order: share of selective kernels (%), and the
    median (with quartiles) of the preferred size for ``size`` or of the index otherwise."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=100, layout="constrained")
    share, spread = fig.subplots(1, 2)
    runs = [(experiment.layers, "centre" if experiment.alternative else experiment.title, "o-")]
    if experiment.alternative:
        runs.append((experiment.alternative, "foreground mean", "s--"))
    second = "preferred" if experiment.key == "size" else "index"
    for results, label, style in runs:
        _series(share, results, label, style, "fraction")
        _series(spread, results, label, style, second)
    share.set_ylabel(f"selective kernels (%), index >= {experiment.min_index:g}")
    share.set_ylim(0, 100)
    if second == "preferred":
        spread.set_yscale("log")
        ticks = [4, 8, 16, 32, 64, 128, 256]
        spread.set_yticks(ticks, [str(t) for t in ticks])
        spread.set_yticks([], minor=True)
        spread.set_ylabel(f"preferred {experiment.parameter} of selective kernels (px)")
    else:
        spread.set_ylabel("selectivity index of responding kernels")
        spread.set_ylim(0, 1)
    names = [r.layer for r in experiment.layers]
    for ax in (share, spread):
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_xlabel("layer, in forward order (input side left)")
        ax.grid(alpha=0.3)
        if ax is spread or len(runs) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(f"{experiment.title} across depth", fontsize=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
