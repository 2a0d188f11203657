"""Activations that must not change: across runs, across batch compositions, with hooks on or off.

``assert_deterministic``, ``assert_batch_invariant`` and ``assert_hooks_transparent`` record the
requested layers (every one by default), compare them layer by layer in forward order and name
the first layer that breaks. Every check leaves the model's train/eval flags, its buffers
(BatchNorm running statistics), torch's determinism flags and the random generators as it
found them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import torch
from torch import Tensor

from actassert._support.compiled import eager_while_recording
from actassert._support.messages import fail, listing
from actassert.determinism import RandomStates, TorchFlags
from actassert.layers import root_module
from actassert.probe import probe
from actassert.types import ForwardLike, ModelLike

__all__ = ["assert_deterministic", "assert_batch_invariant", "assert_hooks_transparent",
           "batch_differences", "check_batch_invariant", "check_deterministic", "default_tolerance",
           "reference_run", "untouched", "OUTPUT"]

OUTPUT = "(output)"
"""The key of the model's output among the recorded layers (``(output)[0]``, ... for tuples)."""

_RUN_RTOL = {torch.float16: 1e-3, torch.bfloat16: 1e-2, torch.float32: 1e-5, torch.float64: 1e-12}
"""Run-to-run tolerance off the CPU (atomics in GPU kernels), relative to the layer's scale."""

_BATCH_RTOL_CPU = {torch.float16: 1e-2, torch.bfloat16: 5e-2, torch.float32: 1e-4,
                   torch.float64: 1e-12}
"""Batch-size tolerance on the CPU. Measured (``python scripts/measure_batch_invariance.py``, float32,
batch of 4 vs one at a time): ResNet-18 differs by at most 3.9e-7 of a layer's largest magnitude,
MobileNetV2 by 9.3e-7; 1e-4 leaves a factor 100."""

_BATCH_RTOL_CUDA = {torch.float16: 1e-2, torch.bfloat16: 5e-2, torch.float32: 5e-3,
                    torch.float64: 1e-10}
"""Batch-size tolerance on CUDA: cuDNN picks kernels per batch size, convolutions run in TF32."""


def default_tolerance(check: str, device: Any, dtype: torch.dtype) -> tuple[float, float]:
    """The default ``(rtol, atol)`` of a check (``"runs"`` or ``"batch"``) on a device and dtype.

    ``rtol`` is relative to the largest magnitude in the layer's reference tensor; a value is
    accepted when ``|a - b| <= atol + rtol * max|reference|``. Runs on the CPU are compared
    bit for bit; integer and bool tensors always are.

    Example:
        >>> default_tolerance("runs", "cpu", torch.float32)
        (0.0, 0.0)
    """
    kind = torch.device(device).type
    if not dtype.is_floating_point or (check == "runs" and kind == "cpu"):
        return 0.0, 0.0
    table = _RUN_RTOL if check == "runs" else _BATCH_RTOL_CPU if kind == "cpu" else _BATCH_RTOL_CUDA
    return table.get(dtype, 1e-3), 0.0


# -- state kept intact -------------------------------------------------------------------------

@contextlib.contextmanager
def untouched(model: ModelLike) -> Iterator[None]:
    """Restore train/eval flags, buffers changed in place, torch flags and generators on exit."""
    root = root_module(model)
    modes = {m: m.training for m in root.modules()}
    buffers = [(b, b.detach().clone()) for b in root.buffers()]
    flags, states = TorchFlags.capture(), RandomStates.capture()
    try:
        yield
    finally:
        for module, flag in modes.items():
            module.training = flag
        with torch.no_grad():
            for buffer, saved in buffers:
                if not torch.equal(buffer, saved):  # BatchNorm in train mode updated its stats
                    buffer.copy_(saved)
        flags.apply()
        states.restore()


# -- forwards ----------------------------------------------------------------------------------

