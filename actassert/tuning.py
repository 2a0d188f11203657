"""Tuning curves and selectivity indices of a layer's kernels over one swept stimulus parameter."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from actassert._support.kernel_ids import kernel_positions
from actassert.errors import TuningError
from actassert.responsiveness import DEFAULT_RESPONSIVENESS, Responsiveness

__all__ = ["LAYER_SILENT_SHARE", "SILENT_RTOL", "Responsiveness", "Tuning", "TuningError"]

SILENT_RTOL = 1e-6
"""A kernel is silent when its rectified peak is at most this share of its largest |response|."""
LAYER_SILENT_SHARE = 0.01
"""A kernel is silent too when its rectified peak is under this share of the median rectified peak
of all the kernels the Tuning was built with: a curve of a few ten-thousandths on a layer that
answers in units is noise, and its circular variance would otherwise call it perfectly selective.
The floor is fixed when the Tuning is built, so ``select`` does not change which kernels are silent.
"""

_SAME_RTOL = 1e-9  # values closer than this (relative) are one point of the sweep
_NOISE = 1e-12  # indices below this are float noise of a flat curve and reported as 0
_METHODS = {True: ("circular_variance",), False: ("peak", "suppression")}
_INDEX_NAMES = {
    "circular_variance": "1 - circular variance (Ringach, Shapley & Hawken 2002)",
    "peak": "band-pass peak index 1 - max(r_first, r_last) / r_peak (after Cavanaugh et al. 2002)",
    "suppression": "suppression index (r_peak - r_last) / r_peak (Cavanaugh, Bair & Movshon 2002)",
}
KernelSelection = int | Sequence[int] | Tensor


def median_preferred(preferred: Tensor, *, log: bool) -> float:
    """The median of preferred values, taken on their logarithms when ``log`` (sizes, frequencies).

    Example:
        >>> round(median_preferred(torch.tensor([2.0, 8.0, 32.0]), log=True), 6)
        8.0
    """
    values = preferred.double()
    return float(values.log().median().exp()) if log else float(values.median())


def _fmt(x: float) -> str:
    return f"{x:g}"


def _check_fraction(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.0 <= float(x) <= 1.0:
        raise TuningError(f"{name}={x!r} is outside [0, 1]; selectivity indices lie in [0, 1]")
    return float(x)


class Tuning:
    """Mean response of every kernel of a layer at each value of one swept stimulus parameter.

    Stimuli sharing a value (a hue x radius product sweep, several phases) are averaged into one
    point of the curve; for a circular parameter values are taken modulo the period first, so 0
    and 360 are the same hue. Values closer than one part in 1e9 are merged (float noise).

    Grouping runs on the device of ``responses`` (float64, float32 on MPS); the resulting
    ``values``, ``curves`` and ``counts`` and everything the methods return are CPU tensors, so the
    indices of a 1280-kernel layer cost a few small CPU matrix products and no device sync.

    Kernels are always named by their index in the layer (``kernel_ids``): after ``select`` the
    methods that take a kernel still expect those ids, and assertion messages print them (K=012).

    Args:
        values: one parameter value per stimulus, shape ``[N]``.
        responses: one number per stimulus and kernel, shape ``[N, K]`` (what ``sweep`` gives).
        circular: the period of a circular parameter (360 for hue, 180 for orientation), or None.
        scale: ``"linear"`` or ``"log"`` (spatial frequency); with ``"log"`` distances between
            values, as used by ``assert_prefers``, are in octaves.
        rectify: ``"relu"`` clamps curves at 0 like a firing rate; ``"shift"`` subtracts each
            kernel's minimum over the curve (baseline-subtracted; suits linear bottlenecks).
            With a ``baseline`` both act on the modulation above it.
        baseline: each kernel's response to the blank background, ``[K]``, or one row per
            stimulus ``[N, K]`` (what ``sweep(..., baseline=True)`` records: the blank read out
            where each stimulus is). Curves are then expressed as modulation above it
            (``modulation()``), as Ringach 2002 and Cavanaugh 2002 compute their indices on
            responses above the spontaneous rate. None: the baseline is 0 (``"relu"``) or each
            kernel's minimum (``"shift"``).
        responsiveness: the criterion of ``responsive()`` (default ``Responsiveness()``: 15% of
            the layer's median peak modulation, after Marques et al. 2021); None counts every
            kernel that is not silent as responsive (the behaviour before version 0.3).
        layer_peaks: the ``(median, largest)`` peak modulation the criterion is relative to;
            default: those of this Tuning's own kernels. Give another Tuning's
            ``layer_peaks`` to judge part of a sweep (one spatial frequency) against the whole.
        parameter: the swept parameter's name, used in messages (``"hue"``).
        layer: the layer's name, used in messages (``"features.2"``).

    Attributes:
        values: sorted distinct parameter values, ``Tensor[V]`` (float64).
        curves: mean response per value and kernel, ``Tensor[V, K]`` (float64).
        counts: how many stimuli were averaged into each value, ``Tensor[V]``.
        kernels: K, the number of kernels.
        kernel_ids: each kernel's index in the layer, ``Tensor[K]``.
        focus: kernel ids that an assertion named (plots draw them first, titled in red).
        focus_reason: set by a failing assertion (``"the least selective, named in the
            failure"``): its plot then draws only the ``focus`` kernels and says why.
        n_stimuli: N, the number of stimuli.
        baseline: the baseline per value and kernel, ``Tensor[V, K]`` (float64), or None.
        responsiveness: the criterion of ``responsive()``, or None.
        layer_peaks: ``(median, largest)`` peak modulation of the layer, fixed when built.

    Example:
        >>> hues = torch.arange(0.0, 360.0, 10.0)
        >>> resp = torch.stack([torch.cos(torch.deg2rad(hues - 90)).exp(), torch.ones(36)], 1)
        >>> tun = Tuning(hues, resp, circular=360, parameter="hue", layer="features.2")
        >>> tun.preferred().tolist(), [round(x, 2) for x in tun.selectivity().tolist()]
        ([90.0, 0.0], [0.45, 0.0])
    """

    values: Tensor
    curves: Tensor
    counts: Tensor
    kernel_ids: Tensor

    def __init__(self, values: Tensor | Sequence[float], responses: Tensor, *,
                 circular: float | None = None, scale: str = "linear", rectify: str = "relu",
                 parameter: str = "value", layer: str | None = None,
                 baseline: Tensor | Sequence[float] | None = None,
                 responsiveness: Responsiveness | None = DEFAULT_RESPONSIVENESS,
                 layer_peaks: tuple[float, float] | None = None) -> None:
        if scale not in ("linear", "log"):
            raise TuningError(f"scale={scale!r} is not 'linear' or 'log'")
        if rectify not in ("relu", "shift"):
            raise TuningError(f"rectify={rectify!r} is not 'relu' or 'shift'")
        if circular is not None:
            if isinstance(circular, bool) or not isinstance(circular, (int, float)) or not (
                    math.isfinite(circular) and circular > 0):
                raise TuningError(f"circular={circular!r} is not a positive period "
                                  "(360 for hue, 180 for orientation) or None")
            if scale == "log":
                raise TuningError(f"scale='log' with circular={circular!r}: a circular "
                                  "parameter has a linear scale")
        resp = _as_responses(responses)
        vals = _as_values(values, resp.shape[0])
        if scale == "log" and bool((vals <= 0).any()):
            i = int((vals <= 0).nonzero()[0])
            raise TuningError(f"scale='log' needs positive values; got {parameter} "
                              f"{_fmt(float(vals[i]))} at stimulus {i}")
        self.circular = None if circular is None else float(circular)
        self.scale, self.rectify, self.parameter, self.layer = scale, rectify, parameter, layer
        self.n_stimuli, self.kernels = int(resp.shape[0]), int(resp.shape[1])
        self.kernel_ids = torch.arange(self.kernels)
        self.focus: list[int] = []
        self.focus_reason: str | None = None
        self.responses: Any = None  # the sweep's Responses it came from, if any (for figures)

        if self.circular is not None:
            vals = torch.remainder(vals, self.circular)
            vals = torch.where(vals >= self.circular * (1 - _SAME_RTOL), 0.0, vals)
        self.values, inverse = self._groups(vals)
        self.counts = torch.bincount(inverse, minlength=len(self.values))
        self.curves = self._means(resp, inverse)
        self.baseline = None if baseline is None else self._baseline(baseline, inverse)
        if responsiveness is not None and not isinstance(responsiveness, Responsiveness):
            raise TuningError(f"responsiveness={responsiveness!r} is not a Responsiveness or "
                              "None; write responsiveness=Responsiveness(fraction=0.15)")
        self.responsiveness = responsiveness
        peak = self.rectified().amax(dim=0)
        self._silent_floor = float(LAYER_SILENT_SHARE * peak.median()) if self.kernels > 1 else 0.0
        self.layer_peaks = layer_peaks or (
            Responsiveness.layer_statistics(self.peak_modulation()) if self.kernels > 1
            else (0.0, 0.0))

    def _groups(self, vals: Tensor) -> tuple[Tensor, Tensor]:
        """Sorted distinct values (float noise merged) and each stimulus' group."""
        unique, inverse = torch.unique(vals, sorted=True, return_inverse=True)
        if self.circular is not None:
            tol = torch.full_like(unique[1:], _SAME_RTOL * self.circular)
        elif self.scale == "log":
            tol = _SAME_RTOL * unique[1:]
        else:
            tol = torch.full_like(unique[1:], _SAME_RTOL * float(unique.abs().max()))
        starts = torch.cat([torch.ones(1, dtype=torch.long), (unique.diff() > tol).long()])
        group = starts.cumsum(0) - 1
        return unique[starts.bool()], group[inverse]

    def _means(self, resp: Tensor, inverse: Tensor) -> Tensor:
        """The mean of ``resp [N, K]`` per value group, ``[V, K]`` float64 on the CPU."""
        acc = torch.float32 if resp.device.type == "mps" else torch.float64
        sums = torch.zeros(len(self.values), resp.shape[1], dtype=acc, device=resp.device)
        sums.index_add_(0, inverse.to(resp.device), resp.to(acc))
        return sums.cpu().double() / self.counts[:, None]

    def _baseline(self, baseline: Any, inverse: Tensor) -> Tensor:
        """The baseline as ``[V, K]``: a ``[K]`` row repeated, or ``[N, K]`` averaged per value."""
        given = torch.as_tensor(baseline)
        base = _as_responses(given[None] if given.ndim == 1 else given)
        if base.shape[1] != self.kernels or base.shape[0] not in (1, self.n_stimuli):
            raise TuningError(f"baseline of shape {tuple(base.shape)} does not fit responses of "
                              f"{self.n_stimuli} stimuli x {self.kernels} kernels: give one "
                              f"value per kernel [{self.kernels}] or one row per stimulus "
                              f"[{self.n_stimuli}, {self.kernels}]")
        if base.shape[0] == 1:
            return base.cpu().double().expand(len(self.values), -1).clone()
        return self._means(base, inverse)

    # -- measures ------------------------------------------------------------------------------

    def modulation(self) -> Tensor:
        """The curves minus the baseline, ``Tensor[V, K]``: the response above the blank.

        Without a baseline: the curves themselves (``"relu"``) or minus each kernel's minimum
        (``"shift"``).

        Example:
            >>> Tuning([0, 1, 2], torch.tensor([[1.0], [3.0], [1.5]]),
            ...        baseline=torch.tensor([1.0])).modulation()[:, 0].tolist()
            [0.0, 2.0, 0.5]
        """
        if self.baseline is not None:
            return self.curves - self.baseline
        if self.rectify == "relu":
            return self.curves
        return self.curves - self.curves.amin(dim=0, keepdim=True)

    def rectified(self) -> Tensor:
        """The curves every index is computed from, ``Tensor[V, K]``: the modulation clamped at
        0 (``"relu"``) or shifted to a minimum of 0 (``"shift"``).

        Example:
            >>> Tuning([0, 1, 2], torch.tensor([[-1.0], [2.0], [0.5]])).rectified()[:, 0].tolist()
            [0.0, 2.0, 0.5]
        """
        modulation = self.modulation()
        if self.rectify == "relu":
            return modulation.clamp(min=0)
        return modulation - modulation.amin(dim=0, keepdim=True)

    def peak_modulation(self) -> Tensor:
        """Each kernel's largest modulation above the baseline, ``Tensor[K]`` (may be <= 0).

        Example:
            >>> Tuning([0, 1, 2], torch.tensor([[1.0], [3.0], [2.0]]),
            ...        baseline=[1.5]).peak_modulation().tolist()
            [1.5]
        """
        return self.modulation().amax(dim=0)

    def responsive(self, criterion: Responsiveness | None = None) -> Tensor:
        """Kernels whose peak modulation passes the criterion, ``BoolTensor[K]``.

        ``criterion`` defaults to the Tuning's ``responsiveness`` (see :class:`Responsiveness`:
        by default above 15% of the layer's median peak modulation and 1% of its largest). A
        silent kernel is never responsive. With ``responsiveness=None`` and no ``criterion``,
        every kernel that is not silent is responsive.

        Example:
            >>> resp = torch.tensor([[0.0, 0.0, 0.0], [4.0, 5.0, 0.2], [0.0, 0.0, 0.0]])
            >>> Tuning([0, 1, 2], resp).responsive().tolist()
            [True, True, False]
        """
        criterion = criterion or self.responsiveness
        if criterion is None:
            return ~self.silent()
        if not isinstance(criterion, Responsiveness):
            raise TuningError(f"criterion={criterion!r} is not a Responsiveness")
        median, largest = self.layer_peaks  # (0, 0) for a Tuning built with one kernel
        passed = criterion.passes(self.peak_modulation(), median=median, largest=largest)
        return passed & ~self.silent()

    def silent(self) -> Tensor:
        """Kernels with no positive response after rectification, ``BoolTensor[K]``.

        With ``rectify="relu"`` these never respond above 0; with ``"shift"`` their curve is flat.
        A kernel whose rectified peak is under ``LAYER_SILENT_SHARE`` (1%) of the median rectified
        peak of the kernels in this tuning is silent too (a barely-responding kernel's index is
        noise). Their selectivity index is 0 and they never count as selective.

        Example:
            >>> Tuning([0, 1, 2], -torch.ones(3, 2)).silent().tolist()
            [True, True]
        """
        scale = self.curves.abs().amax(dim=0)
        peak = self.rectified().amax(dim=0)
        return (peak <= SILENT_RTOL * scale) | (peak < self._silent_floor)

    def preferred(self) -> Tensor:
        """The value at each kernel's peak of the mean curve, ``Tensor[K]``.

        The argmax over the sampled values (exact on the grid, first one on ties). For a silent
        kernel it is the value of its least negative response.

        Example:
            >>> Tuning([0, 10, 20], torch.tensor([[1.0], [3.0], [2.0]])).preferred().tolist()
            [10.0]
        """
        return self.values[self.curves.argmax(dim=0)]

    def selectivity(self, method: str | None = None) -> Tensor:
        """Each kernel's selectivity index in [0, 1], ``Tensor[K]``; unresponsive kernels get 0.

        Computed on the rectified modulation above the baseline (``rectified()``). Kernels that
        are not ``responsive()`` (silent ones among them) get 0 and never count as selective:
        a kernel answering weakly to one hue and not at all to the others would otherwise get
        an index near 1.

        With ``r_v`` the rectified curve at value ``theta_v``:

        - ``"circular_variance"`` (default for circular parameters): 1 - circular variance,
          ``|sum_v w_v r_v exp(2 pi i theta_v / period)| / sum_v w_v r_v`` (Ringach, Shapley &
          Hawken 2002, J Neurosci 22:5639). With period 180 the angle is doubled, as orientation
          needs. ``w_v`` is the arc each sample covers (half the gaps to its two neighbours), so
          an unevenly sampled sweep is integrated correctly; for evenly spaced samples all
          weights are equal and this is Ringach's sum exactly. The sweep should span the period.
        - ``"peak"`` (default otherwise): ``1 - max(r_first, r_last) / r_peak``, a band-pass
          index after Cavanaugh, Bair & Movshon 2002 (J Neurophysiol 88:2530): 0 for a monotonic
          curve, 1 when both ends of the sweep are silent.
        - ``"suppression"``: Cavanaugh's surround-suppression index ``(r_peak - r_last) / r_peak``
          with ``r_last`` the response at the largest value.

        Indices below 1e-12 (float noise of a flat curve) are reported as 0.

        Raises:
            TuningError: fewer than 3 distinct values, or a method that does not fit the
                parameter (circular variance needs a circular one, peak/suppression a linear one).

        Example:
            >>> sizes = torch.tensor([8.0, 16, 32, 64])
            >>> resp = torch.tensor([[0.0, 1], [4, 2], [2, 3], [0, 4]])
            >>> Tuning(sizes, resp, parameter="size").selectivity().tolist()
            [1.0, 0.0]
        """
        method = self._method(method)
        if len(self.values) < 3:
            raise TuningError(
                f"a selectivity index needs at least 3 distinct {self.parameter} values; got "
                f"{len(self.values)} ({', '.join(_fmt(v) for v in self.values.tolist())})")
        r = self.rectified()
        silent = ~self.responsive()
        peak = torch.where(silent, 1.0, r.amax(dim=0))
        if method == "circular_variance":
            period = float(self.circular)  # type: ignore[arg-type]
            gaps = torch.diff(self.values, append=self.values[:1] + period)
            weighted = ((gaps + gaps.roll(1)) / 2)[:, None] * r
            theta = self.values * (2 * math.pi / period)
            resultant = torch.hypot(torch.cos(theta) @ weighted, torch.sin(theta) @ weighted)
            index = resultant / torch.where(silent, 1.0, weighted.sum(dim=0))
        elif method == "peak":
            index = 1 - torch.maximum(r[0], r[-1]) / peak
        else:
            index = (peak - r[-1]) / peak
        return torch.where(silent | (index < _NOISE), 0.0, index).clamp(max=1.0)

    def selective(self, min_index: float, method: str | None = None) -> Tensor:
        """Which kernels are selective, ``[K]`` bools: responsive, with an index of at least
        ``min_index`` (an unresponsive kernel never is, even at ``min_index=0``).

        Example:
            >>> Tuning([0, 1, 2], torch.tensor([[0.0, 1], [1, 1], [0, 1]])).selective(0.5).tolist()
            [True, False]
        """
        min_index = _check_fraction(min_index, "min_index")
        return (self.selectivity(method) >= min_index) & self.responsive()

    def fraction_selective(self, min_index: float, method: str | None = None) -> float:
        """Share of kernels whose index is at least ``min_index``; unresponsive kernels never
        count (they stay in the denominator: the share is of all kernels).

        Example:
            >>> Tuning([0, 1, 2], torch.tensor([[0.0, 1], [1, 1], [0, 1]])).fraction_selective(0.5)
            0.5
        """
        return float(self.selective(min_index, method).double().mean())

    def median_index(self, method: str | None = None) -> float:
        """The median selectivity index over kernels (unresponsive ones count as 0).

        Example:
            >>> Tuning([0, 1, 2], torch.tensor([[0.0, 1], [1, 1], [0, 1]])).median_index()
            0.5
        """
        return float(torch.quantile(self.selectivity(method), 0.5))

    def distance(self, a: Tensor | float, b: Tensor | float) -> Tensor:
        """Distance between parameter values: circular for circular parameters, in octaves on a
        log scale, else absolute difference.

        Example:
            >>> Tuning([0, 90, 180, 270], torch.ones(4, 1), circular=360).distance(350, 10).item()
            20.0
        """
        a_t = torch.as_tensor(a, dtype=torch.float64)
        b_t = torch.as_tensor(b, dtype=torch.float64)
        if self.circular is not None:
            d = torch.remainder(a_t - b_t, self.circular)
            return torch.minimum(d, self.circular - d)
        if self.scale == "log":
            return torch.log2(a_t / b_t).abs()
        return (a_t - b_t).abs()

    # -- kernels -------------------------------------------------------------------------------

    def curve(self, kernel: int) -> tuple[Tensor, Tensor]:
        """The sampled values and the mean curve of one kernel (named by its id in the layer).

        Example:
            >>> values, curve = Tuning([0, 0, 1], torch.tensor([[1.0], [3.0], [5.0]])).curve(0)
            >>> values.tolist(), curve.tolist()
            ([0.0, 1.0], [2.0, 5.0])
        """
        pos = int(self._positions(kernel)[0])
        return self.values.clone(), self.curves[:, pos].clone()

    def select(self, kernels: KernelSelection) -> Tuning:
        """A Tuning of a subset of kernels, named by ids or by a ``BoolTensor[K]`` mask.

        Ids are an int, a sequence or an integer tensor; a mask runs over this Tuning's kernels.
        The result's ``kernel_ids`` keep the ids in the layer.

        Example:
            >>> tun = Tuning([0, 1, 2], torch.rand(3, 8))
            >>> tun.select([5, 2]).kernel_ids.tolist(), tun.select(~tun.silent()).kernels
            ([5, 2], 8)
        """
        pos = self._positions(kernels)
        if len(pos) == 0:
            raise TuningError(f"select({kernels!r}) chose no kernel of {self._where()}")
        new = copy.copy(self)
        new.curves = self.curves[:, pos]
        new.baseline = None if self.baseline is None else self.baseline[:, pos]
        new.kernel_ids = self.kernel_ids[pos]
        new.kernels = len(pos)
        new.focus = [k for k in self.focus if k in set(new.kernel_ids.tolist())]
        return new

    def _positions(self, kernels: KernelSelection) -> Tensor:
        if isinstance(kernels, Tensor) and kernels.dtype == torch.bool:
            if kernels.shape != (self.kernels,):
                raise TuningError(f"a kernel mask must have shape ({self.kernels},); "
                                  f"got {tuple(kernels.shape)}")
            return kernels.cpu().nonzero().flatten()
        if isinstance(kernels, Tensor):
            ids = kernels.flatten().tolist()
        elif isinstance(kernels, int):
            ids = [kernels]
        else:
            ids = list(kernels)
        positions = kernel_positions(ids, self.kernel_ids.tolist(), self._where(), TuningError)
        if len(set(ids)) != len(ids):
            raise TuningError(f"kernels {ids!r} name a kernel twice")
        return torch.tensor(positions, dtype=torch.long)

    # -- descriptions --------------------------------------------------------------------------

    def describe_index(self, method: str | None = None) -> str:
        """Name and reference of the index a method computes, with the rectification.

        Example:
            >>> Tuning([1, 2, 4], torch.ones(3, 1)).describe_index("suppression")[:17]
            'suppression index'
        """
        return f"{_INDEX_NAMES[self._method(method)]}, responses rectified with {self.rectify}"

    def describe_sweep(self) -> str:
        """The sampled range, e.g. ``"hue 0..350 (circular, period 360), 36 values, 72 stimuli"``.

        Example:
            >>> Tuning([1, 2, 4], torch.ones(3, 1), scale="log", parameter="sf").describe_sweep()
            'sf 1..4 (log scale), 3 values, 3 stimuli'
        """
        lo, hi = float(self.values[0]), float(self.values[-1])
        kind = (f" (circular, period {_fmt(self.circular)})" if self.circular is not None
                else " (log scale)" if self.scale == "log" else "")
        return (f"{self.parameter} {_fmt(lo)}..{_fmt(hi)}{kind}, {len(self.values)} values, "
                f"{self.n_stimuli} stimuli")

    def summary(self, min_index: float, method: str | None = None) -> str:
        """One line: layer, parameter, K, share of selective kernels, median index.

        Example:
            >>> Tuning([0, 1, 2], torch.ones(3, 4), layer="conv1").summary(0.3)[:40]
            "layer 'conv1', value: 4 kernels, 0% sele"
        """
        frac = self.fraction_selective(min_index, method)
        return (f"{self._where()}, {self.parameter}: {self.kernels} kernels, {frac:.0%} selective "
                f"(index >= {min_index:.2f}), median index {self.median_index(method):.2f}, "
                f"{int(self.silent().sum())} silent")

    def __repr__(self) -> str:
        period = "" if self.circular is None else f", circular={_fmt(self.circular)}"
        return (f"Tuning(layer={self.layer!r}, parameter={self.parameter!r}, "
                f"kernels={self.kernels}, values={len(self.values)}{period})")

    def _where(self) -> str:
        return "an unnamed layer" if self.layer is None else f"layer {self.layer!r}"

    def _method(self, method: str | None) -> str:
        valid = _METHODS[self.circular is not None]
        if method is None:
            return valid[0]
        if method not in valid:
            kind = "circular" if self.circular is not None else "non-circular"
            raise TuningError(f"method={method!r} does not fit the {kind} parameter "
                              f"{self.parameter!r}; use one of {', '.join(map(repr, valid))}")
        return method


def _as_responses(responses: Any) -> Tensor:
    try:
        resp = torch.as_tensor(responses).detach()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TuningError(f"responses of type {type(responses).__name__} are not a tensor: "
                          f"{exc}") from None
    shape = tuple(resp.shape)
    if resp.ndim != 2:
        hint = ("for one kernel use responses[:, None]" if resp.ndim == 1 else
                "activation maps [N, K, H, W] must be reduced first: actassert.sweep(..., "
                "reduce='mean') gives [N, K], or use maps.mean(dim=(2, 3))" if resp.ndim == 4
                else "actassert.sweep gives [N, K] per layer")
        raise TuningError(f"responses must be [N stimuli, K kernels]; got shape {shape}: {hint}")
    if 0 in shape:
        raise TuningError(f"responses of shape {shape} hold no stimulus or no kernel")
    if resp.is_complex() or resp.dtype == torch.bool:
        raise TuningError(f"responses of dtype {resp.dtype} are not real numbers")
    bad = ~torch.isfinite(resp.float() if not resp.is_floating_point() else resp)
    if bool(bad.any()):
        n, k = (int(i) for i in bad.nonzero()[0])
        raise TuningError(f"responses hold {float(resp[n, k])} at stimulus {n}, kernel K={k:03d} "
                          f"({int(bad.sum())} non-finite entries)")
    return resp


def _as_values(values: Any, n: int) -> Tensor:
    try:
        vals = torch.as_tensor(values).detach().cpu().to(torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TuningError(f"values of type {type(values).__name__} are not numbers: "
                          f"{exc}") from None
    if vals.ndim != 1:
        raise TuningError(f"values must be one number per stimulus, shape [N]; got shape "
                          f"{tuple(vals.shape)}")
    if len(vals) != n:
        raise TuningError(f"values has {len(vals)} entries but responses has {n} rows (one row "
                          "per stimulus); give one parameter value per stimulus")
    bad = ~torch.isfinite(vals)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise TuningError(f"values hold {float(vals[i])} at stimulus {i}")
    return vals
