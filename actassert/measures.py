"""Reducing activation maps to one number per kernel, and ``sweep``: stimuli streamed through a network.

The three ways of the activation-maps tutorial to quantify a kernel's response to a stimulus:

- ``"mean"`` / ``"median"``: statistics of the whole map.
- ``"foreground"``: the mean over the stimulus' foreground. The stimulus mask ``[N, 1, H, W]`` is
  resized to each map's resolution by area averaging (``adaptive_avg_pool2d``), which gives every
  map position the share of its input patch covered by the stimulus; the response is the mean of
  the map weighted by that share. Exact when the map divides the image evenly (224 -> 56, 28, 7).
- ``"threshold"``: the share of map positions above a level; ``threshold=0.5`` is an absolute
  level, ``threshold="50%"`` is half of each kernel's maximum over the whole sweep (found in a
  first pass, so the count does not depend on batching).
- ``"centre"``: the response of the map position under the stimulus centre (the centroid of its
  mask), the single-unit measurement behind Cavanaugh, Bair & Movshon's (2002) size tuning: one
  unit at a fixed place, the stimulus growing around it. The map is sampled there bilinearly, so a
  centre on the border between positions (a centred stimulus on an even-sided map) averages them.

Where each output keeps its kernels (``[N, K, H, W]``, ``[N, H, W, K]``, tokens ``[N, T, K]``
with class and register tokens, MaxViT windows) is decided per layer by :mod:`actassert.layout`
from the module that produced it; ``"foreground"``, ``"threshold"`` and ``"centre"`` read tokens
over their patch grid, the prefix tokens left out.

Any callable ``(maps, masks) -> Tensor[N, K]`` works too. Layers without space (``[N, K]``, like
``fc``) pass through mean, median and foreground unchanged; ``threshold`` gives 1 where a unit
is above the level and 0 elsewhere (the share of its single position).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F

from actassert import evidence
from actassert._support.memory import release_freed_memory
from actassert._support.progress import Progress
from actassert._support.progress import wanted as progress_wanted
from actassert.blank import BaselineLike, blank_baseline, check_baseline
from actassert.errors import SweepError
from actassert.layers import resolve_layers, root_module
from actassert.layout import (
    Context,
    Layout,
    decide,
    declared_prefix,
    feeding_module,
    probe_shapes,
    window_fold,
)
from actassert.probe import probe
from actassert.recording import Activations, record
from actassert.stimuli import Stimuli
from actassert.tuning import Tuning

if TYPE_CHECKING:
    from actassert.types import LayersLike, MapsReducer, ModelLike, StimuliLike, SweepReduceLike

__all__ = ["sweep", "Responses", "REDUCTIONS", "reduce_maps", "SweepError", "looks_channels_last"]

#: Freed heap memory goes back to the OS every this many batches: often enough to keep a long
#: sweep's peak flat (3,600 stimuli peak where 360 do), rarely enough that the pages handed back
#: are not faulted in again at every batch (trimming after each batch cost about 3% of a
#: ResNet-50 sweep in page faults).
TRIM_EVERY = 8

REDUCTIONS = ("mean", "median", "foreground", "threshold", "centre")
#: The reductions that need a map's space: tokens are read over their patch grid for these.
SPATIAL_REDUCTIONS = ("foreground", "threshold", "centre")
#: Parameters whose values wrap around, with their period (used by ``Responses.tuning``).
CIRCULAR_PARAMETERS = {"hue": 360.0, "orientation": 180.0, "phase": 360.0}

def _parse_threshold(threshold: float | str | None) -> tuple[float, bool]:
    """``(level, relative)`` from ``0.5`` or ``"50%"``."""
    if threshold is None:
        raise SweepError('reduce="threshold" needs threshold=LEVEL (absolute, e.g. 0.5) or '
                         'threshold="50%" (share of each kernel\'s maximum over the sweep)')
    if isinstance(threshold, str):
        text = threshold.strip()
        if not text.endswith("%"):
            raise SweepError(f"threshold={threshold!r}: write a number or a percentage like '50%'")
        try:
            share = float(text[:-1]) / 100.0
        except ValueError:
            raise SweepError(f"threshold={threshold!r} is not a percentage like '50%'") from None
        if not 0.0 <= share <= 1.0:
            raise SweepError(f"threshold={threshold!r} must lie between 0% and 100%")
        return share, True
    return float(threshold), False


def looks_channels_last(shape: Sequence[int]) -> bool:
    """Whether a 4-d map ``shape`` reads as ``[N, H, W, K]``: square space, another width.

    Example:
        >>> looks_channels_last((1, 16, 16, 96)), looks_channels_last((1, 96, 16, 16))
        (True, False)
    """
    return len(shape) == 4 and shape[1] == shape[2] != shape[3]


def to_channels_first(maps: torch.Tensor, channels: str | None, layer: str = "") -> torch.Tensor:
    """Put kernels on dim 1: ``[N, H, W, K]`` and token outputs ``[N, T, K]`` with ``"last"``.

    ``channels=None`` means ``"first"`` but refuses a map that looks channels-last (``[N, H, H,
    K]`` with ``K != H``, as Swin and ConvNeXt blocks give), since reading rows as kernels would
    be silently wrong; ``channels="first"`` forces the ``[N, K, H, W]`` reading. ``"auto"``
    decides per output, for networks mixing both (ConvNeXt's blocks are channels-first, the
    norm and MLP inside them channels-last): maps that look channels-last and tokens are moved,
    others read as ``[N, K, H, W]`` (a channels-first map with ``K == H != W`` would be misread).
    """
    where = f" of layer {layer!r}" if layer else ""
    if channels == "auto":
        channels = "last" if maps.dim() == 3 or looks_channels_last(maps.shape) else "first"
    if channels == "last":
        if maps.dim() in (3, 4):
            return maps.movedim(-1, 1)
        return maps
    if channels not in (None, "first"):
        raise SweepError(f"channels={channels!r} is not 'first', 'last' or 'auto'")
    if channels is None and looks_channels_last(maps.shape):
        raise SweepError(
            f"the output{where} has shape {list(maps.shape)}, which looks channels-last "
            f"([N, H, W, K] with {maps.shape[3]} kernels); pass channels='last' ('auto' for "
            "networks mixing layouts, as ConvNeXt), or channels='first' if dim 1 really holds "
            "the kernels")
    if channels is None and maps.dim() == 3:
        raise SweepError(f"the output{where} has shape {list(maps.shape)}: tokens [N, T, K] need "
                         "channels='last' (reductions then run over the tokens)")
    return maps


def reduce_maps(maps: torch.Tensor, masks: torch.Tensor | None, how: str | MapsReducer, *,
                level: torch.Tensor | float | None = None) -> torch.Tensor:
    """Reduce ``maps`` ``[N, K, H, W]`` (or tokens ``[N, K, T]``) to ``[N, K]``; ``[N, K]`` passes.

    Args:
        maps: one layer's output for a batch, kernels on dim 1 (see :func:`to_channels_first`).
        masks: the batch's stimulus masks ``[N, 1, h, w]`` (needed by ``"foreground"``).
        how: ``"mean"``, ``"median"``, ``"foreground"``, ``"threshold"`` or a callable.
        level: the threshold, a float or a ``[K]`` tensor (one level per kernel).
    """
    if maps.dim() == 3 and how != "foreground" and not callable(how):
        maps = maps.unsqueeze(-1)  # tokens as a T x 1 map
    if callable(how):
        if masks is None:
            raise SweepError("a callable reduce receives the stimuli's masks; none were given")
        return how(maps, masks)
    if maps.dim() not in (2, 4):
        raise SweepError(f"cannot reduce a layer output of shape {tuple(maps.shape)} with "
                         f"{how!r}; sweep handles [N, K, H, W] maps, [N, K] vectors and (mean, "
                         "median, threshold) tokens; pass a callable reduce for others")
    if how == "threshold":
        limit = level if isinstance(level, torch.Tensor) else torch.tensor(float(level or 0.0))
        limit = limit.to(maps.device, maps.dtype)
        if limit.dim():
            limit = limit.reshape(1, -1, *([1] * (maps.dim() - 2)))
        above = (maps > limit).float()
        return above.mean(dim=(2, 3)) if maps.dim() == 4 else above
    if maps.dim() == 2:
        return maps
    if how == "mean":
        return maps.mean(dim=(2, 3))
    if how == "median":
        return maps.flatten(2).median(dim=2).values
    if how == "foreground":
        if masks is None:
            raise SweepError('reduce="foreground" needs the stimuli\'s masks')
        cover = F.adaptive_avg_pool2d(masks.to(maps.dtype), (maps.shape[-2], maps.shape[-1]))
        total = cover.sum(dim=(2, 3))
        if bool((total <= 0).any()):
            raise SweepError('reduce="foreground": a stimulus has an empty mask, so it has no '
                             "foreground to average over; use reduce='mean' for such stimuli")
        # a batched matrix product: no temporary of the map's size, unlike (maps * cover).sum()
        weighted = torch.bmm(maps.flatten(2), cover.flatten(1).unsqueeze(-1)).squeeze(-1)
        return weighted / total
    if how == "centre":
        return _at_centre(maps, masks)
    raise SweepError(f"reduce={how!r} is not one of {', '.join(REDUCTIONS)} or a callable")


class Responses(Mapping[str, "torch.Tensor"]):
    """The result of :func:`sweep`: layer name -> ``Tensor[N, K]`` on the CPU, with the stimuli."""

    def __init__(self, data: dict[str, torch.Tensor], params: dict[str, torch.Tensor],
                 categories: dict[str, tuple[str, ...]], reduce: str, network: str,
                 net: ModelLike | None = None, layers: Sequence[str] = (),
                 shown: Stimuli | None = None,
                 channels: str | None = None,
                 baseline: dict[str, torch.Tensor] | None = None) -> None:
        self._data = data
        self.params = params
        self.categories = categories
        self.reduce = reduce
        self.network = network
        self.net = net  # kept so an assertion can capture one stimulus' maps for its figures
        self.layers = tuple(layers)
        self.shown = shown  # the Stimuli swept, or the first batch of a stream (for figures)
        self.channels = channels
        #: Each kernel's response to the blank background, ``[N, K]`` per layer (the blank read
        #: out where each stimulus is), when the sweep was asked for ``baseline``; else None.
        self.baseline = baseline
        #: Full maps ``[K, H, W]`` (CPU) of single stimuli, by index in ``shown`` and layer, for
        #: failure figures: stimulus 0's are taken during the sweep, an assertion adds the one it
        #: names. Reporting draws from these and never runs the network again.
        self.maps: dict[int, dict[str, torch.Tensor]] = {}
        #: Why maps could not be captured, for the test's report section.
        self.problems: list[str] = []
        #: How each layer's output was read (kernels first or last, the patch grid of tokens,
        #: the prefix tokens left out) and why: see :mod:`actassert.layout`.
        self.layouts: dict[str, Layout] = {}

    def __getitem__(self, layer: str) -> torch.Tensor:
        if layer not in self._data:
            raise KeyError(f"{layer!r} was not swept; swept layers: {', '.join(self._data)}")
        return self._data[layer]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {list(v.shape)}" for k, v in self._data.items())
        return f"Responses({self.network}, reduce={self.reduce!r}, {shapes})"

    def tuning(self, parameter: str, layer: str, *, circular: float | str | None = "auto",
               scale: str = "linear", rectify: str = "relu") -> Tuning:
        """A :class:`~actassert.Tuning` of ``layer``'s kernels over one stimulus ``parameter``.

        ``circular="auto"`` uses 360 for hue and phase, 180 for orientation, else linear.
        Stimuli sharing a parameter value (e.g. other radii) are averaged. When the sweep
        recorded a ``baseline``, the Tuning carries it (curves as modulation above the blank).
        """
        if parameter not in self.params:
            raise KeyError(f"no stimulus parameter {parameter!r}; the stimuli have "
                           f"{', '.join(self.params)}")
        if isinstance(circular, str):
            if circular != "auto":
                raise SweepError(f"circular={circular!r}: give a period (360, 180), None or 'auto'")
            period = CIRCULAR_PARAMETERS.get(parameter)
        else:
            period = circular
        tuning = Tuning(self.params[parameter], self[layer], circular=period, scale=scale,
                        rectify=rectify, parameter=parameter, layer=layer,
                        baseline=None if self.baseline is None else self.baseline[layer])
        tuning.responses = self  # so a failure report shows this sweep's stimuli
        return tuning

    def preferred_stimulus(self, tuning: Tuning) -> int:
        """Index in ``shown`` of the stimulus at the preferred value of ``tuning``'s first focus
        kernel (the one an assertion named); 0 when there is none or the value is not shown."""
        shown = self.shown
        if (shown is None or not tuning.focus or tuning.parameter not in shown.params
                or len(shown) == 0):
            return 0
        ids = tuning.kernel_ids.tolist()
        position = ids.index(tuning.focus[0]) if tuning.focus[0] in ids else 0
        value = float(tuning.preferred()[position])
        return int(tuning.distance(shown.params[tuning.parameter], value).argmin())

    def capture_maps(self, index: int) -> None:
        """Record the full maps of stimulus ``index`` of ``shown`` for failure figures.

        Runs the network on that one stimulus, inside the test (an assertion calls this), so the
        reporting hooks never call a model. Never raises: a problem is kept in ``problems`` and
        shown in the test's report section instead.
        """
        if index in self.maps or self.net is None or self.shown is None:
            return
        try:
            acts, _ = probe(self.net, list(self.layers), self.shown[index].images,
                            skip_non_tensors=True, offload="cpu")
            self.maps[index] = {key: self.kernels_first(acts[key], key)[0] for key in acts}
        except Exception as exc:  # the assertion's own message matters more than its figure
            self.problems.append(f"the maps of stimulus {index} could not be recorded for the "
                                 f"figures: {type(exc).__name__}: {exc}")


    def kernels_first(self, maps: torch.Tensor, key: str) -> torch.Tensor:
        """A recorded output of ``key`` read as the sweep read it (kernels on dim 1)."""
        layout = self.layouts.get(key)
        if layout is None:
            return to_channels_first(maps, self.channels, key)
        return layout.kernels_first(maps, self.reduce in SPATIAL_REDUCTIONS)


def _batches(stimuli: StimuliLike, batch_size: int) -> Iterator[Stimuli]:
    """The stimuli in batches of at most ``batch_size``; a stream's items must be ``Stimuli``."""
    if isinstance(stimuli, Stimuli):
        yield from stimuli.batches(batch_size)
        return
    if not isinstance(stimuli, Iterable):
        raise SweepError(f"stimuli must be a Stimuli or an iterable of Stimuli batches; got "
                         f"{type(stimuli).__name__}")
    for item in stimuli:
        if not isinstance(item, Stimuli):
            raise SweepError(f"stimuli must be a Stimuli or an iterable of Stimuli batches; "
                             f"got an item of type {type(item).__name__}")
        yield from item.batches(batch_size)