def flatten_outputs(out: Any, prefix: str = "") -> dict[str, Tensor]:
    """A model's or function's output as named detached clones (a tensor, mapping or sequence).

    A tensor is called ``prefix`` (default ``output``), a mapping's values ``prefix[key]`` (or
    the bare key), a sequence's ``prefix[i]``.
    """
    if isinstance(out, Tensor):
        return {prefix or "output": out.detach().clone()}
    if isinstance(out, Mapping):
        items = [(f"{prefix}[{k!r}]" if prefix else str(k), v) for k, v in out.items()]
    elif isinstance(out, (list, tuple)):
        items = [(f"{prefix}[{i}]", v) for i, v in enumerate(out)]
    else:
        raise TypeError("assert_deterministic needs fn to return a tensor, a mapping or a "
                        f"sequence of tensors; got {type(out).__name__}")
    if not all(isinstance(v, Tensor) for _, v in items):
        raise TypeError("assert_deterministic needs every output of fn to be a tensor")
    return {k: v.detach().clone() for k, v in items}


def _call(model: ModelLike, images: Tensor) -> Any:
    with torch.no_grad():
        return model(images)


@dataclass
class Reference:
    """A run kept whole, for later runs to be compared with as their outputs arrive.

    Attributes:
        tensors: every recorded layer in forward order, then the outputs under ``OUTPUT``.
        keys: ``(module, call)`` -> the layer's key in ``tensors``.
    """

    tensors: dict[str, Tensor]
    keys: dict[tuple[str, int], str]


def _probe(model: ModelLike, images: Tensor, layers: str | Iterable[str],
           sink: Callable[[str, int, Tensor], None]) -> tuple[Any, Any]:
    """The quiet forward of every check here: all modules for ``"all"``, non-tensor outputs
    skipped, each recorded output handed to ``sink`` instead of kept."""
    pattern = "**" if layers == "all" else layers
    return probe(model, pattern, images, skip_non_tensors=True, sink=sink)


def reference_run(model: ModelLike, images: Tensor, layers: str | Iterable[str]) -> Reference:
    """One forward with ``layers`` recorded and kept (the run later ones are compared with).

    Each output is copied as its hook sees it, once per distinct tensor: a container returns its
    last child's output, so ``"**"`` sees the same map under several names, and they share one
    copy (a map changed in place in between, as by ``ReLU(inplace=True)``, is copied again).
    """
    kept: dict[tuple[str, int], Tensor] = {}
    # (live output, its version then, its copy): the latest few, held so that their memory
    # cannot be taken by another output while they are compared with
    recent: list[tuple[Tensor, int, Tensor]] = []

    def sink(name: str, call: int, tensor: Tensor) -> None:
        for live, version, copy in recent:
            if tensor._version == version and _same_view(live, tensor):
                kept[(name, call)] = copy
                return
        kept[(name, call)] = tensor.clone()
        recent[:0] = [(tensor, tensor._version, kept[(name, call)])]
        del recent[_RECENT:]

    acts, out = _probe(model, images, layers, sink)
    keys = {pair: acts._key(*pair) for pair in kept}
    tensors = {keys[pair]: tensor for pair, tensor in kept.items()}
    return Reference({**tensors, **flatten_outputs(out, OUTPUT)}, keys)


_RECENT = 4
"""Outputs a reference run remembers to find a container's output, which is its last child's."""


def _same_view(a: Tensor, b: Tensor) -> bool:
    """Whether ``b`` is the same view of the same memory as ``a`` (a container's output and its
    last child's)."""
    return (a.data_ptr() == b.data_ptr() and a.dtype == b.dtype and a.device == b.device
            and a.shape == b.shape and a.stride() == b.stride())


class _LastComparison:
    """The latest comparison of a streamed run, reused for the next output when that is the same
    map compared with the same reference (a container's output and its last child's)."""

    def __init__(self) -> None:
        self.last: tuple[Tensor, int, Tensor, Difference] | None = None

    def compare(self, key: str, ref: Tensor, now: Tensor, rtol: float, atol: float,
                base: Tensor | None = None) -> Difference:
        """:func:`compare`, or the latest result under ``key``; ``base`` is what ``ref`` was
        taken from (a batch's row is a new view each time)."""
        origin = ref if base is None else base
        if self.last is not None:
            live, version, seen, d = self.last
            if seen is origin and now._version == version and _same_view(live, now):
                return dataclasses.replace(d, key=key)
        d = compare(key, ref, now, rtol, atol)
        self.last = (now, now._version, origin, d)
        return d


