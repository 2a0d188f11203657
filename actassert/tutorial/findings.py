"""What each experiment found across depth, and its answer in one sentence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from actassert.tutorial.analysis import LayerResult

__all__ = ["Experiment", "trend", "longest_run"]


@dataclass
class Experiment:
    """One experiment over every studied layer.

    Attributes:
        key: ``colour``, ``size`` or ``orientation``.
        title: the section heading.
        parameter: the swept stimulus parameter (``hue``).
        unit: its unit (``degrees``, ``px``).
        stimuli: the stimuli and their parameters, one line.
        measure: how a map becomes one number (the ``sweep`` reduction).
        index: the selectivity index, with its reference.
        min_index: selective means index >= this.
        layers: per-layer results, in forward order.
        alternative: for size, the same layers measured with the foreground mean.
    """

    key: str
    title: str
    parameter: str
    unit: str
    stimuli: str
    measure: str
    index: str
    min_index: float
    layers: list[LayerResult]
    alternative: list[LayerResult] = field(default_factory=list)

    def answer(self) -> str:
        """The experiment's answer across depth, in one sentence."""
        if self.key == "size":
            points = [(r.layer, r.preferred[1]) for r in self.layers if r.preferred]
            if len(points) < 2:
                return "Size: too few layers have size-tuned kernels to compare depths."
            return ("Size: measured at the map position under the shape's centre, the median "
                    f"preferred size of size-tuned kernels (peak index >= {self.min_index:g}) "
                    + trend(points, lambda v: f"{v:.0f} px") + ".")
        what = {"colour": "colour-selective", "orientation": "orientation-selective"}[self.key]
        points = [(r.layer, r.fraction) for r in self.layers]
        return (f"{self.title}: the share of {what} kernels (index >= {self.min_index:g}) "
                + trend(points, lambda v: f"{100 * v:.0f}%") + ".")


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(values: Sequence[float]) -> float:
    """Spearman's rank correlation of ``values`` with their position (depth); 0 if constant."""
    n = len(values)
    a, b = _ranks(list(range(n))), _ranks(values)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    sa = sum((x - ma) ** 2 for x in a) ** 0.5
    sb = sum((y - mb) ** 2 for y in b) ** 0.5
    return cov / (sa * sb) if sa > 0 and sb > 0 else 0.0


def trend(points: Sequence[tuple[str, float]], fmt: Callable[[float], str]) -> str:
    """``rises with depth (rank correlation 0.71): 16 px in a, 45 px in d; lowest ..., highest ...``.

    "Rises" / "falls" need a rank correlation with depth of at least 0.5 in size. Otherwise,
    an inner lowest (highest) value that both ends exceed by half (fall short of by a third)
    is "falls, then rises again" ("rises, then falls again"); else there is no steady trend.
    """
    rho = spearman([v for _, v in points])
    (first, a), (last, b) = points[0], points[-1]
    lo = min(points, key=lambda p: p[1])
    hi = max(points, key=lambda p: p[1])
    word = ("rises with depth" if rho >= 0.5 else "falls with depth" if rho <= -0.5
            else "shows no steady trend with depth")
    inner = points[1:-1]
    if abs(rho) < 0.5 and lo in inner and min(a, b) >= 1.5 * lo[1]:
        word = "falls, then rises again with depth"
    elif abs(rho) < 0.5 and hi in inner and max(a, b) <= hi[1] / 1.5:
        word = "rises, then falls again with depth"
    return (f"{word} (rank correlation {rho:+.2f}): {fmt(a)} in {first} and {fmt(b)} in {last}; "
            f"lowest {fmt(lo[1])} in {lo[0]}, highest {fmt(hi[1])} in {hi[0]}")


def longest_run(values: Sequence[float | None]) -> int:
    """The most consecutive equal, non-missing values (a plateau across layers)."""
    best = run = 0
    previous: float | None = None
    for v in values:
        run = run + 1 if v is not None and previous is not None and v == previous else (
            1 if v is not None else 0)
        previous = v
        best = max(best, run)
    return best
