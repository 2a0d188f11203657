"""What each experiment found across depth, and its answer in one sentence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from actassert.proportions import Share, fisher_exact
from actassert.tutorial.analysis import LayerResult

__all__ = ["ALPHA", "Experiment", "compare_layers", "longest_run", "trend", "verdict"]

ALPHA = 0.05
"""Two shares differ when Fisher's exact test (two-sided) gives p below this."""
LISTED = 3
"""Layers named in an answer where training changed the share: the largest differences."""


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
        control: the same layers of the untrained twin (empty: no control was run).
        control_alternative: the twin's foreground-mean size results.
        control_label: how the answer names the twin (``untrained twin, seed 0``).
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
    control: list[LayerResult] = field(default_factory=list)
    control_alternative: list[LayerResult] = field(default_factory=list)
    control_label: str = ""

    def _points(self, rows: list[LayerResult]) -> list[tuple[str, float]]:
        if self.key == "size":
            return [(r.layer, r.preferred[1]) for r in rows if r.preferred]
        return [(r.layer, r.fraction) for r in rows]

    def _fmt(self, v: float) -> str:
        return f"{v:.0f} px" if self.key == "size" else f"{100 * v:.0f}%"

    def answer(self) -> str:
        """The experiment's answer across depth, and what training changed, from the numbers."""
        points = self._points(self.layers)
        if self.key == "size":
            if len(points) < 2:
                return "Size: too few layers have size-tuned kernels to compare depths."
            head = ("Size: measured at the map position under the shape's centre, the median "
                    f"preferred size of size-tuned kernels (responsive, peak index >= "
                    f"{self.min_index:g}) ")
        else:
            what = {"colour": "colour-selective", "orientation": "orientation-selective"}[self.key]
            rule = ("responsive, colour answered at least twice grey, hue index" if
                    self.key == "colour" else "responsive, index")
            head = (f"{self.title}: the share of {what} kernels ({rule} >= {self.min_index:g}) ")
        text = head + trend(points, self._fmt) + "."
        if not self.control:
            return text
        twin = self._points(self.control)
        if len(twin) < 2:
            return text + f" The {self.control_label} has too few tuned layers to compare."
        return (text + f" The {self.control_label}: " + trend(twin, self._fmt) + ". "
                + verdict(spearman([v for _, v in points]), spearman([v for _, v in twin]))
                + (" " + compare_layers(self.layers, self.control) if self.key != "size"
                   else ""))


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


def verdict(trained: float, untrained: float) -> str:
    """Whether a trend with depth survives the control: a steady trend (rank correlation of at
    least 0.5 in size) that the untrained twin shares in direction comes from the architecture."""
    if abs(trained) < 0.5:
        return ("The trained network has no steady trend to test against the control"
                + (", while the untrained twin has one." if abs(untrained) >= 0.5 else "."))
    if abs(untrained) >= 0.5 and (trained > 0) == (untrained > 0):
        return ("The untrained twin shows the same trend, so it comes from the architecture, "
                "not from training.")
    return "The trend survives the control: the untrained twin does not show it."


def compare_layers(trained: list[LayerResult], untrained: list[LayerResult]) -> str:
    """Where training changed the share of selective kernels (Fisher's exact test, two-sided)."""
    changed, same = [], []
    for a, b in zip(trained, untrained, strict=True):
        p = fisher_exact(a.selective, a.kernels, b.selective, b.kernels)
        if p < ALPHA:
            changed.append((abs(a.fraction - b.fraction), a, b))
        else:
            same.append(a.layer)
    n = len(trained)
    if not changed:
        return (f"Trained and untrained shares do not differ in any of the {n} layers "
                f"(Fisher's exact test, p >= {ALPHA:g}).")
    shown = sorted(changed, key=lambda c: -c[0])[:LISTED]
    listed = "; ".join(
        f"{a.layer} {Share(a.selective, a.kernels).text()} trained vs "
        f"{Share(b.selective, b.kernels).text()} untrained"
        f" ({'higher' if a.fraction > b.fraction else 'lower'} after training)"
        for _, a, b in shown)
    return (f"Training changes the share in {len(changed)} of {n} layers (Fisher's exact test, "
            f"p < {ALPHA:g}; 95% Wilson intervals), most in {listed}"
            + (f"; no difference in {', '.join(same)}." if same else "."))


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
