"""Which kernels respond at all: a criterion on the peak modulation above the blank, relative to the layer."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from actassert.errors import TuningError

__all__ = ["DEFAULT_RESPONSIVENESS", "RESPONSIVE_FLOOR", "RESPONSIVE_FRACTION", "Responsiveness"]

RESPONSIVE_FRACTION = 0.15
"""Default share of the layer's median peak modulation a kernel must exceed (Marques et al. 2021:
about 5 of the median responsive unit's 33.8 spikes/s above the blank)."""
RESPONSIVE_FLOOR = 0.01
"""Default share of the layer's largest peak modulation a kernel must exceed as well."""


@dataclass(frozen=True)
class Responsiveness:
    """A kernel is *responsive* when its peak modulation above the baseline passes both limits.

    The peak modulation is the largest value of the kernel's mean curve minus its baseline (the
    response to the blank background when the sweep recorded one, else 0 for ``rectify="relu"``
    and the curve's minimum for ``rectify="shift"``). It must exceed ``fraction`` times the
    median peak modulation of the layer's kernels that rise above the baseline at all, and
    ``floor`` times the layer's largest peak modulation. "The layer" is every kernel the
    ``Tuning`` was built with, so ``select`` does not change which kernels are responsive.

    This carries Marques, Schrimpf & DiCarlo's criterion (2021, Brain-Score V1 properties,
    ``brainscore_vision/benchmark_helpers/properties_common.py``) over to networks, which have
    no firing rates: they keep a unit when its peak rises more than about 5 spikes/s above the
    blank response, about 15% of the median responsive unit's peak (33.8 spikes/s), and the
    monkey data were filtered the same way. Unresponsive kernels are a class of their own:
    their index is 0 and they are never selective.

    Args:
        fraction: share of the layer's median peak modulation, in [0, 1].
        floor: share of the layer's largest peak modulation, in [0, 1].

    Example:
        >>> import torch
        >>> peaks = torch.tensor([10.0, 8.0, 1.0, 0.0, -1.0])
        >>> Responsiveness().passes(peaks, median=8.0, largest=10.0).tolist()
        [True, True, False, False, False]
    """

    fraction: float = RESPONSIVE_FRACTION
    floor: float = RESPONSIVE_FLOOR

    def __post_init__(self) -> None:
        for name in ("fraction", "floor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise TuningError(f"Responsiveness({name}={value!r}): expected a share in "
                                  f"[0, 1], such as {name}={getattr(Responsiveness, name)}")

    @staticmethod
    def layer_statistics(peaks: Tensor) -> tuple[float, float]:
        """``(median, largest)`` peak modulation of the kernels rising above the baseline."""
        positive = peaks[peaks > 0]
        if len(positive) == 0:
            return 0.0, 0.0
        return float(positive.double().median()), float(positive.max())

    def passes(self, peaks: Tensor, *, median: float, largest: float) -> Tensor:
        """``BoolTensor[K]``: which peak modulations pass, given the layer's statistics."""
        limit = max(self.fraction * median, self.floor * largest)
        return (peaks > limit) & (peaks > 0)

    def describe(self) -> str:
        """The criterion in words, for reports and assertion messages.

        Example:
            >>> Responsiveness().describe()[:59]
            'responsive: peak modulation above the baseline > 15% of the'
        """
        return (f"responsive: peak modulation above the baseline > {self.fraction:.0%} of the "
                f"layer's median peak modulation and > {self.floor:.0%} of its largest "
                "(after Marques et al. 2021)")



DEFAULT_RESPONSIVENESS = Responsiveness()
"""The criterion a ``Tuning`` uses unless told otherwise."""