@dataclass(frozen=True)
class _Plan:
    """A sweep's checked arguments: what is shown, to which layers, in batches of what size."""

    net: ModelLike
    stimuli: StimuliLike
    layers: list[str]  # resolved: ``name`` or ``name#k``
    modules: list[str]  # the modules behind them, sorted
    batch_size: int
    show: bool  # progress on stderr
    label: str  # how progress names the sweep: ``sweep resnet18``
    channels: str | None
    spatial: bool  # the reduction needs the maps' space (foreground, threshold, centre)


class _Passed(NamedTuple):
    """What one pass over the stimuli gives."""

    data: dict[str, torch.Tensor]  # the reduced responses, ``[N, K]`` by layer key
    seen: list[Stimuli]  # each batch's parameters (1-pixel images)
    first: Stimuli | None  # the first batch, whole (for failure figures)
    maps: dict[str, torch.Tensor]  # with ``capture``: the first stimulus' full maps by key
    layouts: dict[str, Layout]  # how each layer's output was read


class _Reduction:
    """What a sweep's hook applies to one layer's output: kernels moved to dim 1, the first
    stimulus' maps kept for failure figures, then the reduction with the batch's masks.

    Its bound ``__call__`` is the ``reduce`` given to ``record``: one call per output.
    """

    __slots__ = ("batch", "fn", "keeper", "key", "module", "reader")

    def __init__(self, fn: MapsReducer, key: str, reader: _Reader,
                 batch: dict[str, torch.Tensor], keeper: _FirstMaps | None) -> None:
        self.fn = fn
        self.key = key  # ``name`` or ``name#k``: how an error names the layer
        self.module = key.partition("#")[0]  # the first maps are kept by module and call
        self.reader = reader
        self.batch = batch  # ``{"masks": ...}`` of the batch being shown
        self.keeper = keeper

    def __call__(self, maps: torch.Tensor) -> torch.Tensor:
        """``[N, K]`` from one layer output ``maps``."""
        masks = self.batch["masks"]
        layout = self.reader.layout(self.key, maps.shape, masks.shape)
        if layout.kernels == "probe":  # recorded again once the probe has decided
            return maps.new_zeros(len(maps), 0)
        maps = layout.kernels_first(maps, self.reader.spatial)
        if self.keeper is not None:
            self.keeper.keep(self.module, maps)
        return self.fn(maps, self.batch["masks"])


