"""Paired, interleaved timing: the ratio of two functions' run times, robust to drift.

One place for the method every benchmark of actassert uses (:func:`actassert.bench.overhead`,
``scripts/bench_targets.py``, ``scripts/bench_table.py``): A and B run back to back, their order
flipped every round, and each round gives one ratio B/A; slow drift of a shared machine scales
both and cancels. The median of the ratios is reported with its quartiles (how much single rounds
vary) and a distribution-free 95% confidence interval of the median itself (how well the median
is known), which narrows as rounds are added. ``precision`` keeps adding rounds until that
interval is narrow enough, so a small overhead can be told apart from noise.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["PairedRatio", "paired_ratio", "median_interval", "perf_timer", "timer_for"]

Timer = Callable[[Callable[[], Any]], float]


def perf_timer(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes, by ``time.perf_counter`` (CPU work)."""
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def timer_for(device: Any) -> Timer:
    """The timer for work on ``device``: CUDA events around the call (after a synchronise, so
    queued work is not billed to it) on a GPU, :func:`perf_timer` elsewhere."""
    if not str(getattr(device, "type", device)).startswith("cuda"):
        return perf_timer
    def on_gpu(fn: Callable[[], Any]) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize(device)
        return float(start.elapsed_time(end)) / 1e3
    return on_gpu


def median_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval of the median, from order statistics.

    The rank bounds come from the binomial(n, 1/2) distribution of how many values fall below the
    true median (normal approximation, with continuity correction), so no assumption is made about
    the shape of the timing noise. With 8 values or fewer it is the full range of the values.

    Example:
        >>> median_interval([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
        (2.0, 9.0)
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median_interval needs at least one value")
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * math.sqrt(n) / 2 + 0.5
    lower = max(0, math.floor(n / 2 - half))
    upper = min(n - 1, math.ceil(n / 2 + half) - 1)
    return ordered[lower], ordered[upper]


@dataclass(frozen=True)
class PairedRatio:
    """The ratio of B's run time to A's, from paired rounds.

    Attributes:
        ratio: the median of the per-round ratios B/A.
        low: the lower quartile of the per-round ratios.
        high: the upper quartile.
        ci_low: the lower end of the 95% confidence interval of the median.
        ci_high: the upper end.
        rounds: how many A/B pairs were timed.
        a_seconds: the median time of A, seconds.
        b_seconds: the median time of B, seconds.
    """

    ratio: float
    low: float
    high: float
    ci_low: float
    ci_high: float
    rounds: int
    a_seconds: float
    b_seconds: float

    @property
    def ci_half_width(self) -> float:
        """Half the width of the confidence interval: how well the median is known."""
        return (self.ci_high - self.ci_low) / 2

    def __str__(self) -> str:
        return (f"{self.ratio:.3f}x (95% CI {self.ci_low:.3f}-{self.ci_high:.3f}, quartiles "
                f"{self.low:.3f}-{self.high:.3f}, {self.rounds} paired rounds)")


def summarise(ratios: list[float], a: list[float], b: list[float]) -> PairedRatio:
    """The :class:`PairedRatio` of per-round ratios B/A and the times of A and B."""
    if len(ratios) > 1:
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    else:
        q1 = q3 = ratios[0]
    ci_low, ci_high = median_interval(ratios)
    return PairedRatio(statistics.median(ratios), q1, q3, ci_low, ci_high, len(ratios),
                       statistics.median(a), statistics.median(b))


def paired_ratio(a: Callable[[], Any], b: Callable[[], Any], *, rounds: int = 20,
                 warmup: int = 2, timer: Timer = perf_timer, precision: float | None = None,
                 max_rounds: int | None = None) -> PairedRatio:
    """Time ``b`` against ``a`` in alternating pairs (A B, B A, A B, ...).

    Args:
        a: the baseline, a zero-argument function.
        b: the candidate.
        rounds: timed pairs; with ``precision``, the minimum.
        warmup: untimed pairs first (allocator, caches, lazy initialisation, cuDNN autotuning).
        timer: seconds one call takes (:func:`perf_timer`, or CUDA events on a GPU).
        precision: if given, keep timing pairs until the 95% confidence interval of the median
            ratio is at most ``± precision`` wide, or ``max_rounds`` is reached.
        max_rounds: the most pairs ``precision`` may take (default: 10 times ``rounds``).

    Returns:
        The median ratio B/A with its quartiles and confidence interval.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r} must be a positive int")
    if precision is not None and not precision > 0:
        raise ValueError(f"precision={precision!r} must be a positive number, e.g. 0.01")
    limit = rounds if precision is None else (max_rounds or 10 * rounds)
    for _ in range(warmup):
        a(), b()
    ratios: list[float] = []
    a_times: list[float] = []
    b_times: list[float] = []
    while len(ratios) < limit:
        flipped = len(ratios) % 2 == 1
        if flipped:
            tb, ta = timer(b), timer(a)
        else:
            ta, tb = timer(a), timer(b)
        a_times.append(ta)
        b_times.append(tb)
        ratios.append(tb / ta)
        if len(ratios) >= rounds and (precision is None or summarise(
                ratios, a_times, b_times).ci_half_width <= precision):
            break
    return summarise(ratios, a_times, b_times)
