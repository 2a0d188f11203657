"""Assertion helpers whose failures explain what was checked, what came out and how to fix it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import EllipsisType

import torch
from torch import Tensor, nn

from actassert import evidence
from actassert._support.messages import MAX_LISTED
from actassert._support.messages import fail as _fail
from actassert._support.messages import listing as _listing
from actassert._support.modes import mode_dependent
from actassert.invariance import assert_deterministic
from actassert.proportions import Share, fisher_exact
from actassert.tuning import (
    KernelSelection,
    Tuning,
    TuningError,
    _check_fraction,
    median_preferred,
)
from actassert.types import HasShape, ModelLike

__all__ = [
    "assert_selective", "assert_not_selective", "assert_prefers", "assert_more_selective",
    "assert_prefers_larger", "assert_shape", "assert_eval_mode", "assert_deterministic",
    "mode_dependent", "assert_more_selective_than_control",
]

def _label(kernel: int) -> str:
    return f"K={kernel:03d}"


def _num(x: float, ref: float | None = None, digits: int = 2) -> str:
    """``x`` with enough decimals to tell it apart from ``ref`` (0.299 is not shown as 0.30)."""
    while ref is not None and digits < 6 and x != ref and f"{x:.{digits}f}" == f"{ref:.{digits}f}":
        digits += 1
    return f"{x:.{digits}f}"


def _thr(x: float) -> str:
    """A threshold as the user wrote it, at least two decimals (0.3 -> 0.30, 0.864 -> 0.864)."""
    return f"{x:.2f}" if round(x, 2) == x else f"{x:g}"


def _pct(x: float, ref: float | None = None) -> str:
    return _num(100 * x, None if ref is None else 100 * ref, 0) + "%"


def _kernels(ids: Tensor, index: Tensor, silent: Tensor, order: Tensor, ref: float | None) -> str:
    return _listing([f"{_label(int(ids[i]))} "
                     + ("unresponsive" if silent[i] else _num(float(index[i]), ref))
                     for i in order.tolist()])


def _topic(tuning: Tuning, prefix: str = "") -> str:
    name = {"hue": "colour", "color": "colour"}.get(tuning.parameter.lower(), tuning.parameter)
    return f"{name} {prefix}selectivity"


def _header(tuning: Tuning, what: str) -> str:
    layer = "an unnamed layer" if tuning.layer is None else f"layer {tuning.layer!r}"
    return f"{what} check failed for {layer}, parameter {tuning.parameter!r}"


def _register(tuning: Tuning, kernels: KernelSelection | None, check: str) -> Tuning:
    """Register ``tuning`` for failure artefacts and return the subset of ``kernels`` checked."""
    record = evidence.current()
    record.add_tuning(tuning)
    if kernels is None:
        return tuning
    subset = tuning.select(kernels)
    ids = subset.kernel_ids.tolist()
    tuning.focus.extend(k for k in ids if k not in tuning.focus)
    record.add_note(f"{check}: layer {tuning.layer!r}, {tuning.parameter}, kernels "
                        + _listing([_label(k) for k in ids]))
    return subset


def _show(tuning: Tuning, kernel_ids: Sequence[int], why: str) -> None:
    """Before a tuning assertion fails: make its figure show the kernels the message names.

    The tuning plot then draws exactly ``kernel_ids`` with ``why`` in its title, and the maps of
    the stimulus the first of them prefers are captured now, inside the test, so the failure
    report draws its kernel grids without running the network again.
    """
    tuning.focus[:] = list(dict.fromkeys(int(k) for k in kernel_ids))
    tuning.focus_reason = why
    record = evidence.current()
    responses = getattr(tuning, "responses", None)
    if responses is not None and record.keeps and record.wants_figures:
        responses.capture_maps(responses.preferred_stimulus(tuning))


def _which(sub: Tuning, kernels: KernelSelection | None) -> str:
    if kernels is None:
        return ""
    return f" ({_listing([_label(k) for k in sub.kernel_ids.tolist()])})"


def _silent_note(sub: Tuning) -> list[str]:
    silent = ~sub.responsive()
    n = int(silent.sum())
    if n == 0:
        return []
    ids = _listing([_label(k) for k in sub.kernel_ids[silent].tolist()])
    hint = "; rectify='shift' measures negative-going responses" if sub.rectify == "relu" else ""
    kernels = "1 kernel" if n == 1 else f"{n} kernels"
    criterion = (sub.responsiveness.describe() if sub.responsiveness is not None else
                 "responsive: not silent (responsiveness=None)")
    return [f"Unresponsive: {kernels} ({ids}) count as not selective; {criterion}; "
            f"{int(sub.silent().sum())} of them silent (no positive response after "
            f"{sub.rectify}){hint}"]


# -- tuning assertions -------------------------------------------------------------------------

def assert_selective(tuning: Tuning, kernels: KernelSelection | None = None, *, min_index: float,
                     min_fraction: float | None = None, method: str | None = None) -> None:
    """Assert that kernels are selective for the swept parameter.

    Without ``min_fraction`` every kernel in ``kernels`` (default: all) needs a selectivity index
    of at least ``min_index``; with it, at least that share of them does. Silent kernels never
    count as selective. See ``Tuning.selectivity`` for the indices.

    Example:
        >>> tun = Tuning(hues.params["hue"], resp["conv1"], circular=360)  # doctest: +SKIP
        >>> assert_selective(tun, min_index=0.3, min_fraction=0.2)  # doctest: +SKIP
        >>> assert_selective(tun, [12, 40], min_index=0.5)  # doctest: +SKIP
    """
    __tracebackhide__ = True
    sub = _register(tuning, kernels, "assert_selective")
    min_index = _check_fraction(min_index, "min_index")
    index, silent = sub.selectivity(method), ~sub.responsive()
    ok = (index >= min_index) & ~silent
    n_ok, k = int(ok.sum()), sub.kernels
    order = torch.argsort(torch.where(silent, -1.0, index), stable=True)
    if min_fraction is None:
        if n_ok == k:
            return
        expected = (f"every one of {k} kernels{_which(sub, kernels)} with selectivity index "
                    f">= {_thr(min_index)}")
        obtained = f"{k - n_ok} of {k} below {_thr(min_index)}"
        spread: list[str] = []
    else:
        min_fraction = _check_fraction(min_fraction, "min_fraction")
        if n_ok >= min_fraction * k - 1e-9:
            return
        expected = (f"at least {_pct(min_fraction)} of {k} kernels{_which(sub, kernels)} with "
                    f"selectivity index >= {_thr(min_index)}")
        obtained = f"{_pct(n_ok / k, min_fraction)} ({n_ok} of {k})"
        q = torch.quantile(index, torch.tensor([0.25, 0.5, 0.75], dtype=index.dtype)).tolist()
        best = int(order[-1])
        spread = [(f"Distribution: index quartiles {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}, max "
                  f"{_num(float(index[best]), min_index)} ({_label(int(sub.kernel_ids[best]))})")]
    _show(tuning, sub.kernel_ids[order[:MAX_LISTED]].tolist(), "the least selective, named "
          "in the failure")
    _fail(_header(tuning, _topic(tuning)), expected, obtained,
          [f"Least selective kernels: {_kernels(sub.kernel_ids, index, silent, order, min_index)}",
           *spread, *_silent_note(sub), f"Index: {sub.describe_index(method)}"],
          f"lower min_index/min_fraction, or check the kernels and the stimulus sweep "
          f"({sub.describe_sweep()})")


def assert_not_selective(tuning: Tuning, kernels: KernelSelection | None = None, *,
                         max_index: float, method: str | None = None) -> None:
    """Assert that kernels are not selective: every index is at most ``max_index``.

    Useful for the converse claim, e.g. an achromatic kernel responds alike to every hue. A silent
    kernel has index 0 and passes.

    Example:
        >>> assert_not_selective(tun, [7], max_index=0.1)  # doctest: +SKIP
    """
    __tracebackhide__ = True
    sub = _register(tuning, kernels, "assert_not_selective")
    max_index = _check_fraction(max_index, "max_index")
    index, silent = sub.selectivity(method), ~sub.responsive()
    bad = index > max_index
    if not bool(bad.any()):
        return
    n_bad, k = int(bad.sum()), sub.kernels
    order = torch.argsort(index, descending=True, stable=True)[:n_bad]
    _show(tuning, sub.kernel_ids[order[:MAX_LISTED]].tolist(), "the most selective, named in "
          "the failure")
    _fail(_header(tuning, _topic(tuning, "non-")),
          f"every one of {k} kernels{_which(sub, kernels)} with selectivity index "
          f"<= {_thr(max_index)}",
          f"{n_bad} of {k} above {_thr(max_index)}",
          [f"Most selective kernels: {_kernels(sub.kernel_ids, index, silent, order, max_index)}",
           f"Index: {sub.describe_index(method)}"],
          f"raise max_index, or check the kernels and the stimulus sweep ({sub.describe_sweep()})")


def assert_prefers(tuning: Tuning, kernel: int, value: float, *, tolerance: float) -> None:
    """Assert that a kernel's preferred value lies within ``tolerance`` of ``value``.

    The distance is circular for circular parameters (350 is 20 away from 10 on a hue circle) and
    in octaves for ``scale="log"``; the preferred value is the peak of the sampled mean curve.

    Example:
        >>> assert_prefers(tun, 12, 120, tolerance=20)  # doctest: +SKIP
    """
    __tracebackhide__ = True
    sub = _register(tuning, [kernel], "assert_prefers")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise TuningError(f"tolerance={tolerance!r} is not a number >= 0")
    if not math.isfinite(value) or (tuning.scale == "log" and value <= 0):
        raise TuningError(f"value={value!r} is not a finite {tuning.parameter} value"
                          + (" > 0 (log scale)" if tuning.scale == "log" else ""))
    preferred = float(sub.preferred()[0])
    distance = float(tuning.distance(preferred, value))
    if distance <= tolerance + 1e-9 * max(1.0, abs(tolerance)):
        return
    p, fmt = tuning.parameter, "{:g}".format
    unit = " octaves" if tuning.scale == "log" and tuning.circular is None else ""
    how = (f"circular distance, period {fmt(tuning.circular)}" if tuning.circular is not None
           else "log scale" if tuning.scale == "log" else "absolute difference")
    curve = sub.curves[:, 0]
    top = torch.argsort(curve, descending=True, stable=True)[:5].tolist()
    if bool(sub.silent()[0]):
        state = "is silent: no positive response"
    elif len(sub.values) >= 3:
        state = f"has selectivity index {float(sub.selectivity()[0]):.2f} ({sub.describe_index()})"
    else:
        state = "has no selectivity index (fewer than 3 values)"
    step = float(sub.distance(sub.values[1:], sub.values[:-1]).max()) if len(sub.values) > 1 else 0
    grid = (f"; the sweep samples {p} only every {fmt(step)}{unit}, so tolerance="
            f"{fmt(tolerance)} can fail on the grid alone" if tolerance < step / 2 else "")
    name = _label(kernel)
    top_responses = ", ".join(f"{p} {fmt(float(sub.values[i]))} {float(curve[i]):.3g}" for i in top)
    _show(tuning, [kernel], "the kernel named in the failure")
    _fail(_header(tuning, f"preferred {p}"),
          f"{name} prefers {p} {fmt(value)} +/- {fmt(tolerance)}{unit} ({how})",
          f"{name} prefers {p} {fmt(preferred)}, {fmt(distance)}{unit} away",
          [f"Top responses: {top_responses}", f"Kernel: {name} {state}"],
          f"check the kernel id and the expected {p}, or widen tolerance{grid} "
          f"(sweep: {sub.describe_sweep()})")


def assert_more_selective(early: Tuning, late: Tuning, *, by: str = "fraction",
                          min_index: float | None = None, margin: float = 0.0,
                          method: str | None = None) -> None:
    """Assert that layer ``early`` is more selective than ``late`` (colour kernels commoner early).

    ``by="fraction"`` compares ``fraction_selective(min_index)``: early > late + margin.
    ``by="median"`` compares the median selectivity indices the same way.

    Example:
        >>> assert_more_selective(conv1, layer4, min_index=0.3, margin=0.05)  # doctest: +SKIP
    """
    __tracebackhide__ = True
    evidence.current().add_tuning(early)
    evidence.current().add_tuning(late)
    if by not in ("fraction", "median"):
        raise TuningError(f"by={by!r} is not 'fraction' or 'median'")
    if by == "fraction" and min_index is None:
        raise TuningError("by='fraction' needs min_index=..., the index a selective kernel reaches")
    if early.parameter != late.parameter or early.circular != late.circular:
        raise TuningError(f"cannot compare parameter {early.parameter!r} (circular="
                          f"{early.circular}) with {late.parameter!r} (circular={late.circular})")
    if min_index is not None and by == "fraction":
        a = early.fraction_selective(min_index, method)
        b = late.fraction_selective(min_index, method)
        show: Callable[[float], str] = _pct
        what = f"share of kernels with selectivity index >= {_thr(min_index)}"
    else:
        a, b = early.median_index(method), late.median_index(method)
        show = _num
        what = "median selectivity index"
    if a > b + margin:
        return
    ea, la = _name(early), _name(late)
    rows: list[tuple[str, str, str]] = [("", f"early {ea}", f"late {la}"),
                                        ("Kernels", str(early.kernels), str(late.kernels))]
    cells = []
    for t in (early, late):
        index, silent = t.selectivity(method), ~t.responsive()
        order = torch.argsort(index, descending=True, stable=True)[:3]
        sel = (f"{_pct(t.fraction_selective(min_index, method))} "
               f"({int(((index >= min_index) & ~silent).sum())})" if min_index is not None else "-")
        cells.append((sel, _num(t.median_index(method)), str(int(silent.sum())),
                      _kernels(t.kernel_ids, index, silent, order, None)))
    sel_label = f"Selective >= {_thr(min_index)}" if min_index is not None else "Selective"
    for i, label in enumerate((sel_label, "Median index", "Unresponsive", "Most selective")):
        rows.append((label, cells[0][i], cells[1][i]))
    w0, w1 = max(len(r[0]) for r in rows) + 2, max(len(r[1]) for r in rows) + 3
    table = [(r[0].ljust(w0) + r[1].ljust(w1) + r[2]).rstrip() for r in rows]
    _fail(f"{_topic(early)} comparison failed for layers {ea} (early) and {la} (late), parameter "
          f"{early.parameter!r}",
          f"{what} in {ea} > in {la} + margin {show(margin)}",
          f"{ea} {show(a)} vs {la} {show(b)}: difference {show(a - b)}, needs more than "
          f"{show(margin)}",
          [*table, f"Index: {early.describe_index(method)}"],
          f"check that early and late are in the right order, lower margin or change min_index; "
          f"sweeps: {early.describe_sweep()} / {late.describe_sweep()}")


def assert_more_selective_than_control(trained: Tuning, control: Tuning, *, min_index: float,
                                       alpha: float = 0.05, method: str | None = None) -> None:
    """Assert that a layer of the trained network has more selective kernels than the same
    layer of its untrained twin, by a one-sided Fisher's exact test at level ``alpha``.

    Selective means responsive (``Tuning.responsive()``) with index >= ``min_index``; the
    shares are of all kernels. Kernels are not independent samples, so the p-value is
    descriptive: the message gives both shares with their 95% Wilson intervals.

    Example:
        >>> trained = resp.tuning("hue", "features.18.2")  # doctest: +SKIP
        >>> twin = aa.sweep(aa.load_model("mobilenet_v2", weights=None), discs,
        ...                 ["features.18.2"], baseline=True).tuning("hue", "features.18.2")  # doctest: +SKIP
        >>> assert_more_selective_than_control(trained, twin, min_index=0.3)  # doctest: +SKIP
    """
    __tracebackhide__ = True
    evidence.current().add_tuning(trained)
    evidence.current().add_tuning(control)
    min_index = _check_fraction(min_index, "min_index")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise TuningError(f"alpha={alpha!r} is not a significance level in (0, 1); it is the "
                          "largest p-value of the one-sided Fisher's exact test that passes. "
                          "Fix: use alpha=0.05 (the default) or another level between 0 and 1")
    if trained.parameter != control.parameter or trained.circular != control.circular:
        raise TuningError(f"cannot compare parameter {trained.parameter!r} with "
                          f"{control.parameter!r}: sweep the same stimuli through both networks")
    counts = [int(t.selective(min_index, method).sum()) for t in (trained, control)]
    p = fisher_exact(counts[0], trained.kernels, counts[1], control.kernels, "greater")
    if p < alpha:
        return
    a, b = Share(counts[0], trained.kernels), Share(counts[1], control.kernels)
    _fail(f"{_topic(trained)} control check failed for layer {_name(trained)}, trained vs "
          "untrained",
          f"more kernels with selectivity index >= {_thr(min_index)} in the trained network, "
          f"one-sided Fisher's exact test p < {alpha:g}",
          f"trained {a.text()} ({a.k} of {a.n}) vs untrained {b.text()} ({b.k} of {b.n}): "
          f"p = {p:.3g}",
          [*_silent_note(trained), f"Index: {trained.describe_index(method)}",
           "Shares with 95% Wilson intervals; kernels are not independent samples, so the "
           "p-value is descriptive"],
          "check that the control is the untrained twin of the same layer, or lower min_index; "
          "an effect the untrained twin shows too comes from the architecture, not training")


def _typical_preference(t: Tuning, min_index: float | None) -> tuple[float, int]:
    """Median preferred value of the selective (or all responsive) kernels, and how many."""
    pref = t.preferred()
    keep = t.responsive() if min_index is None else t.selective(min_index)
    if not bool(keep.any()):
        return float("nan"), 0
    return median_preferred(pref[keep], log=t.scale == "log"), int(keep.sum())


def assert_prefers_larger(early: Tuning, late: Tuning, *, min_index: float | None = None,
                          factor: float = 1.0) -> None:
    """Assert that ``late``'s kernels prefer larger values than ``early``'s (e.g. sizes grow with depth).

    Compares the median preferred value of each layer's kernels (those with selectivity index
    >= ``min_index`` when given, else every non-silent kernel; on a log scale the median is taken
    of the logarithms): late >= factor * early. Not for circular parameters.

    Example:
        >>> assert_prefers_larger(resp.tuning("size", "features.2.conv.0", scale="log"),
        ...                       resp.tuning("size", "features.11.conv.1", scale="log"),
        ...                       min_index=0.3, factor=2)  # doctest: +SKIP
    """
    __tracebackhide__ = True
    evidence.current().add_tuning(early)
    evidence.current().add_tuning(late)
    if early.circular or late.circular:
        raise TuningError("assert_prefers_larger compares linear parameters (size, spatial "
                          f"frequency); {early.parameter!r} is circular")
    if early.parameter != late.parameter:
        raise TuningError(f"cannot compare parameter {early.parameter!r} with {late.parameter!r}")
    if factor <= 0 or not math.isfinite(factor):
        raise TuningError(f"factor={factor!r} must be a positive number")
    a, na = _typical_preference(early, min_index)
    b, nb = _typical_preference(late, min_index)
    if na and nb and b >= factor * a:
        return
    which = "every non-silent kernel" if min_index is None else \
        f"kernels with selectivity index >= {_thr(min_index)}"
    ea, la = _name(early), _name(late)
    _fail(f"{early.parameter} preference comparison failed for layers {ea} (early) and {la} "
          f"(late)",
          f"median preferred {early.parameter} in {la} >= {factor:g} x the one in {ea}",
          f"{ea} {a:.4g} ({na} of {early.kernels} kernels) vs {la} {b:.4g} "
          f"({nb} of {late.kernels} kernels)",
          [f"Kernels counted: {which}", f"Sweep: {early.describe_sweep()}"],
          "check the layer order and the sweep's range (a preference at the sweep's edge is "
          "only a bound), lower factor, or lower min_index")


def _name(t: Tuning) -> str:
    return "(unnamed)" if t.layer is None else repr(t.layer)


# -- generic assertions ------------------------------------------------------------------------

def assert_shape(tensor: HasShape, expected: Sequence[int | EllipsisType | None], *, name: str | None = None) -> None:
    """Assert a tensor's shape; ``None`` matches any size, one ``...`` any number of dimensions.

    Example:
        >>> assert_shape(torch.zeros(4, 64, 28, 28), (4, None, 28, 28), name="layer2")
        >>> assert_shape(torch.zeros(4, 64, 28, 28), (4, ...))
    """
    __tracebackhide__ = True
    exp = tuple(expected)
    valid = all(e is None or e is Ellipsis or (type(e) is int and e >= 0) for e in exp)
    if not valid or exp.count(Ellipsis) > 1:
        raise TypeError(f"expected={expected!r} must hold sizes >= 0, None (any size) and at most "
                        "one ... (any number of dimensions)")
    shape = tuple(int(s) for s in tensor.shape)
    if Ellipsis in exp:
        cut = exp.index(Ellipsis)
        head, tail = exp[:cut], exp[cut + 1:]
        rank_ok = len(shape) >= len(head) + len(tail)
        pairs = [*enumerate(head), *((len(shape) - len(tail) + j, e) for j, e in enumerate(tail))]
        rank = f"at least {len(exp) - 1}"
    else:
        rank_ok, pairs, rank = len(shape) == len(exp), list(enumerate(exp)), str(len(exp))
    diffs = [f"Differs: dim {i}: expected {e}, obtained {shape[i]}"
             for i, e in pairs if rank_ok and e is not None and shape[i] != e]
    if rank_ok and not diffs:
        return
    shown = "(" + ", ".join("..." if e is Ellipsis else str(e) for e in exp)
    shown += ",)" if len(exp) == 1 else ")"
    _fail(f"shape check failed for {'tensor' if name is None else repr(name)}",
          f"{shown}  (None = any size, ... = any number of dims)", str(shape),
          diffs or [f"Differs: rank: expected {rank} dims, obtained {len(shape)}"],
          "check the layer name and the input size; activation maps are [N, K, H, W], "
          "responses from sweep [N, K], images [N, 3, H, W]")


def assert_eval_mode(model: ModelLike) -> None:
    """Assert that every submodule is in eval mode (Dropout off, BatchNorm on running stats).

    Accepts an ``nn.Module`` or a wrapper with a ``module`` attribute (``actassert.Network``).
    On failure the modules whose behaviour depends on the mode (see :func:`mode_dependent`)
    are named first, then the rest left in train mode.

    Example:
        >>> assert_eval_mode(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval())
    """
    __tracebackhide__ = True
    module = model if isinstance(model, nn.Module) else getattr(model, "module", None)
    if not isinstance(module, nn.Module):
        raise TypeError(f"assert_eval_mode needs an nn.Module; got {type(model).__name__}")
    mods = list(module.named_modules())
    train = [(f"{repr(n) if n else '(root)'} ({type(m).__name__})", mode_dependent(m))
             for n, m in mods if m.training]
    if not train:
        return
    dependent = [text for text, flag in train if flag]
    others = [text for text, flag in train if not flag]
    details = [f"Mode-dependent in train mode: {_listing(dependent) or 'none'}"]
    if others:
        details.append(f"Also in train mode: {_listing(others)}")
    label = getattr(model, "name", None) or type(module).__name__
    _fail(f"eval mode check failed for model {label}",
          "every submodule in eval mode (training=False)",
          f"{len(train)} of {len(mods)} modules in train mode, {len(dependent)} of them "
          "mode-dependent (Dropout, BatchNorm, ...)",
          details,
          "call model.eval() before recording or asserting (Dropout and BatchNorm behave "
          "differently in train mode); actassert.load_model returns models in eval mode")
