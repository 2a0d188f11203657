"""One layer's numbers for one experiment: share of selective kernels, index and preferred values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from actassert.tuning import Tuning

__all__ = ["PLOTTED_KERNELS", "TOP_KERNELS", "KernelRow", "LayerResult", "best_frequency_tuning", "layer_result", "quartiles"]

TOP_KERNELS = 8
"""Kernels listed in each layer's table: the most selective."""
PLOTTED_KERNELS = 4
"""Kernels drawn in each layer's tuning plot: the first of the table."""


@dataclass
class KernelRow:
    """One kernel of a layer's table."""

    kernel: int
    index: float
    preferred: float


@dataclass
class LayerResult:
    """What one experiment found in one layer.

    Attributes:
        layer: the recorded layer (``features.3.conv.1.2``).
        kernels: K.
        silent: kernels that never respond (index 0, never selective).
        selective: kernels whose index is at least the experiment's ``min_index``.
        fraction: ``selective / kernels``.
        index: quartiles (25%, 50%, 75%) of the index over the responding kernels.
        preferred: quartiles of the selective kernels' preferred values (geometric for a log
            parameter), or None when no kernel is selective.
        top: the most selective kernels with their index and preferred value.
    """

    layer: str
    kernels: int
    silent: int
    selective: int
    fraction: float
    index: list[float]
    preferred: list[float] | None
    top: list[KernelRow] = field(default_factory=list)


def quartiles(values: Any, *, log: bool = False) -> list[float]:
    """25%, 50% and 75% quantiles (linear interpolation; on log values when ``log``)."""
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    if log:
        x = x.log()
    q = torch.quantile(x, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    return (q.exp() if log else q).tolist()


def layer_result(tuning: Any, min_index: float) -> LayerResult:
    """Summarise a :class:`~actassert.Tuning`: selective kernels (index >= ``min_index``, never
    silent ones), index quartiles of responding kernels, preferred-value quartiles of the
    selective ones (not for a circular parameter) and the most selective kernels."""
    silent = tuning.silent()
    idx = tuning.selectivity()
    pref = tuning.preferred()
    chosen = (idx >= min_index) & ~silent
    responding = idx[~silent]
    log = getattr(tuning, "scale", "linear") == "log"
    circular = getattr(tuning, "circular", None) is not None
    order = sorted(range(tuning.kernels), key=lambda k: -float(idx[k]))[:TOP_KERNELS]
    return LayerResult(
        layer=str(tuning.layer), kernels=tuning.kernels, silent=int(silent.sum()),
        selective=int(chosen.sum()), fraction=float(chosen.double().mean()),
        index=quartiles(responding) if len(responding) else [0.0, 0.0, 0.0],
        preferred=(quartiles(pref[chosen], log=log) if bool(chosen.any()) and not circular
                   else None),
        top=[KernelRow(int(tuning.kernel_ids[k]), float(idx[k]), float(pref[k])) for k in order])


def best_frequency_tuning(responses: Any, layer: str) -> tuple[Any, Any]:
    """Orientation tuning of each kernel at its own preferred spatial frequency.

    For each spatial frequency the stimuli of that frequency give a curve over orientation
    (phases averaged); each kernel keeps the frequency whose rectified curve peaks highest, as
    orientation tuning is measured at a cell's optimal spatial frequency in physiology. Those
    curves form a new :class:`~actassert.Tuning` (one row per orientation), so its index,
    preferred orientation and silent kernels are computed as for any sweep.

    Returns:
        ``(tuning, frequency)``: the Tuning over orientation and each kernel's frequency.
    """
    freqs = responses.params["spatial_frequency"]
    values = torch.unique(freqs)
    per_freq = [Tuning(responses.params["orientation"][freqs == f], responses[layer][freqs == f],
                       circular=180.0) for f in values.tolist()]
    curves = torch.stack([t.curves for t in per_freq])  # [F, V, K]
    best = torch.stack([t.rectified().amax(dim=0) for t in per_freq]).argmax(dim=0)  # [K]
    chosen = curves.gather(0, best[None, None].expand(1, curves.shape[1], -1))[0]
    tuning = Tuning(per_freq[0].values, chosen, circular=180.0, parameter="orientation",
                    layer=layer)
    return tuning, values.double()[best]
