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

Any callable ``(maps, masks) -> Tensor[N, K]`` works too. Layers without space (``[N, K]``, like
``fc``) pass through mean, median and foreground unchanged; ``threshold`` gives 1 where a unit
is above the level and 0 elsewhere (the share of its single position).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from actassert import registry
from actassert._progress import Progress
from actassert._progress import wanted as progress_wanted
from actassert.errors import SweepError

if TYPE_CHECKING:
    import torch

    from actassert.stimuli import Stimuli
    from actassert.tuning import Tuning

__all__ = ["sweep", "Responses", "REDUCTIONS", "reduce_maps", "SweepError", "looks_channels_last"]

#: Freed heap memory goes back to the OS every this many batches: often enough to keep a long
#: sweep's peak flat (3,600 stimuli peak where 360 do), rarely enough that the pages handed back
#: are not faulted in again at every batch (trimming after each batch cost about 3% of a
#: ResNet-50 sweep in page faults).
TRIM_EVERY = 8

REDUCTIONS = ("mean", "median", "foreground", "threshold", "centre")
#: Parameters whose values wrap around, with their period (used by ``Responses.tuning``).
CIRCULAR_PARAMETERS = {"hue": 360.0, "orientation": 180.0, "phase": 360.0}

Reducer = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


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


def reduce_maps(maps: torch.Tensor, masks: torch.Tensor | None, how: str | Reducer, *,
                level: torch.Tensor | float | None = None) -> torch.Tensor:
    """Reduce ``maps`` ``[N, K, H, W]`` (or tokens ``[N, K, T]``) to ``[N, K]``; ``[N, K]`` passes.

    Args:
        maps: one layer's output for a batch, kernels on dim 1 (see :func:`to_channels_first`).
        masks: the batch's stimulus masks ``[N, 1, h, w]`` (needed by ``"foreground"``).
        how: ``"mean"``, ``"median"``, ``"foreground"``, ``"threshold"`` or a callable.
        level: the threshold, a float or a ``[K]`` tensor (one level per kernel).
    """
    import torch
    import torch.nn.functional as F

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
                 net: Any = None, layers: Sequence[str] = (), shown: Any = None,
                 channels: str | None = None) -> None:
        self._data = data
        self.params = params
        self.categories = categories
        self.reduce = reduce
        self.network = network
        self.net = net  # kept so an assertion can capture one stimulus' maps for its figures
        self.layers = tuple(layers)
        self.shown = shown  # the Stimuli swept, or the first batch of a stream (for figures)
        self.channels = channels
        #: Full maps ``[K, H, W]`` (CPU) of single stimuli, by index in ``shown`` and layer, for
        #: failure figures: stimulus 0's are taken during the sweep, an assertion adds the one it
        #: names. Reporting draws from these and never runs the network again.
        self.maps: dict[int, dict[str, torch.Tensor]] = {}
        #: Why maps could not be captured, for the test's report section.
        self.problems: list[str] = []

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
        Stimuli sharing a parameter value (e.g. other radii) are averaged.
        """
        from actassert.tuning import Tuning

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
                        rectify=rectify, parameter=parameter, layer=layer)
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
        import warnings

        from actassert.errors import NeverRanWarning
        from actassert.recording import record

        if index in self.maps or self.net is None or self.shown is None:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NeverRanWarning)
                with record(self.net, list(self.layers), register=False, keep_inputs=False,
                            skip_non_tensors=True, offload="cpu") as acts:
                    acts.run(self.shown[index].images)
            self.maps[index] = {key: to_channels_first(acts[key], self.channels, key)[0]
                                for key in acts}
        except Exception as exc:  # the assertion's own message matters more than its figure
            self.problems.append(f"the maps of stimulus {index} could not be recorded for the "
                                 f"figures: {type(exc).__name__}: {exc}")


def _batches(stimuli: Stimuli | Iterable[Stimuli], batch_size: int) -> Iterator[Stimuli]:
    from actassert.stimuli import Stimuli

    if isinstance(stimuli, Stimuli):
        yield from stimuli.batches(batch_size)
        return
    for item in stimuli:
        if not isinstance(item, Stimuli):
            raise SweepError(f"stimuli must be a Stimuli or an iterable of Stimuli batches; "
                             f"got an item of type {type(item).__name__}")
        yield from item.batches(batch_size)


def _pass(net: Any, stimuli: Any, layers: Sequence[str], reducers: dict[str, Reducer],
          batch_size: int, show: bool, label: str, channels: str | None = None,
          capture: bool = False
          ) -> tuple[dict[str, torch.Tensor], list[Stimuli], Stimuli | None,
                     dict[str, torch.Tensor]]:
    """One streamed pass: the reduced responses, the batches' parameters (no images), the first
    batch (kept whole, for failure figures) and, with ``capture``, the first stimulus' maps."""
    import torch

    from actassert._memory import release_freed_memory
    from actassert.recording import record

    seen: list[Stimuli] = []
    first: Stimuli | None = None
    total = len(stimuli) if hasattr(stimuli, "__len__") else None
    progress = Progress(label, total) if show and (total is None or total > batch_size) else None
    device = getattr(net, "device", None)
    holder: dict[str, Any] = {}
    keeper = _FirstMaps() if capture else None

    def hook(maps: torch.Tensor, fn: Reducer, key: str) -> torch.Tensor:
        maps = to_channels_first(maps, channels, key)
        if keeper is not None:
            keeper.keep(key, maps)
        return fn(maps, holder["masks"])

    hooks = {name: (lambda maps, fn=fn, key=name: hook(maps, fn, key))
             for name, fn in reducers.items()}
    # inference_mode: no autograd bookkeeping at all (version counters, views), a little cheaper
    # than no_grad; what leaves this function is cloned outside it, so users get plain tensors.
    with record(net, layers, reduce=hooks, offload="cpu", stop_early=True,
                register=False, keep_inputs=False) as acts, torch.inference_mode():
        for batch in _batches(stimuli, batch_size):
            if seen and len(seen) % TRIM_EVERY == 0:  # earlier batches' maps are free now
                release_freed_memory()
            if seen and keeper is not None:
                keeper.active = False
            holder["masks"] = batch.masks if device is None else batch.masks.to(device)
            acts.run(batch.images)
            seen.append(_parameters_only(batch))
            first = batch if first is None else first
            if progress is not None:
                progress.advance(len(batch))
        if progress is not None:
            progress.close()
        if acts.never_ran():
            raise SweepError(f"sweep: {acts.never_ran_message()}")
    data = {key: acts[key].clone() for key in acts}
    maps = {k: v.clone() for k, v in keeper.by_key(data).items()} if keeper is not None else {}
    return data, seen, first, maps