def _pass(plan: _Plan, reducers: Mapping[str, MapsReducer], label: str,
          capture: bool = False) -> _Passed:
    """One streamed pass over ``plan``'s stimuli, ``reducers`` applied inside the hooks (see
    :class:`_Passed`); ``capture`` keeps the first stimulus' full maps."""
    seen: list[Stimuli] = []
    first: Stimuli | None = None
    total = len(plan.stimuli) if isinstance(plan.stimuli, Sized) else None
    show = plan.show and (total is None or total > plan.batch_size)
    progress = Progress(label, total) if show else None
    device = getattr(plan.net, "device", None)
    batch: dict[str, torch.Tensor] = {}
    keeper = _FirstMaps() if capture else None
    reader = _Reader(plan)
    hooks = {key: _Reduction(fn, key, reader, batch, keeper).__call__
             for key, fn in reducers.items()}
    # inference_mode: no autograd bookkeeping at all (version counters, views), a little cheaper
    # than no_grad; what leaves this function is cloned outside it, so users get plain tensors.
    with record(plan.net, plan.layers, reduce=hooks, offload="cpu", stop_early=True,
                register=False, keep_inputs=False) as acts, torch.inference_mode():
        for shown in _batches(plan.stimuli, plan.batch_size):
            if seen and len(seen) % TRIM_EVERY == 0:  # earlier batches' maps are free now
                release_freed_memory()
            if seen and keeper is not None:
                keeper.active = False
            batch["masks"] = shown.masks if device is None else shown.masks.to(device)
            acts.run(shown.images)
            if reader.undecided:  # a layout needs a probe: run it, then this batch again
                reader.probe(acts, shown.images)
                if keeper is not None:
                    keeper.maps.clear()
                    keeper.calls.clear()
                acts.run(shown.images)
            seen.append(_parameters_only(shown))
            first = shown if first is None else first
            if progress is not None:
                progress.advance(len(shown))
        if progress is not None:
            progress.close()
        if acts.never_ran():
            raise SweepError(f"sweep: {acts.never_ran_message()}")
    data = {key: acts[key].clone() for key in acts}
    maps = {k: v.clone() for k, v in keeper.by_key(data).items()} if keeper is not None else {}
    return _Passed(data, seen, first, maps, reader.decided)


