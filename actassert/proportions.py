"""Shares of kernels with their uncertainty: Wilson score intervals and Fisher's exact test."""

from __future__ import annotations

import math

__all__ = ["Share", "fisher_exact", "share_text", "wilson"]

Z95 = 1.959963984540054
"""The normal quantile of a two-sided 95% interval."""


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k / n`` (95% by default).

    The standard interval for a binomial proportion: unlike the normal approximation it stays
    inside [0, 1] and is not empty at 0% or 100%. Kernels of a layer are not independent
    samples, so read it as a descriptive spread, not an exact coverage.

    Example:
        >>> [round(x, 3) for x in wilson(12, 32)]
        [0.229, 0.547]
    """
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(k1: int, n1: int, k2: int, n2: int, alternative: str = "two-sided") -> float:
    """Fisher's exact test of two shares ``k1 / n1`` and ``k2 / n2``: the p-value.

    ``alternative="greater"`` tests share 1 > share 2, ``"less"`` share 1 < share 2,
    ``"two-sided"`` sums every table at most as probable as the observed one (as SciPy does).

    Example:
        >>> round(fisher_exact(12, 32, 32, 32, "less"), 8) < 1e-6
        True
        >>> round(fisher_exact(5, 10, 5, 10), 6)
        1.0
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative={alternative!r} is not 'two-sided', 'greater' or 'less'")
    total, column = n1 + n2, k1 + k2
    low, high = max(0, column - n2), min(column, n1)
    if total == 0 or low == high:
        return 1.0
    base = _log_choose(total, column)

    def pmf(x: int) -> float:
        return math.exp(_log_choose(n1, x) + _log_choose(n2, column - x) - base)

    if alternative == "greater":
        p = sum(pmf(x) for x in range(k1, high + 1))
    elif alternative == "less":
        p = sum(pmf(x) for x in range(low, k1 + 1))
    else:
        observed = pmf(k1) * (1 + 1e-7)
        p = sum(q for q in (pmf(x) for x in range(low, high + 1)) if q <= observed)
    return min(1.0, p)


class Share:
    """``k`` of ``n`` kernels, with its Wilson 95% interval: ``Share(12, 32).text()``.

    Example:
        >>> Share(12, 32).text()
        '38% [23–55]'
    """

    def __init__(self, k: int, n: int) -> None:
        self.k, self.n = int(k), int(n)
        self.value = self.k / self.n if self.n else 0.0
        self.low, self.high = wilson(self.k, self.n)

    def as_list(self) -> list[float]:
        """``[share, low, high]`` (fractions), for JSON."""
        return [self.value, self.low, self.high]

    def text(self) -> str:
        """``38% [23–55]``: the share and its interval in percent."""
        return share_text(self.value, self.low, self.high)


def share_text(value: float, low: float, high: float) -> str:
    """A share and its interval in percent, ``38% [23–55]`` (as :meth:`Share.text` writes it;
    for a share read back from JSON).

    Example:
        >>> share_text(0.375, 0.23, 0.55)
        '38% [23–55]'
    """
    return f"{100 * value:.0f}% [{100 * low:.0f}–{100 * high:.0f}]"