def _forward(model: ModelLike, images: Tensor, layers: str | Iterable[str]) -> dict[str, Tensor]:
    """One forward: every recorded layer in forward order, then the outputs under ``OUTPUT``."""
    return reference_run(model, images, layers).tensors


def _streamed(model: ModelLike, images: Tensor, layers: str | Iterable[str],
              keys: Mapping[tuple[str, int], str],
              on_tensor: Callable[[str, Tensor], None]) -> None:
    """One forward whose recorded outputs go to ``on_tensor(key, tensor)`` as the hooks see them,
    none kept; then its outputs, under ``OUTPUT``. Keys come from the reference (``keys``); an
    output the reference did not record is passed over."""

    def sink(name: str, call: int, tensor: Tensor) -> None:
        key = keys.get((name, call))
        if key is not None:
            on_tensor(key, tensor)

    _, out = _probe(model, images, layers, sink)
    for key, tensor in flatten_outputs(out, OUTPUT).items():
        on_tensor(key, tensor)


def _check_images(images: Any, check: str, least: int = 1) -> None:
    if not isinstance(images, Tensor) or images.dim() < 1 or len(images) < least:
        got = (f"shape {tuple(images.shape)}" if isinstance(images, Tensor)
               else type(images).__name__)
        raise ValueError(f"{check} needs images as a tensor [N, ...] with N >= {least}; got {got}")


# -- comparing tensors -------------------------------------------------------------------------

@dataclass
class Difference:
    """How one tensor differs from its reference: the largest difference, where, how many."""

    key: str
    worst: float
    scale: float
    where: tuple[int, ...]
    reference: float
    obtained: float
    beyond: int
    total: int
    mismatch: tuple[str, str] | None = None

    @property
    def relative(self) -> float:
        """``worst`` as a share of the reference's largest magnitude."""
        return self.worst / self.scale if self.scale > 0 else (math.inf if self.worst else 0.0)

    def describe(self, ref: str, now: str) -> str:
        """A sentence such as ``max |difference| 0.5 at (0, 3) (run 1 1, run 2 1.5), ...``."""
        if self.mismatch is not None:
            return f"{self.mismatch[1]}, {ref} {self.mismatch[0]}"
        return (f"max |difference| {self.worst:.3g} at {self.where} ({ref} {self.reference:.6g}, "
                f"{now} {self.obtained:.6g}), {self.beyond} of {self.total} elements differ")


_CHUNK = 1 << 22
"""Elements compared at once: bounds a comparison's temporaries (16 MB in float32)."""


def compare(key: str, ref: Tensor, now: Tensor, rtol: float, atol: float) -> Difference:
    """Compare ``now`` with ``ref``: NaN equals NaN, ``|a - b| <= atol + rtol * max|ref|`` passes.

    Floats are compared in their own dtype (half precision in float32), on their device and in
    chunks; only the worst element is read out in float64, for the report.
    """
    if now.shape != ref.shape or now.dtype != ref.dtype:
        return Difference(key, math.inf, 0.0, (), math.nan, math.nan, 1, 1,
                          (f"{tuple(ref.shape)} {ref.dtype}", f"{tuple(now.shape)} {now.dtype}"))
    now = now.to(ref.device)
    if ref.numel() == 0 or torch.equal(ref, now):  # the common case, without a float64 copy
        return Difference(key, 0.0, 0.0, (), 0.0, 0.0, 0, ref.numel())
    if not ref.dtype.is_floating_point:  # integers and bools: exact, in float64
        return _compare_exact(key, ref, now, rtol, atol)
    a, b = ref.detach().reshape(-1), now.detach().reshape(-1)
    scale = _largest_finite(a)
    limit = atol + rtol * scale
    worst, flat, beyond = -1.0, 0, 0
    for start in range(0, a.numel(), _CHUNK):
        diff = _abs_difference(a[start:start + _CHUNK], b[start:start + _CHUNK])
        i = int(diff.argmax())
        if float(diff[i]) > worst:
            worst, flat = float(diff[i]), start + i
        beyond += int(torch.count_nonzero(diff > limit))
    x, y = float(a[flat]), float(b[flat])  # the worst element, in float64
    if math.isfinite(x) and math.isfinite(y):
        worst = abs(x - y)
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), ref.shape))
    return Difference(key, worst, scale, where, x, y, beyond, a.numel())