class _Reader:
    """Decides, once per layer and shape, how a sweep reads each output (:mod:`actassert.layout`):
    from the module that produced it, the model's prefix tokens and the images' size."""

    def __init__(self, plan: _Plan) -> None:
        self.root = root_module(plan.net)
        self.modules = dict(self.root.named_modules())
        self.channels = plan.channels
        self.spatial = plan.spatial
        self.prefix = declared_prefix(self.root)
        self.cache: dict[tuple[str, tuple[int, ...], tuple[int, ...]], Layout] = {}
        self.decided: dict[str, Layout] = {}  # by layer key: what the responses were read as
        self.undecided: dict[str, tuple[int, ...]] = {}  # module -> shape, waiting for a probe
        self.probes: dict[str, tuple[int, ...]] | None = None  # module -> shape at the probe size
        self.dtype = next((p.dtype for p in self.root.parameters() if p.is_floating_point()),
                          torch.float32)

    def layout(self, key: str, shape: torch.Size, masks: torch.Size) -> Layout:
        """The layout of output ``shape`` of ``key`` for a batch of ``masks`` ``[N, 1, H, W]``."""
        found = self.cache.get((key, shape, masks))  # torch.Size is a tuple: no copy per call
        if found is None:
            name = key.partition("#")[0]
            probe = None if self.probes is None else self.probes.get(name)
            ctx = Context(key, (int(masks[-2]), int(masks[-1])), int(masks[0]),
                          self.modules.get(name), self.channels, self.prefix,
                          window_fold(self.modules, name, shape),
                          feeding_module(self.modules, name), self.spatial,
                          probed=self.probes is not None, probe=probe)
            found = decide(shape, ctx)
            if found.kernels == "probe":
                self.undecided[name] = tuple(shape)
                return found
            self.cache[(key, shape, masks)] = found
            self.decided[key] = found
        return found

    def probe(self, acts: Activations, images: torch.Tensor) -> None:
        """Find the shapes of the undecided outputs for a larger image (:func:`probe_shapes`)
        between two forwards, the record's hooks idle, and forget the batch just recorded."""
        acts._probing = True  # the record's hooks count nothing and keep nothing meanwhile
        try:
            self.probes = probe_shapes(self.root, sorted(self.undecided),
                                       (images.shape[-2], images.shape[-1]), self.dtype)
        finally:
            acts._probing = False
        self.undecided.clear()
        acts._forget_forward()  # the batch runs again, its layouts decided


