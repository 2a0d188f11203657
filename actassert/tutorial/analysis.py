"""One layer's numbers for one experiment: the three shares with their intervals, the index and
preferred values, and the experiment's own measures (colour vs grey, suppression, bandwidth)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from actassert.proportions import Share
from actassert.responsiveness import Responsiveness
from actassert.tuning import Tuning

__all__ = ["PLOTTED_KERNELS", "TOP_KERNELS", "KernelRow", "LayerResult", "bandwidth",
           "best_frequency_tuning", "colour_vs_grey", "layer_result", "orientation_by_frequency",
           "phase_maximum", "quartiles", "size_measures"]

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
        silent: kernels that never rise above the baseline (a subset of the unresponsive).
        selective: kernels meeting the experiment's criterion (always responsive ones).
        fraction: ``selective / kernels``.
        index: quartiles (25%, 50%, 75%) of the index over the responsive kernels.
        preferred: quartiles of the selective kernels' preferred values (geometric for a log
            parameter), or None when no kernel is selective.
        top: the most selective kernels with their index and preferred value.
        responsive: kernels passing the responsiveness criterion.
        shares: ``responsive`` (of all), ``selective_of_responsive`` and ``selective`` (of all),
            each ``[share, low, high]`` with its Wilson 95% interval over kernels.
        measures: the experiment's other measures, quartiles over the responsive kernels (None
            when no kernel is responsive): ``colour_vs_grey``, ``suppression``, ``gsf``,
            ``circular_variance``, ``bandwidth``.
        receptive_field: the layer's theoretical receptive field in input px (None: global).
    """

    layer: str
    kernels: int
    silent: int
    selective: int
    fraction: float
    index: list[float]
    preferred: list[float] | None
    top: list[KernelRow] = field(default_factory=list)
    responsive: int = 0
    shares: dict[str, list[float]] = field(default_factory=dict)
    measures: dict[str, list[float] | None] = field(default_factory=dict)
    receptive_field: float | None = None