def _largest_finite(a: Tensor) -> float:
    """The largest finite magnitude in ``a`` (0 when there is none)."""
    low, high = torch.aminmax(a)
    scale = max(-float(low), float(high))
    if math.isfinite(scale):
        return scale
    finite = torch.where(a.isfinite(), a.abs(), 0.0)
    return float(finite.max())


def _abs_difference(a: Tensor, b: Tensor) -> Tensor:
    """``|a - b|`` in the dtype of ``a`` (float32 for half precision): 0 where both are NaN,
    infinite where one is."""
    if a.dtype in (torch.float16, torch.bfloat16):
        a, b = a.float(), b.float()
    diff = (a - b).abs_()
    if math.isnan(float(diff.sum())):  # a sum of magnitudes is NaN only when one is
        diff = diff.nan_to_num_(nan=math.inf, posinf=math.inf).masked_fill_(
            a.isnan() & b.isnan(), 0.0)
    return diff


def _compare_exact(key: str, ref: Tensor, now: Tensor, rtol: float, atol: float) -> Difference:
    """``compare`` for integer and bool tensors, in float64 on the CPU."""
    a, b = ref.detach().double().flatten().cpu(), now.detach().double().flatten().cpu()
    diff = (a - b).abs()
    scale = float(a.abs().max())
    flat = int(diff.argmax())
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), ref.shape))
    beyond = int((diff > atol + rtol * scale).sum())
    return Difference(key, float(diff[flat]), scale, where, float(a[flat]), float(b[flat]),
                      beyond, a.numel())


def _tolerance(check: str, ref: Tensor, rtol: float | None, atol: float | None
               ) -> tuple[float, float]:
    d_rtol, d_atol = default_tolerance(check, ref.device, ref.dtype)
    return (d_rtol if rtol is None else rtol), (d_atol if atol is None else atol)


def _check_tolerances(rtol: float | None, atol: float | None) -> None:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and not (isinstance(value, (int, float)) and value >= 0):
            raise ValueError(f"{name}={value!r} must be a number >= 0 (or None for the default)")


def _mode(rtol: float, atol: float) -> str:
    if rtol == 0 and atol == 0:
        return "bit-identical"
    return f"within atol={atol:g} + rtol={rtol:g} x the layer's largest magnitude"


def _label(model: ModelLike) -> str:
    return getattr(model, "name", None) or type(root_module(model)).__name__


def _module_of(model: ModelLike, key: str) -> str:
    """``'Dropout, in train mode'`` for a recorded key's module, or ``''`` for outputs."""
    name = key.split("#")[0]
    module = dict(root_module(model).named_modules()).get(name)
    if key.startswith(OUTPUT) or module is None:
        return ""
    return f" ({type(module).__name__}, {'train' if module.training else 'eval'} mode)"


# -- assert_deterministic ----------------------------------------------------------------------

def _is_network(obj: object) -> TypeGuard[ModelLike]:
    return isinstance(obj, torch.nn.Module) or isinstance(getattr(obj, "module", None),
                                                          torch.nn.Module)


def assert_deterministic(fn: ForwardLike, *args: Any, layers: str | Iterable[str] = "all",
                         runs: int = 2, rtol: float | None = None, atol: float | None = None,
                         **kwargs: Any) -> None:
    """Assert that a network's activations, or a function's outputs, repeat on every run.

    **Network form** ``assert_deterministic(net, images, layers="all")``: ``net`` (an
    ``nn.Module`` or ``actassert.Network``) runs ``runs`` times on ``images`` with ``layers``
    recorded (every module by default) and its output kept; each run is compared with run 1
    layer by layer in forward order, and a failure names the **first layer that diverges**, with
    the size of the difference. Defaults: bit-identical on the CPU; elsewhere ``rtol`` from
    :func:`default_tolerance` (relative to the layer's largest magnitude).

    **Callable form** ``assert_deterministic(fn, *args, **kwargs)``: ``fn`` returns a tensor, a
    mapping or a sequence of tensors, compared bit for bit unless ``atol``/``rtol`` are given.

    Outputs are cloned at once, so a reused buffer cannot hide a difference; NaN equals NaN.
    ``*args`` and ``**kwargs`` are typed ``Any`` because they are passed to ``fn`` unchanged.
    Module modes, buffers, torch's flags and the random generators are restored afterwards.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU()).eval()
        >>> assert_deterministic(net, torch.ones(1, 4), runs=3)
        >>> assert_deterministic(lambda x: x * 2, torch.ones(3))
    """
    __tracebackhide__ = True
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 2:
        raise ValueError(f"runs={runs!r} must be an int >= 2")
    _check_tolerances(rtol, atol)
    if not _is_network(fn):
        if layers != "all":
            raise TypeError("layers= needs a network (nn.Module or actassert.Network), not a "
                            f"function {type(fn).__name__}")
        _callable_deterministic(fn, args, kwargs, runs, rtol or 0.0, atol or 0.0)
        return
    if len(args) != 1 or kwargs:
        raise TypeError("assert_deterministic(net, images, *, layers=..., runs=..., rtol=..., "
                        "atol=...) takes one images tensor; for a function with arguments pass "
                        "a callable")
    _check_images(args[0], "assert_deterministic")
    check_deterministic(fn, args[0], layers, runs, rtol, atol)