class _FirstMaps:
    """Keeps the full maps of a sweep's first stimulus, taken by the hooks of the first batch, so
    a failure figure needs no second forward. One image's maps per layer: a few MB at most."""

    def __init__(self) -> None:
        self.active = True
        self.maps: dict[tuple[str, int], torch.Tensor] = {}
        self.calls: dict[str, int] = {}

    def keep(self, module: str, maps: torch.Tensor) -> None:
        """Keep the first image's maps of this call of ``module`` (first batch only)."""
        if self.active and maps.dim() >= 2:
            call = self.calls.get(module, 0)
            self.calls[module] = call + 1
            self.maps[(module, call)] = maps[0].detach().to("cpu", copy=True)

    def by_key(self, data: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The kept maps under the keys of the sweep's responses (``name`` or ``name#k``)."""
        out = {}
        for key in data:
            module, _, call = key.partition("#")
            found = self.maps.get((module, int(call) if call else 0))
            if found is not None:
                out[key] = found
        return out


def sweep(net: ModelLike, stimuli: StimuliLike, layers: LayersLike, *,
          reduce: SweepReduceLike = "mean", batch_size: int | None = None,
          threshold: float | str | None = None, progress: bool | None = None,
          channels: str | None = None, baseline: BaselineLike = False) -> Responses:
    """Show ``stimuli`` to ``net`` batch by batch and keep one number per kernel and stimulus.

    The reduction runs inside the forward hook, so only ``[batch, K]`` per layer is kept, and the
    forward stops once the deepest requested layer has run. Memory therefore does not grow with the
    number of stimuli when they are given as an iterable of batches (e.g. a generator drawing
    each batch on demand); a ``Stimuli`` already in memory is streamed in ``batch_size`` slices.

    Args:
        net: a :class:`~actassert.Network` (or an ``nn.Module`` taking the images as they are).
        stimuli: a ``Stimuli`` or an iterable of ``Stimuli`` batches.
        layers: names or globs, as in :func:`~actassert.record`.
        reduce: ``"mean"``, ``"median"``, ``"foreground"``, ``"threshold"`` or a callable
            ``(maps, masks) -> [N, K]`` (see the module docstring).
        batch_size: stimuli per forward (default 64).
        threshold: for ``reduce="threshold"``: an absolute level, or ``"50%"`` of each kernel's
            maximum over the sweep (costs a second pass, so the stimuli must be re-iterable).
        progress: report progress on stderr (on a terminal live, elsewhere a line per quarter of
            a sweep longer than one batch); default: everywhere but inside a pytest test.
        channels: where each output keeps its kernels. The default (``None``, or ``"auto"``,
            the same) decides per layer from the module that produced it, the images' aspect
            ratio and the model's prefix tokens (see :mod:`actassert.layout`; ``Responses.layouts``
            says what was decided and why), and refuses an output it cannot decide;
            ``"first"`` forces ``[N, K, H, W]`` (tokens ``[N, K, T]``), ``"last"`` forces
            ``[N, H, W, K]`` (tokens ``[N, T, K]``). Tokens are reduced over their patch grid,
            the class and register tokens left out, by ``"foreground"``, ``"threshold"`` and
            ``"centre"``; ``"mean"`` and ``"median"`` take every token.
        baseline: True records each kernel's response to the stimuli's own blank background
            (``Stimuli.background``: the grey with no disc, shape or grating), in one more
            forward, read out with each stimulus' mask by the same reduction; a grey level or
            an (r, g, b) triple gives the blank's colour. ``Responses.baseline`` holds it and
            ``Responses.tuning`` passes it on. Default False: no blank.

    Returns:
        :class:`Responses`: layer -> ``Tensor[N, K]`` on the CPU, with the stimuli's parameters.

    Example:
        >>> from actassert import load_model, stimuli
        >>> net = load_model("resnet18", weights=None, device="cpu")
        >>> resp = sweep(net, stimuli.hue_disc(range(0, 360, 45), size=64), ["layer1", "fc"])
        >>> resp["layer1"].shape, resp["fc"].shape
        (torch.Size([8, 64]), torch.Size([8, 1000]))
    """
    plan = _plan(net, stimuli, layers, reduce, batch_size, threshold, progress, channels)
    check_baseline(baseline, stimuli)
    reducers = _reducers(plan, reduce, threshold)
    report = evidence.current()
    passed = _pass(plan, reducers, plan.label, capture=report.keeps and report.wants_figures)
    responses = _responses(plan, reduce, passed)
    if baseline not in (None, False):
        responses.baseline = blank_baseline(
            plan.net, _batches(plan.stimuli, plan.batch_size), plan.layers, reducers,
            responses.kernels_first, baseline)
    report.add_responses(responses.network, responses)
    return responses


def _plan(net: ModelLike, stimuli: StimuliLike, layers: LayersLike, reduce: SweepReduceLike,
          batch_size: int | None, threshold: float | str | None, progress: bool | None,
          channels: str | None) -> _Plan:
    """Check :func:`sweep`'s arguments (a ``SweepError`` names the first bad one) and resolve
    its layers."""
    size = 64 if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise SweepError(f"batch_size={batch_size!r} must be a positive int")
    if not callable(reduce) and reduce not in REDUCTIONS:
        raise SweepError(f"reduce={reduce!r} is not one of {', '.join(REDUCTIONS)} or a callable")
    if reduce != "threshold" and threshold is not None:
        raise SweepError(f"threshold={threshold!r} only applies to reduce='threshold'")
    if not isinstance(stimuli, Stimuli) and (not isinstance(stimuli, Iterable)
                                             or isinstance(stimuli, (str, bytes))):
        raise SweepError(f"stimuli must be a Stimuli or an iterable of Stimuli; got "
                         f"{type(stimuli).__name__}")
    requests = resolve_layers(net, layers)
    if reduce == "threshold" and _parse_threshold(threshold)[1] \
            and not isinstance(stimuli, Stimuli) and iter(stimuli) is stimuli:
        raise SweepError('threshold="N%" needs two passes over the stimuli; pass a '
                         "Stimuli or a list of batches, not a one-shot generator")
    if channels not in (None, "auto", "first", "last"):
        raise SweepError(f"channels={channels!r} is not 'first', 'last' or 'auto'")
    return _Plan(net, stimuli, [str(r) for r in requests], sorted({r.name for r in requests}),
                 size, progress_wanted(progress), f"sweep {_name_of(net)}", channels,
                 reduce in SPATIAL_REDUCTIONS)


def _reducers(plan: _Plan, reduce: SweepReduceLike, threshold: float | str | None
              ) -> dict[str, MapsReducer]:
    """The reduction of each recorded module (and of each ``name#k`` call that has its own)."""
    if callable(reduce):
        return {m: reduce for m in plan.modules}
    if reduce != "threshold":
        return {m: (lambda maps, masks: reduce_maps(maps, masks, reduce)) for m in plan.modules}
    value, relative = _parse_threshold(threshold)
    levels: dict[str, float | torch.Tensor] = {m: value for m in plan.modules}
    if relative:  # a first pass finds each kernel's maximum over the sweep
        maxima = _pass(plan, {m: _peak for m in plan.modules}, plan.label + " (maxima)").data
        levels.update(_relative_levels(maxima, value))
    return {key: _threshold_at(level) for key, level in levels.items()}


def _relative_levels(maxima: Mapping[str, torch.Tensor], share: float) -> dict[str, torch.Tensor]:
    """One threshold level per recorded output: ``share`` of each kernel's maximum over the sweep.

    Each call of a reused module (``name#k``) has maxima, so a level, of its own. The module's
    bare name, which ``record`` needs for every module, gets the level of its first call.
    """
    levels: dict[str, torch.Tensor] = {}
    for key, peaks in maxima.items():
        level = peaks.amax(dim=0) * share
        module = key.partition("#")[0]
        if module not in levels:
            levels[module] = level
        levels[key] = level
    return levels


def _responses(plan: _Plan, reduce: SweepReduceLike, passed: _Passed) -> Responses:
    """The :class:`Responses` of a finished sweep."""
    if not passed.seen or not passed.data:
        raise SweepError("no stimuli were shown: the stimuli are empty")
    joined = Stimuli.concat(passed.seen) if len(passed.seen) > 1 else passed.seen[0]
    name = reduce if isinstance(reduce, str) else getattr(reduce, "__name__", "callable")
    responses = Responses(passed.data, joined.params, joined.categories, name,
                          _name_of(plan.net), net=plan.net, layers=plan.layers,
                          shown=plan.stimuli if isinstance(plan.stimuli, Stimuli) else passed.first,
                          channels=plan.channels)
    for key in passed.data:  # layouts are decided per module (a reduce hook's key)
        layout = passed.layouts.get(key, passed.layouts.get(key.partition("#")[0]))
        if layout is not None:
            responses.layouts[key] = layout
    if passed.maps:
        responses.maps[0] = passed.maps
    return responses


def _name_of(net: ModelLike) -> str:
    """A network's name (``Network.name``), else its class name."""
    return str(getattr(net, "name", type(net).__name__))


def _at_centre(maps: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """Each map sampled bilinearly under its stimulus' mask centroid, ``[N, K]``."""
    if masks is None:
        raise SweepError('reduce="centre" needs the stimuli\'s masks (their centres)')
    weight = masks[:, 0].to(maps.dtype)
    total = weight.sum(dim=(1, 2))
    if bool((total <= 0).any()):
        raise SweepError('reduce="centre": a stimulus has an empty mask, so it has no centre; '
                         "use reduce='mean' for such stimuli")
    h, w = weight.shape[-2:]
    ys = (torch.arange(h, device=maps.device, dtype=maps.dtype) + 0.5) / h
    xs = (torch.arange(w, device=maps.device, dtype=maps.dtype) + 0.5) / w
    cy = (weight.sum(dim=2) * ys).sum(dim=1) / total  # centroid, as a fraction of the side
    cx = (weight.sum(dim=1) * xs).sum(dim=1) / total
    grid = torch.stack([2 * cx - 1, 2 * cy - 1], dim=1).view(-1, 1, 1, 2)
    sampled = F.grid_sample(maps, grid, mode="bilinear", align_corners=False,
                            padding_mode="border")
    return sampled.flatten(1)


def _threshold_at(level: float | torch.Tensor) -> MapsReducer:
    """The threshold reduction at a fixed level (a float or one level per kernel)."""
    def reducer(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return reduce_maps(maps, masks, "threshold", level=level)
    return reducer


def _parameters_only(batch: Stimuli) -> Stimuli:
    """A stand-in of ``batch`` with 1-pixel images, so a long sweep keeps parameters, not images."""
    n = len(batch)
    return Stimuli(torch.zeros(n, 3, 1, 1), torch.ones(n, 1, 1, 1, dtype=torch.bool),
                   batch.params, batch.categories)


def _peak(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Each kernel's maximum over space, ``[N, K]`` (the first pass of a relative threshold)."""
    return maps.flatten(2).amax(dim=2) if maps.dim() > 2 else maps
