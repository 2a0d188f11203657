"""A sweep's blank baseline: each kernel's response to the stimulus set's own background, read out
where each stimulus is."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from actassert.errors import SweepError
from actassert.probe import probe
from actassert.stimuli import Stimuli

if TYPE_CHECKING:
    from actassert.types import MapsReducer, ModelLike

__all__ = ["BaselineLike", "blank_baseline", "check_baseline"]

BaselineLike = bool | float | tuple[float, float, float] | None
"""``sweep(baseline=...)``: True (the stimuli's own background), a grey level, an (r, g, b)
triple, or False/None for none."""


def check_baseline(baseline: Any, stimuli: Any) -> None:
    """Refuse a ``baseline`` that is not a bool, a level or a triple, or a one-shot stream
    (its masks are needed again after the pass)."""
    ok = baseline is None or isinstance(baseline, bool) or (
        isinstance(baseline, numbers.Real) and 0.0 <= float(baseline) <= 1.0) or (
        isinstance(baseline, tuple) and len(baseline) == 3
        and all(isinstance(c, numbers.Real) and 0.0 <= float(c) <= 1.0 for c in baseline))
    if not ok:
        raise SweepError(f"baseline={baseline!r} is not True (the stimuli's own background), a "
                         "grey level in [0, 1], an (r, g, b) triple or False")
    if baseline not in (None, False) and not isinstance(stimuli, Stimuli) and \
            iter(stimuli) is stimuli:
        raise SweepError("baseline needs the stimuli's masks after the pass (the blank is read "
                         "out where each stimulus is); pass a Stimuli or a list of batches, not "
                         "a one-shot generator")
    first = stimuli if isinstance(stimuli, Stimuli) else (
        stimuli[0] if isinstance(stimuli, Sequence) and len(stimuli) else None)
    if baseline is True and isinstance(first, Stimuli) and first.background is None:
        first.blank()  # its StimulusError (no known background) now, before the sweep's forwards


def _blank(baseline: Any, first: Stimuli) -> torch.Tensor:
    """The blank image ``[1, 3, H, W]``: the stimuli's background, or the level given."""
    if baseline is True:
        return first.blank()
    level = (float(baseline),) * 3 if isinstance(baseline, numbers.Real) else baseline
    grey = Stimuli(first.images[:1], first.masks[:1], {}, {}, level)
    return grey.blank()


def blank_baseline(net: ModelLike, batches: Iterable[Stimuli], layers: Sequence[str],
                   reducers: Mapping[str, MapsReducer],
                   prepare: Callable[[torch.Tensor, str], torch.Tensor], baseline: Any
                   ) -> dict[str, torch.Tensor]:
    """The baseline ``[N, K]`` per layer key: the blank's maps, recorded in one forward, reduced
    with each stimulus' mask by the sweep's own reductions (so a foreground mean averages the
    blank over the disc's place, a centre read-out samples it under the shape's centre).

    Args:
        net: the swept network.
        batches: the stimuli again, in the sweep's order (only their masks are used).
        layers: the sweep's resolved layer keys (``name`` or ``name#k``).
        reducers: the sweep's reductions by module (and by ``name#k`` where one has its own).
        prepare: ``(maps, key) -> maps`` with kernels on dim 1, as the sweep's hooks do.
        baseline: True, a grey level or an (r, g, b) triple (see :data:`BaselineLike`).
    """
    shown = iter(batches)
    first = next(shown)
    with torch.inference_mode():
        acts, _ = probe(net, list(layers), _blank(baseline, first), offload="cpu", stop_early=True)
    maps = {key: prepare(acts[key], key) for key in acts}
    rows: dict[str, list[torch.Tensor]] = {key: [] for key in maps}
    for batch in (first, *shown):
        for key, blank in maps.items():
            fn = reducers.get(key) or reducers[key.partition("#")[0]]
            masks = batch.masks.to(blank.device)
            rows[key].append(fn(blank.expand(len(batch), *blank.shape[1:]), masks).float().cpu())
    return {key: torch.cat(parts).clone() for key, parts in rows.items()}