def _callable_deterministic(fn: Callable[..., Any], args: Any, kwargs: Any, runs: int,
                            rtol: float, atol: float) -> None:
    __tracebackhide__ = True
    fn_name = getattr(fn, "__qualname__", None) or type(fn).__name__
    first = flatten_outputs(fn(*args, **kwargs))
    problems: list[tuple[float, str, str]] = []
    for run in range(2, runs + 1):
        out = flatten_outputs(fn(*args, **kwargs))
        if out.keys() != first.keys():
            problems.append((math.inf, f"run {run} keys",
                             f"run {run} returned {sorted(out)}, run 1 {sorted(first)}"))
            continue
        for key, ref in first.items():
            d = compare(key, ref, out[key], rtol, atol)
            if d.beyond:
                label = f"{key!r} run {run}"
                problems.append((d.worst, f"{label} max {d.worst:.3g}",
                                 f"{label}: {d.describe('run 1', f'run {run}')}"))
    if not problems:
        return
    problems.sort(key=lambda p: -p[0])
    fail(f"determinism check failed for {fn_name} ({runs} runs)",
         f"the same outputs on every run ({_mode(rtol, atol)})", problems[0][2],
         [f"Differences: {listing([p[1] for p in problems])}"],
         "seed every random source inside fn, call model.eval() (Dropout), run inside "
         "actassert.deterministic() (deterministic kernels, cuDNN benchmark off), "
         "or pass atol=... if tiny float differences (GPU atomics) are acceptable")


def check_deterministic(model: ModelLike, images: Tensor, layers: Any, runs: int,
                        rtol: float | None, atol: float | None,
                        reference: Reference | None = None) -> None:
    """:func:`assert_deterministic` of a network on checked arguments: run 1 kept whole (or
    ``reference``, a run 1 made elsewhere: the battery shares it with batch invariance); each
    later run compared with it layer by layer as its outputs arrive, and dropped. The model's
    state is left as it was."""
    __tracebackhide__ = True
    with untouched(model):
        _compare_runs(model, images, layers, runs, rtol, atol, reference)


def _compare_runs(model: ModelLike, images: Tensor, layers: Any, runs: int, rtol: float | None,
                  atol: float | None, reference: Reference | None) -> None:
    """Each run after the first compared with run 1 (kept whole, or ``reference``)."""
    __tracebackhide__ = True
    first = reference or reference_run(model, images, layers)
    for run in range(2, runs + 1):
        found = _run_compared(model, images, layers, first, rtol, atol)
        diffs = []
        for key, ref in first.tensors.items():
            if key not in found:
                r, a = _tolerance("runs", ref, rtol, atol)
                found[key] = (Difference(key, math.inf, 0.0, (), math.nan, math.nan, 1, 1,
                                         ("recorded", "not recorded")), r, a)
            if found[key][0].beyond:
                diffs.append(found[key])
        if diffs:
            _fail_first(model, "determinism", f"{runs} runs", first.tensors, diffs, run)