def quartiles(values: Any, *, log: bool = False) -> list[float]:
    """25%, 50% and 75% quantiles (linear interpolation; on log values when ``log``)."""
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    if log:
        x = x.log()
    q = torch.quantile(x, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    return (q.exp() if log else q).tolist()


def layer_result(tuning: Any, min_index: float, *, selective: Any = None,
                 measures: dict[str, Any] | None = None) -> LayerResult:
    """Summarise a :class:`~actassert.Tuning`: selective kernels (``selective``, a mask, or
    index >= ``min_index``; responsive ones only), the three shares with Wilson intervals, index
    quartiles of responsive kernels, preferred-value quartiles of the selective ones (not for a
    circular parameter), the most selective kernels, and ``measures`` (``[K]`` tensors)
    summarised over the responsive kernels."""
    silent, responsive = tuning.silent(), tuning.responsive()
    idx = tuning.selectivity()
    pref = tuning.preferred()
    chosen = ((idx >= min_index) if selective is None else selective) & responsive
    log = getattr(tuning, "scale", "linear") == "log"
    circular = getattr(tuning, "circular", None) is not None
    order = sorted(range(tuning.kernels), key=lambda k: (-float(chosen[k]), -float(idx[k])))
    n, n_resp, n_sel = tuning.kernels, int(responsive.sum()), int(chosen.sum())
    summarised = {name: (quartiles(values[responsive]) if n_resp else None)
                  for name, values in (measures or {}).items()}
    return LayerResult(
        layer=str(tuning.layer), kernels=n, silent=int(silent.sum()), selective=n_sel,
        fraction=n_sel / n, index=quartiles(idx[responsive]) if n_resp else [0.0, 0.0, 0.0],
        preferred=(quartiles(pref[chosen], log=log) if n_sel and not circular else None),
        top=[KernelRow(int(tuning.kernel_ids[k]), float(idx[k]), float(pref[k]))
             for k in order[:TOP_KERNELS]],
        responsive=n_resp,
        shares={"responsive": Share(n_resp, n).as_list(),
                "selective_of_responsive": Share(n_sel, n_resp).as_list(),
                "selective": Share(n_sel, n).as_list()},
        measures=summarised)


def phase_maximum(responses: Any, layer: str) -> tuple[Any, Any, Any, Any]:
    """Each kernel's largest response over the phases at every (frequency, orientation).

    Returns:
        ``(frequency, orientation, response, baseline)``: one row per pair, the response
        ``[P, K]`` the maximum over its phases and the baseline ``[P, K]`` the mean blank there.
    """
    params = responses.params
    pairs = torch.stack([params["spatial_frequency"].double(), params["orientation"].double()], 1)
    unique, inverse = torch.unique(pairs, dim=0, return_inverse=True)
    values = responses[layer].double()
    best = torch.full((len(unique), values.shape[1]), -torch.inf, dtype=torch.float64)
    best.scatter_reduce_(0, inverse[:, None].expand_as(values), values, "amax")
    base = responses.baseline[layer].double() if responses.baseline is not None else \
        torch.zeros_like(values)
    sums = torch.zeros_like(best).index_add_(0, inverse, base)
    counts = torch.bincount(inverse, minlength=len(unique)).double()[:, None]
    return unique[:, 0], unique[:, 1], best, sums / counts


def orientation_by_frequency(responses: Any, layer: str) -> dict[float, Any]:
    """One orientation :class:`~actassert.Tuning` per spatial frequency, phases by their maximum
    (``phase_maximum``), each with its blank baseline. Responsiveness is judged against the
    whole sweep (the layer's peaks over every frequency), so a kernel answering faintly at a
    frequency far from its own is unresponsive there, not selective."""
    freqs, oris, best, base = phase_maximum(responses, layer)
    values = torch.unique(freqs).tolist()
    layer_peaks = Responsiveness.layer_statistics((best - base).amax(dim=0))  # over every frequency
    return {f: Tuning(oris[freqs == f], best[freqs == f], baseline=base[freqs == f],
                      circular=180.0, parameter="orientation", layer=layer,
                      layer_peaks=layer_peaks if best.shape[1] > 1 else None) for f in values}


def best_frequency_tuning(responses: Any, layer: str) -> tuple[Any, Any]:
    """Orientation tuning of each kernel at its own preferred spatial frequency.

    Phases are handled by their maximum (``phase_maximum``): a simple-cell-like kernel answers
    one phase and not its opposite, and averaging them would hide it. For each spatial
    frequency the orientation curve is formed (``orientation_by_frequency``); each kernel keeps
    the frequency whose curve rises highest above the blank, as orientation tuning is measured
    at a cell's optimal spatial frequency. Those curves, with their baselines, form a new
    :class:`~actassert.Tuning`, so its index, preferred orientation and responsive kernels are
    computed as for any sweep.

    Returns:
        ``(tuning, frequency)``: the Tuning over orientation and each kernel's frequency.
    """
    by_frequency = orientation_by_frequency(responses, layer)
    per_freq = list(by_frequency.values())
    curves = torch.stack([t.curves for t in per_freq])  # [F, V, K]
    bases = torch.stack([t.baseline for t in per_freq])
    top = torch.stack([t.peak_modulation() for t in per_freq]).argmax(dim=0)  # [K]
    index = top[None, None].expand(1, curves.shape[1], -1)
    tuning = Tuning(per_freq[0].values, curves.gather(0, index)[0], circular=180.0,
                    parameter="orientation", layer=layer, baseline=bases.gather(0, index)[0])
    frequencies = torch.tensor(list(by_frequency), dtype=torch.float64)
    return tuning, frequencies[top]


def bandwidth(tuning: Any) -> Any:
    """Each kernel's orientation half-width at half height, degrees, ``Tensor[K]``.

    From the peak of the rectified modulation, the curve is followed both ways around the
    (circular) orientation axis to where it first falls to half the peak, with linear
    interpolation; the half-width is half the distance between those points. 90 means the
    curve never falls to half (not orientation-selective, as Brain-Score counts it).
    """
    r = tuning.rectified()
    values = tuning.values.tolist()
    period = float(tuning.circular)
    v = len(values)
    out = torch.full((r.shape[1],), 90.0, dtype=torch.float64)
    for k in range(r.shape[1]):
        curve = r[:, k].tolist()
        top = max(range(v), key=lambda i: curve[i])
        half = curve[top] / 2
        if curve[top] <= 0:
            continue
        sides = []
        for step in (1, -1):
            for j in range(1, v):
                i, prev = (top + step * j) % v, (top + step * (j - 1)) % v
                if curve[i] <= half:
                    gap = (values[i] - values[prev]) * step % period
                    frac = (curve[prev] - half) / max(curve[prev] - curve[i], 1e-12)
                    sides.append((j - 1) * period / v + frac * gap)
                    break
        if len(sides) == 2:
            out[k] = min(90.0, (sides[0] + sides[1]) / 2)
    return out


def size_measures(tuning: Any) -> dict[str, Any]:
    """Cavanaugh, Bair & Movshon's (2002) measures of each kernel's size curve, ``[K]`` each.

    ``suppression``: (peak − response at the largest size) / peak; ``gsf``: the grating (here:
    shape) summation field, the smallest size reaching 95% of the peak; both on the rectified
    modulation above the blank.
    """
    r = tuning.rectified()
    peak = r.amax(dim=0)
    safe = torch.where(peak > 0, peak, 1.0)
    suppression = torch.where(peak > 0, (peak - r[-1]) / safe, 0.0)
    reached = r >= 0.95 * peak[None]
    first = reached.double().argmax(dim=0)
    return {"suppression": suppression, "gsf": tuning.values[first]}


def colour_vs_grey(tuning: Any, grey_modulation: Any) -> Any:
    """A colour-versus-grey index per kernel, ``Tensor[K]``, after Rafegas & Vanrell (2018).

    ``1 − grey / colour``, with ``colour`` the kernel's largest modulation above the blank over
    the hue discs and ``grey`` its largest over the achromatic references (the grey discs; the
    background itself, the grey of the same luma, gives 0): 1 for a kernel answering colour
    only, 0 for one answering grey at least as much. A kernel that does not rise above the
    blank for any hue gets 0.
    """
    colour = tuning.peak_modulation().clamp(min=0)
    grey = torch.as_tensor(grey_modulation, dtype=torch.float64).clamp(min=0)
    safe = torch.where(colour > 0, colour, 1.0)
    return torch.where(colour > 0, (1 - grey / safe).clamp(0.0, 1.0), 0.0)
