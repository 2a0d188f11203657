"""Comparing two goldens in forward order: which layers changed, the worst kernels, the metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actassert.golden.stats import STATISTICS, Golden
from actassert.golden.tolerance import Tolerance, choose_tolerance, layer_tolerances

__all__ = ["KernelDiff", "LayerDiff", "Comparison", "compare_goldens", "metadata_differences"]

_VALUE_ROWS = 4  # mean, std, min, max are values; the fifth row is a share in [0, 1]
#: Sign changes per kernel the positive share allows besides rtol (see ``_stats_slack``).
SIGN_FLIPS = 2


@dataclass(frozen=True)
class KernelDiff:
    """One statistic of one kernel beyond (or nearest to) its tolerance."""

    layer: str
    kernel: int
    statistic: str
    expected: float
    obtained: float
    abs_diff: float
    rel_diff: float  # abs_diff / the layer's scale
    ratio: float  # abs_diff / the allowed difference (> 1: beyond tolerance)


@dataclass
class LayerDiff:
    """One layer's verdict: ``ok``, ``changed``, ``shape`` (kernels differ), ``missing`` or ``new``."""

    layer: str
    status: str
    tolerance: Tolerance
    worst: list[KernelDiff] = field(default_factory=list)  # worst first
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status != "ok"


@dataclass
class Comparison:
    """Every layer's verdict in forward order, the metadata differences and the tolerance used."""

    layers: list[LayerDiff]
    metadata: list[str]
    tolerance_note: str

    @property
    def failures(self) -> list[LayerDiff]:
        return [d for d in self.layers if d.failed]

    @property
    def first_changed(self) -> LayerDiff | None:
        """The first layer in forward order beyond tolerance (or missing, new, reshaped)."""
        failures = self.failures
        return failures[0] if failures else None


def _diffs(layer: str, names: list[str], expected: np.ndarray, obtained: np.ndarray,
           scale: np.ndarray, pair: Tolerance, slack: np.ndarray | None = None
           ) -> list[KernelDiff]:
    """The 8 worst (row, kernel) of two ``[R, K]`` arrays, by share of the allowed difference.

    Allowed: ``atol + rtol * scale[row] + slack[row]``.
    """
    e, o = expected.astype(np.float64), obtained.astype(np.float64)
    diff = np.abs(o - e)
    same_nan = np.isnan(e) & np.isnan(o)
    diff = np.where(same_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
    allowed = pair.atol + pair.rtol * scale[:, None]
    if slack is not None:
        allowed = allowed + slack[:, None]
    ratio = np.where(allowed > 0, diff / np.where(allowed > 0, allowed, 1.0),
                     np.where(diff > 0, np.inf, 0.0))
    order = np.argsort(-ratio, axis=None, kind="stable")[:8]
    rows, kernels = np.unravel_index(order, ratio.shape)
    return [KernelDiff(layer, int(k), names[r], float(e[r, k]), float(o[r, k]),
                       float(diff[r, k]), float(diff[r, k] / scale[r]) if scale[r] > 0
                       else float(diff[r, k]), float(ratio[r, k]))
            for r, k in zip(rows.tolist(), kernels.tolist(), strict=True)]


def _stats_scale(stats: np.ndarray) -> np.ndarray:
    """Per row: the layer's range for value rows, 1 for the share of positive positions."""
    span = float(np.nanmax(np.abs(stats[2:4]))) if stats.size else 0.0
    return np.array([span] * _VALUE_ROWS + [1.0])


def _stats_slack(positions: int) -> np.ndarray:
    """Per row: nothing for values; for the positive share, :data:`SIGN_FLIPS` positions.

    A value within rounding of 0 (after a batch norm) changes sign with the thread count, and one
    flip moves the share by ``1 / positions``: in a 14x14 map of 4 images, 0.0013.
    """
    return np.array([0.0] * _VALUE_ROWS + [SIGN_FLIPS / max(1, positions)])


def _compare_layer(layer: str, expected: Golden, obtained: Golden, pair: Tolerance) -> LayerDiff:
    e, o = expected.stats[layer], obtained.stats[layer]
    if e.shape != o.shape:
        return LayerDiff(layer, "shape", pair, detail=f"{e.shape[1]} kernels in the golden, "
                         f"{o.shape[1]} now")
    positions = int(expected.meta.get("positions", {}).get(layer, 0))
    worst = _diffs(layer, list(STATISTICS), e, o, _stats_scale(e), pair, _stats_slack(positions))
    er, orr = expected.responses.get(layer), obtained.responses.get(layer)
    if er is not None and orr is not None:
        if er.shape != orr.shape:
            return LayerDiff(layer, "shape", pair, detail=f"responses {list(er.shape)} in the "
                             f"golden, {list(orr.shape)} now (other stimuli?)")
        span = float(np.nanmax(np.abs(er))) if er.size else 0.0
        names = [f"response[{i}]" for i in range(er.shape[0])]
        worst = sorted(worst + _diffs(layer, names, er, orr, np.full(er.shape[0], span), pair),
                       key=lambda d: -d.ratio)[:8]
    failed = bool(worst) and worst[0].ratio > 1
    return LayerDiff(layer, "changed" if failed else "ok", pair, worst)


def compare_goldens(expected: Golden, obtained: Golden, *, default_tolerance: Any = None,
            tolerances: Mapping[str, Any] | None = None) -> Comparison:
    """Compare ``obtained`` with ``expected`` layer by layer, in the golden's forward order.

    Args:
        expected: the golden read from disk.
        obtained: the golden of this run.
        default_tolerance: ``dict(rtol=, atol=)`` for every layer (default: per device and
            dtype, the looser of two when the golden was made elsewhere).
        tolerances: per-layer pairs, keyed by layer name or glob.
    """
    pair, note = choose_tolerance(expected.meta, obtained.meta, default_tolerance)
    order = expected.layers + [k for k in obtained.layers if k not in expected.stats]
    pairs = layer_tolerances(order, pair, tolerances)
    verdicts = []
    for layer in order:
        if layer not in obtained.stats:
            verdicts.append(LayerDiff(layer, "missing", pairs[layer],
                                      detail="in the golden, not recorded now"))
        elif layer not in expected.stats:
            verdicts.append(LayerDiff(layer, "new", pairs[layer],
                                      detail="recorded now, not in the golden"))
        else:
            verdicts.append(_compare_layer(layer, expected, obtained, pairs[layer]))
    return Comparison(verdicts, metadata_differences(expected.meta, obtained.meta), note)


_WORDS = {"torch": "torch {}", "torchvision": "torchvision {}", "actassert": "actassert {}",
          "device": "on {}", "dtype": "in {}", "threads": "{} threads", "model": "model {}",
          "weights": "weights {}", "input_sha256": "input sha256 {:.12}"}


def metadata_differences(then: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between a golden's metadata and this run's, as one sentence (or none).

    Example:
        >>> metadata_differences({"torch": "2.13.0", "device": "cuda:0"},
        ...                      {"torch": "2.14.1", "device": "cpu"})
        ['golden made with torch 2.13.0 on cuda:0; now torch 2.14.1 on cpu']
    """
    keys = [k for k in _WORDS if k in then and k in now and then[k] != now[k]]
    if not keys:
        return []
    def words(meta: Mapping[str, Any]) -> str:
        return " ".join(_WORDS[k].format(str(meta[k])) for k in keys)
    lines = [f"golden made with {words(then)}; now {words(now)}"]
    if "input_sha256" in keys:
        lines.append("the input differs from the golden's (other images or stimuli): every "
                     "layer is expected to change")
    return lines