def _run_compared(model: ModelLike, images: Tensor, layers: Any, first: Reference,
                  rtol: float | None, atol: float | None
                  ) -> dict[str, tuple[Difference, float, float]]:
    """One more run, each output compared with run 1's as it arrives: key -> (difference, rtol,
    atol)."""
    found: dict[str, tuple[Difference, float, float]] = {}
    last = _LastComparison()

    def on_tensor(key: str, now: Tensor) -> None:
        ref = first.tensors[key]
        r, a = _tolerance("runs", ref, rtol, atol)
        found[key] = (last.compare(key, ref, now, r, a), r, a)

    _streamed(model, images, layers, first.keys, on_tensor)
    return found


def _fail_first(model: ModelLike, what: str, runs: str, first: Mapping[str, Tensor],
                diffs: list[tuple[Difference, float, float]], run: int) -> None:
    __tracebackhide__ = True
    d, r, a = diffs[0]
    keys = list(first)
    before = keys[:keys.index(d.key)]
    agree = (f"{len(before)} of {len(keys)} recorded tensors before it agree"
             + (f" (last: {before[-1]!r})" if before else ""))
    later = [f"{x.key!r} max {x.worst:.3g}" for x, _, _ in diffs[1:]]
    fail(f"{what} check failed for {_label(model)} ({runs}, layer by layer in forward order)",
         f"the same activations on every run ({_mode(r, a)})",
         f"first divergence at {d.key!r}{_module_of(model, d.key)}, run {run}: "
         f"{d.describe('run 1', f'run {run}')}",
         [f"Before: {agree}",
          f"After: {listing(later) if later else 'nothing else differs'}"],
         f"look at {d.key!r}: call model.eval() (Dropout, BatchNorm), seed random sources, run "
         "inside actassert.deterministic() (the `deterministic` fixture), or pass "
         "rtol=/atol= if tiny float differences are acceptable")


# -- assert_batch_invariant --------------------------------------------------------------------

def _batch_comparison(model: ModelLike, images: Tensor, layers: Any, rtol: float | None,
                      atol: float | None, reference: Reference | None = None
                      ) -> dict[str, tuple[Difference, int, float, float]]:
    """Per key: the worst difference (over images) between the batch's row and the image alone.

    The batch's run is kept whole (or is ``reference``, made elsewhere); each image alone is
    compared with its row as its outputs arrive, and dropped.
    """
    if reference is None:
        with untouched(model):
            reference = reference_run(model, images, layers)
    batch, n = reference.tensors, len(images)
    worst: dict[str, tuple[Difference, int, float, float]] = {}
    last = _LastComparison()
    for i in range(n):
        def on_tensor(key: str, now: Tensor, i: int = i) -> None:
            ref = batch[key]
            if ref.dim() == 0 or ref.shape[0] != n:
                return  # not batch-major
            r, a = _tolerance("batch", ref, rtol, atol)
            d = last.compare(key, ref[i:i + 1], now, r, a, base=ref)
            if key not in worst or d.relative > worst[key][0].relative:
                d.where = (i, *d.where[1:]) if d.where else d.where
                worst[key] = (d, i, r, a)

        with untouched(model):
            _streamed(model, images[i:i + 1], layers, reference.keys, on_tensor)
    return {key: worst[key] for key in batch if key in worst}  # in the batch's forward order


def batch_differences(model: ModelLike, images: Tensor, layers: str | Iterable[str] = "all"
                      ) -> dict[str, float]:
    """Each layer's largest difference between an image in the batch and the image alone.

    Relative to the layer's largest magnitude, in forward order. ``images`` are run as one batch
    and then one by one. This is what :func:`assert_batch_invariant` compares with its
    tolerance; ``scripts/measure_batch_invariance.py`` prints it for real networks.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2)).eval()
        >>> max(batch_differences(net, torch.ones(2, 3)).values())
        0.0
    """
    _check_images(images, "batch_differences", least=2)
    found = _batch_comparison(model, images, layers, 0.0, 0.0)
    return {key: d.relative for key, (d, _, _, _) in found.items()}