class _FirstMaps:
    """Keeps the full maps of a sweep's first stimulus, taken by the hooks of the first batch, so
    a failure figure needs no second forward. One image's maps per layer: a few MB at most."""

    def __init__(self) -> None:
        self.active = True
        self.maps: dict[tuple[str, int], torch.Tensor] = {}
        self.calls: dict[str, int] = {}

    def keep(self, module: str, maps: torch.Tensor) -> None:
        if self.active and maps.dim() >= 2:
            call = self.calls.get(module, 0)
            self.calls[module] = call + 1
            self.maps[(module, call)] = maps[0].detach().to("cpu", copy=True)

    def by_key(self, data: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The kept maps under the keys of the sweep's responses (``name`` or ``name#k``)."""
        out = {}
        for key in data:
            module, _, call = key.partition("#")
            found = self.maps.get((module, int(call) if call else 0))
            if found is not None:
                out[key] = found
        return out


def sweep(net: Any, stimuli: Stimuli | Iterable[Stimuli], layers: str | Sequence[str], *,
          reduce: str | Reducer = "mean", batch_size: int | None = None,
          threshold: float | str | None = None, progress: bool | None = None,
          channels: str | None = None) -> Responses:
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
        channels: ``"last"`` for layers giving ``[N, H, W, K]`` (Swin, ConvNeXt blocks) or tokens
            ``[N, T, K]`` (ViT); the default reads ``[N, K, H, W]`` and refuses outputs that look
            channels-last; ``"first"`` forces that reading; ``"auto"`` decides per layer
            (see :func:`to_channels_first`), for networks mixing both, such as ConvNeXt.

    Returns:
        :class:`Responses`: layer -> ``Tensor[N, K]`` on the CPU, with the stimuli's parameters.

    Example:
        >>> from actassert import load_model, stimuli
        >>> net = load_model("resnet18", weights=None, device="cpu")
        >>> resp = sweep(net, stimuli.hue_disc(range(0, 360, 45), size=64), ["layer1", "fc"])
        >>> resp["layer1"].shape, resp["fc"].shape
        (torch.Size([8, 64]), torch.Size([8, 1000]))
    """
    from actassert.layers import resolve_layers
    from actassert.stimuli import Stimuli

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
    requests = resolve_layers(net, [layers] if isinstance(layers, str) else layers)
    names = [str(r) for r in requests]
    modules = sorted({r.name for r in requests})
    show = progress_wanted(progress)
    label = f"sweep {getattr(net, 'name', type(net).__name__)}"
    if reduce == "threshold":
        value, relative = _parse_threshold(threshold)
        levels: dict[str, Any] = {m: value for m in modules}
        if relative:
            if not isinstance(stimuli, Stimuli) and iter(stimuli) is stimuli:
                raise SweepError('threshold="N%" needs two passes over the stimuli; pass a '
                                 "Stimuli or a list of batches, not a one-shot generator")
            peak: dict[str, Reducer] = {m: _peak for m in modules}
            maxima, _, _, _ = _pass(net, stimuli, names, peak, size, show,
                                    label + " (maxima)", channels)
            # one level per recorded output: each call of a reused module has its own maxima
            by_key = {k: maxima[k].amax(dim=0) * value for k in maxima}
            levels.update({k.split("#")[0]: v for k, v in reversed(list(by_key.items()))})
            levels.update(by_key)
        reducers: dict[str, Reducer] = {k: _threshold_at(v) for k, v in levels.items()}
    elif callable(reduce):
        reducers = {m: reduce for m in modules}
    else:
        reducers = {m: (lambda maps, masks: reduce_maps(maps, masks, reduce)) for m in modules}
    record = registry.current()
    data, seen, first, maps = _pass(net, stimuli, names, reducers, size, show, label, channels,
                                    capture=record.keeps and record.wants_figures)
    if not seen or not data:
        raise SweepError("no stimuli were shown: the stimuli are empty")
    joined = Stimuli.concat(seen) if len(seen) > 1 else seen[0]
    responses = Responses(data, joined.params, joined.categories,
                          reduce if isinstance(reduce, str) else getattr(reduce, "__name__", "callable"),
                          getattr(net, "name", type(net).__name__), net=net, layers=names,
                          shown=stimuli if isinstance(stimuli, Stimuli) else first,
                          channels=channels)
    if maps:
        responses.maps[0] = maps
    record.add_responses(responses.network, responses)
    return responses


def _at_centre(maps: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """Each map sampled bilinearly under its stimulus' mask centroid, ``[N, K]``."""
    import torch
    import torch.nn.functional as F

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


def _threshold_at(level: Any) -> Reducer:
    """The threshold reduction at a fixed level (a float or one level per kernel)."""
    def reducer(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return reduce_maps(maps, masks, "threshold", level=level)
    return reducer


def _parameters_only(batch: Stimuli) -> Stimuli:
    """A stand-in of ``batch`` with 1-pixel images, so a long sweep keeps parameters, not images."""
    import torch

    from actassert.stimuli import Stimuli

    n = len(batch)
    return Stimuli(torch.zeros(n, 3, 1, 1), torch.ones(n, 1, 1, 1, dtype=torch.bool),
                   batch.params, batch.categories)


def _peak(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    return maps.flatten(2).amax(dim=2) if maps.dim() > 2 else maps
