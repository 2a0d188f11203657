"""Work the battery's checks share, so that no forward runs twice on the same input.

Two runs serve several checks, each of which still reports on its own:

- the **reference**, every module on the first 4 stimuli, kept whole: determinism's run 1 and
  batch invariance's batch;
- the **stimuli pass**, the 16 stimuli through every leaf and the default layers, each map reduced
  inside its hook to what a check keeps (NaN/Inf counts for ``finite``, per-kernel ranges for
  ``dead_kernels``, per-kernel statistics for ``golden``) and dropped, so no map of every layer
  is held at once.

Whichever check runs first computes a run; it is dropped once no check still to run needs it
(``Subject.pending``: the battery's pytest items say which will run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from actassert.errors import RecordingError
from actassert.golden.stats import kernel_stats, positions
from actassert.invariance import Reference, reference_run, untouched
from actassert.layers import list_layers, resolve_layers
from actassert.measures import to_channels_first
from actassert.probe import probe
from actassert.recording import _wanted_calls

if TYPE_CHECKING:
    from actassert.battery.subject import Subject

__all__ = ["StimuliPass", "share", "reference_of", "stimuli_pass_of", "leaf_pass", "span",
           "non_finite"]

T = TypeVar("T")


#: The checks each shared run serves.
USERS = {"reference": ("deterministic", "batch_invariant"),
         "stimuli pass": ("finite", "dead_kernels", "golden")}


def share(target: Subject, what: str, check: str, compute: Callable[[], T]) -> T:
    """The run ``what`` for ``check``: computed on first need, dropped after its last user."""
    cache = target.shared
    if what not in cache:
        cache[what] = compute()
    value: T = cache[what]
    target.pending.discard(check)
    if not any(user in target.pending for user in USERS[what]):
        del cache[what]
    return value


def reference_of(target: Subject, check: str) -> Reference:
    """Every module on the first 4 stimuli, kept (with the model's state left as it was)."""
    def compute() -> Reference:
        with untouched(target.net):
            return reference_run(target.net, target.images[:4], "all")

    return share(target, "reference", check, compute)


def span(t: torch.Tensor) -> torch.Tensor:
    """Per image, each kernel's smallest then largest value: ``[N, 2K]`` (``[N, 0]`` for maps
    with no kernels); channels-last maps and tokens are read with ``channels="auto"``."""
    if t.dim() not in (2, 3, 4):
        return t.new_zeros(len(t), 0)
    t = to_channels_first(t, "auto")  # channels-last stages and tokens: kernels on dim 1
    flat = t.flatten(2) if t.dim() > 2 else t.unsqueeze(-1)
    return torch.cat([flat.amin(2), flat.amax(2)], 1)  # (aminmax over a dim is far slower)


def non_finite(t: torch.Tensor, ranges: torch.Tensor | None = None) -> int:
    """How many values of ``t`` are NaN or infinite: none when its per-kernel ranges (``span``)
    or its sum are finite (NaN and infinities carry into both), else counted."""
    if not t.dtype.is_floating_point or t.numel() == 0:
        return 0
    summary = ranges if ranges is not None and ranges.numel() else t.sum()
    if bool(torch.isfinite(summary).all()):  # an overflow to inf only costs the exact count
        return 0
    return int((~torch.isfinite(t)).sum())


@dataclass
class StimuliPass:
    """The stimuli pass: per leaf key its NaN/Inf count and ranges, per default layer key its
    golden statistics, and the ``Activations`` block it ran in (model, metadata)."""

    non_finite: dict[str, int] = field(default_factory=dict)
    spans: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    probe: torch.Tensor | None = None  # an empty tensor of the maps' device and dtype
    acts: Any = None


def _keys(acts: Any, layers: Iterable[Any], found: Iterable[tuple[str, int]]
          ) -> dict[tuple[str, int], str]:
    """``(module, call)`` -> key, as a ``record`` of ``layers`` alone names it."""
    explicit = {r.name for r in layers if r.call is not None}
    return {(name, call): (f"{name}#{call}" if name in explicit or acts._max_calls.get(name, 1) > 1
                           else name) for name, call in found}


def leaf_pass(net: Any, images: torch.Tensor, golden: list[str] | None = None) -> StimuliPass:
    """One forward of ``images`` through every leaf (and the layers ``golden``, summarised per
    kernel); each map is reduced in its hook and dropped."""
    leaves = set(list_layers(net, leaves_only=True))
    golden_requests = resolve_layers(net, golden) if golden else []
    wanted = _wanted_calls(golden_requests)
    seen: dict[tuple[str, int], tuple[int, torch.Tensor]] = {}
    summaries: dict[tuple[str, int], tuple[np.ndarray, int]] = {}
    result = StimuliPass()

    def sink(name: str, call: int, tensor: torch.Tensor) -> None:
        if name in leaves:
            ranges = span(tensor)
            seen[(name, call)] = (non_finite(tensor, ranges), ranges.cpu())
        calls = wanted.get(name, set())
        if name in wanted and (calls is None or call in calls):
            summaries[(name, call)] = (kernel_stats(tensor), positions(tensor))
            result.probe = tensor.new_empty(0)

    acts, _ = probe(net, sorted(leaves) + list(golden or []), images, skip_non_tensors=True,
                    sink=sink)
    _no_tensor_in(acts, wanted)
    leaf_keys = _keys(acts, [], seen)
    for pair, (count, ranges) in seen.items():
        result.non_finite[leaf_keys[pair]] = count
        result.spans[leaf_keys[pair]] = ranges
    golden_keys = _keys(acts, golden_requests, summaries)
    for pair, (stats, count) in summaries.items():
        result.stats[golden_keys[pair]] = stats
        result.positions[golden_keys[pair]] = count
    result.acts = acts
    return result


def _no_tensor_in(acts: Any, wanted: dict[str, Any]) -> None:
    """A golden layer must return a tensor (the leaves may skip, as ``finite`` always did)."""
    for name in wanted:
        if name in acts.skipped:
            raise RecordingError(
                f"layer {name!r} returned {acts.skipped[name]}, not a tensor; record one of its "
                "submodules instead (actassert.list_layers lists them)")


def stimuli_pass_of(target: Subject, check: str) -> StimuliPass:
    """The stimuli pass of ``target``, with the golden statistics of its default layers."""
    return share(target, "stimuli pass", check,
                 lambda: leaf_pass(target.net, target.images, target.layers))
