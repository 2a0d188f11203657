"""Tolerances of activation regression checks: defaults per device and dtype, per-layer overrides.

A value passes when ``|obtained - expected| <= atol + rtol * scale``. The scale is the layer's
range (the largest ``|min|`` or ``|max|`` of any kernel in the golden) for values, and 1 for the
share of positive positions, so ``rtol`` reads as "a fraction of the layer's range" and a
kernel whose mean sits near 0 is not held to a tighter bound than its neighbours.

The share of positive positions also allows :data:`~actassert.golden.compare.SIGN_FLIPS` values
per kernel to change sign: values within rounding of 0 do, with the thread count.

The CPU defaults come from ``python scripts/golden_tolerances.py`` (README, "Regression
checks"): 1 vs 2 threads and batch 1 vs 4, in float32 and bfloat16, on ImageNet MobileNetV2;
each sits above the largest relative difference seen for its dtype.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from actassert.errors import GoldenError, closest

__all__ = ["Tolerance", "DEFAULT_TOLERANCES", "tolerance_for", "choose_tolerance",
           "layer_tolerances"]


class Tolerance(NamedTuple):
    """``rtol`` (a fraction of the layer's range) and ``atol`` (absolute)."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


#: (device type, dtype) -> the default pair. CPU float32: 57x above the largest difference
#: measured (1.75e-6 of a layer's range, 1 vs 2 threads) and 20x below what adding 1e-2 to one
#: weight of MobileNetV2's features.5 moves (2.2e-3). CPU bfloat16 measured no difference
#: between threads or batch sizes; its pair allows for other CPUs rounding accumulations
#: differently (one bfloat16 step is 0.4%). CUDA and float16 pairs are set from the formats'
#: precision (TF32 convolutions keep 10 mantissa bits), not measured on a GPU here: override
#: them with ``default_tolerance=`` where yours differ.
DEFAULT_TOLERANCES: dict[tuple[str, str], Tolerance] = {
    ("cpu", "float64"): Tolerance(1e-9, 1e-12),
    ("cpu", "float32"): Tolerance(1e-4, 1e-6),
    ("cpu", "bfloat16"): Tolerance(0.1, 1e-3),
    ("cpu", "float16"): Tolerance(0.05, 1e-4),
    ("cuda", "float64"): Tolerance(1e-9, 1e-12),
    ("cuda", "float32"): Tolerance(0.01, 1e-5),
    ("cuda", "bfloat16"): Tolerance(0.1, 1e-3),
    ("cuda", "float16"): Tolerance(0.05, 1e-4),
}
_FALLBACK = Tolerance(0.1, 1e-3)  # devices and dtypes without a measured pair (mps, int8)


def tolerance_for(device: str, dtype: str) -> Tolerance:
    """The default pair for a device (``"cuda:1"`` counts as ``"cuda"``) and dtype name.

    Example:
        >>> tolerance_for("cuda:1", "float16")
        Tolerance(rtol=0.05, atol=0.0001)
    """
    kind = str(device).split(":")[0]
    return DEFAULT_TOLERANCES.get((kind, str(dtype).replace("torch.", "")), _FALLBACK)


def _parse(given: Any, where: str) -> Tolerance:
    """A pair from ``dict(rtol=, atol=)`` (pytest-regressions' spelling) or a Tolerance."""
    if isinstance(given, Tolerance):
        return given
    if not isinstance(given, Mapping) or not given or set(given) - {"rtol", "atol"}:
        raise GoldenError(f"{where}={given!r}: give dict(rtol=..., atol=...), as "
                          "pytest-regressions' tolerances")
    rtol, atol = float(given.get("rtol", 0.0)), float(given.get("atol", 0.0))
    if rtol < 0 or atol < 0 or not (rtol == rtol and atol == atol):
        raise GoldenError(f"{where}={dict(given)!r}: rtol and atol must be 0 or more")
    return Tolerance(rtol, atol)


def _place(meta: Mapping[str, Any]) -> str:
    return f"{str(meta.get('device', '?')).split(':')[0]}/{meta.get('dtype', '?')}"


def choose_tolerance(golden_meta: Mapping[str, Any], now_meta: Mapping[str, Any],
                     given: Any = None) -> tuple[Tolerance, str]:
    """The default pair of this check, and a sentence saying where it comes from.

    A golden made on another device or dtype than now is checked with the looser of the two
    defaults (the larger rtol and the larger atol), and the sentence says so.
    """
    if given is not None:
        pair = _parse(given, "default_tolerance")
        return pair, f"{pair} (default_tolerance given)"
    then, now = _place(golden_meta), _place(now_meta)
    ours = tolerance_for(str(now_meta.get("device")), str(now_meta.get("dtype")))
    if then == now:
        return ours, f"{ours} (default for {now})"
    theirs = tolerance_for(str(golden_meta.get("device")), str(golden_meta.get("dtype")))
    pair = Tolerance(max(ours.rtol, theirs.rtol), max(ours.atol, theirs.atol))
    return pair, (f"{pair}: the golden was made on {then} and this run is on {now}, so the "
                  f"looser of their defaults is used ({then}: {theirs}; {now}: {ours})")


def layer_tolerances(layers: Sequence[str], default: Tolerance,
                     overrides: Mapping[str, Any] | None) -> dict[str, Tolerance]:
    """Each layer's pair: from ``overrides`` (names or globs; later keys win), else ``default``.

    Raises:
        GoldenError: a key matches no layer (the message lists the closest names).
    """
    pairs = dict.fromkeys(layers, default)
    for pattern, given in (overrides or {}).items():
        matched = [layer for layer in layers
                   if layer == pattern or fnmatch.fnmatchcase(layer, pattern)]
        if not matched:
            near = closest(pattern, layers)
            hint = f" Did you mean: {', '.join(near)}?" if near else ""
            raise GoldenError(f"tolerances: {pattern!r} matches no checked layer.{hint} Checked: "
                              f"{', '.join(layers[:8])}{' ...' if len(layers) > 8 else ''}")
        pair = _parse(given, f"tolerances[{pattern!r}]")
        for layer in matched:
            pairs[layer] = pair
    return pairs