def assert_batch_invariant(model: ModelLike, images: Tensor, layers: str | Iterable[str] = "all", *,
                           rtol: float | None = None, atol: float | None = None) -> None:
    """Assert that each image's activations do not depend on the rest of the batch.

    ``images`` (at least 2) run as one batch and then one at a time, with ``layers`` recorded
    (every module by default); each image's row in every layer must match its activations
    alone. A failure names the first layer in forward order that breaks (BatchNorm in train
    mode normalises with the batch's statistics). CPU kernels differ by a few ULPs between batch
    sizes, so the default ``rtol`` (:func:`default_tolerance`, relative to the layer's largest
    magnitude) is 1e-4 for float32 on the CPU, 100 times the 9.3e-7 measured on MobileNetV2
    (3.9e-7 on ResNet-18; ``python scripts/measure_batch_invariance.py``), and 5e-3 on CUDA
    (TF32 convolutions, kernels chosen per batch size).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
        >>> assert_batch_invariant(net, torch.rand(3, 3, 8, 8))
    """
    __tracebackhide__ = True
    _check_tolerances(rtol, atol)
    _check_images(images, "assert_batch_invariant", least=2)
    check_batch_invariant(model, images, layers, rtol, atol)


def check_batch_invariant(model: ModelLike, images: Tensor, layers: str | Iterable[str],
                          rtol: float | None, atol: float | None,
                          reference: Reference | None = None) -> None:
    """:func:`assert_batch_invariant` on checked arguments, with the batch's run ``reference``
    when one was made already (the battery shares it with determinism's run 1)."""
    __tracebackhide__ = True
    found = _batch_comparison(model, images, layers, rtol, atol, reference)
    bad = [(d, r, a) for d, _, r, a in found.values() if d.beyond]
    if not bad:
        return
    d, r, a = bad[0]
    i = found[d.key][1]
    later = [f"{x.key!r} {x.relative:.3g}" for x, _, _ in bad[1:]]
    fail(f"batch invariance check failed for {_label(model)} ({len(images)} images, batch vs "
         "one at a time)",
         f"each image's activations the same in the batch and alone ({_mode(r, a)})",
         f"first layer that depends on the batch: {d.key!r}{_module_of(model, d.key)}: image {i}"
         f" {d.describe('in the batch', 'alone')}; {d.relative:.3g} of the layer's largest "
         f"magnitude {d.scale:.3g}",
         [f"Before: {len(list(found)[:list(found).index(d.key)])} recorded tensors agree",
          f"After (relative difference): {listing(later) if later else 'nothing else differs'}"],
         f"call model.eval() (BatchNorm in train mode uses the batch's statistics; Dropout draws "
         f"per batch), or pass rtol= above {d.relative:.2g} if {d.key!r} is meant to differ "
         "by rounding only")


# -- assert_hooks_transparent ------------------------------------------------------------------

def assert_hooks_transparent(model: ModelLike, images: Tensor,
                             layers: str | Iterable[str] = "all") -> None:
    """Assert that the outputs with ``layers`` recorded are bit-identical to those without.

    Both forwards start from the same random state and buffers, so a model in train mode is
    checked too. Hooks change outputs when a module's fast path is skipped once hooked (some
    attention layers) or when a hook writes into what it sees. A ``torch.compile`` model runs
    eagerly in both forwards, as ``record`` runs it (so the check is about the hooks, not about
    the compiler's rounding).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(inplace=True))
        >>> assert_hooks_transparent(net.eval(), torch.rand(2, 3, 8, 8), ["0", "1"])
    """
    __tracebackhide__ = True
    _check_images(images, "assert_hooks_transparent")
    with untouched(model), eager_while_recording(getattr(model, "module", model)):
        plain = flatten_outputs(_call(model, images), OUTPUT)
    with untouched(model):
        hooked = _forward(model, images, layers)
    diffs = [compare(key, ref, hooked[key], 0.0, 0.0) for key, ref in plain.items()]
    bad = [d for d in diffs if d.beyond]
    if not bad:
        return
    recorded = len(hooked) - len(plain)
    fail(f"hooks transparency check failed for {_label(model)} ({recorded} tensors recorded)",
         "outputs with recording on bit-identical to outputs with it off",
         f"{bad[0].key!r}: {bad[0].describe('hooks off', 'hooks on')}",
         [f"Differences: {listing([f'{d.key!r} max {d.worst:.3g}' for d in bad])}"],
         "record fewer layers to find the one whose hook changes the output (a module with a "
         "fused fast path, e.g. nn.TransformerEncoderLayer, takes the slow path when hooked), "
         "or compare with a tolerance through assert_deterministic")
