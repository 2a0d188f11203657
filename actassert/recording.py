"""Recording layer outputs with forward hooks: ``record`` and the ``Activations`` it fills."""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from actassert import registry
from actassert.errors import ActAssertError, ForwardStopped, NeverRanWarning, RecordingError
from actassert.layers import LayerRequest, resolve_layers, root_module

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["record", "Activations"]

Reduce = Callable[["torch.Tensor"], "torch.Tensor"] | Mapping[str, Callable[["torch.Tensor"], "torch.Tensor"]]


class Activations(Mapping[str, "torch.Tensor"]):
    """The outputs recorded by :func:`record`: a mapping from layer name to a tensor.

    Naming: a module called once per forward is stored under its dotted name (``layer2``). A
    module called several times in one forward (torchvision's ResNet calls each Bottleneck's
    ``relu`` three times) is stored once per call: ``layer1.0.relu#0``, ``#1``, ``#2``; asking for
    the bare name then raises a ``KeyError`` listing those keys. Ask for ``'layer1.0.relu#2'`` in
    ``record`` to keep one call only.

    Several forwards inside one block are concatenated along the batch dimension (dim 0), in call
    order, so recording a dataset in batches gives the same tensors as one big batch. A forward is
    one call of the root module.
    """

    def __init__(self, model: Any, requests: list[LayerRequest]) -> None:
        self.model = model
        self.requests = requests
        self.forwards = 0
        self.inputs: list[torch.Tensor] = []
        self._chunks: dict[tuple[str, int], list[torch.Tensor]] = {}
        self._calls: dict[str, int] = {}
        self._max_calls: dict[str, int] = {}
        self._cache: dict[str, torch.Tensor] = {}
        self._stop: _EarlyStop | None = None
        self._probing = False
        self.skipped: dict[str, str] = {}

    # --- filled by the hooks -----------------------------------------------------------------
    def _begin_forward(self) -> None:
        self.forwards += 0 if self._probing else 1
        self._calls = {}

    def _next_call(self, name: str) -> int:
        call = self._calls.get(name, 0)
        self._calls[name] = call + 1
        self._max_calls[name] = max(self._max_calls.get(name, 0), call + 1)
        return call

    def _store(self, name: str, call: int, tensor: torch.Tensor) -> None:
        self._chunks.setdefault((name, call), []).append(tensor)
        self._cache.clear()

    # --- the mapping -------------------------------------------------------------------------
    def _key(self, name: str, call: int) -> str:
        explicit = any(r.name == name and r.call is not None for r in self.requests)
        return f"{name}#{call}" if explicit or self._max_calls.get(name, 1) > 1 else name

    def _index(self) -> dict[str, tuple[str, int]]:
        return {self._key(name, call): (name, call) for name, call in self._chunks}

    def __getitem__(self, key: str) -> torch.Tensor:
        import torch

        if key in self._cache:
            return self._cache[key]
        index = self._index()
        if key not in index:
            calls = [k for k in index if k.startswith(key + "#")]
            if calls:
                raise KeyError(f"{key!r} was called {len(calls)} times per forward; its outputs "
                               f"are {', '.join(calls)}")
            if self.forwards == 0:
                raise KeyError(f"{key!r} was not recorded: the network was not called inside the "
                               "record block")
            raise KeyError(f"{key!r} was not recorded in {self.forwards} forward(s): "
                           f"{self.never_ran_message() or 'recorded: ' + ', '.join(index)}")
        chunks = self._chunks[index[key]]
        value = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=0)
        self._cache[key] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._chunks)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {tuple(self[k].shape)}" for k in self)
        return f"Activations({shapes})"

    def never_ran(self) -> list[str]:
        """Requested layers (or ``#`` calls) that no forward of this block produced."""
        if self.forwards == 0:
            return []
        seen = {(name, call) for name, call in self._chunks}
        missing = []
        for r in self.requests:
            if r.name in self.skipped:
                continue
            if (r.call is None and not any(name == r.name for name, _ in seen)) or (r.call is not None and (r.name, r.call) not in seen):
                missing.append(str(r))
        return missing

    def never_ran_message(self) -> str:
        """Why requested layers are missing: how often each module was called per forward."""
        missing = self.never_ran()
        if not missing:
            return ""
        parts = []
        for text in missing[:5]:
            name = text.split("#")[0]
            parts.append(f"{text} never ran ({name} was called {self._max_calls.get(name, 0)} "
                         "time(s) per forward)")
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        return ("; ".join(parts) + more + ". A module the forward bypasses (its parent uses "
                "the weights directly) or a call index past the last call records nothing.")

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Each recorded name with its tensor's shape."""
        return {k: tuple(self[k].shape) for k in self}

    def numpy(self) -> dict[str, Any]:
        """Each recorded tensor as a NumPy array on the CPU (e.g. for ``numpy.savez``)."""
        return {k: self[k].detach().cpu().numpy() for k in self}

    def run(self, images: torch.Tensor) -> Any:
        """Call the recorded model on ``images`` (through ``Network`` preprocessing if it is one).

        With ``stop_early``, the first call first runs one image to the end, unrecorded, to count
        the requested modules' calls, so even the first batch stops early.

        Returns the model's output, or ``None`` when ``stop_early`` cut the forward short.
        """
        import torch

        if self._stop is not None:
            self._stop.recall(images)
        if self._stop is not None and self._stop.quota is None and len(images) > 1:
            self._probing = True
            try:
                with torch.no_grad():
                    self.model(images[:1])
            finally:
                self._probing = False
        try:
            with torch.no_grad():
                return self.model(images)
        except ForwardStopped:
            return None


class _EarlyStop:
    """Stops a forward once every requested module has been called as often as in a full one.

    The counts (the quota) come from one full forward: the first forward of a ``record`` block,
    or the one-image probe ``Activations.run`` makes. They are remembered per network, requested
    modules, input shape and module structure, so later blocks on the same network (the next
    sweep) skip the probe. Exact for networks whose forward calls the same modules every time
    (vision CNNs do); a forward whose control flow depends on its input should not use
    ``stop_early``.
    """

    def __init__(self, root: nn.Module, names: set[str]) -> None:
        self.root = root
        self.names = names
        self.quota: dict[str, int] | None = None
        self.key: tuple[Any, ...] | None = None

    def recall(self, images: torch.Tensor) -> None:
        """Take the quota learnt earlier for this network and input, if any."""
        if self.quota is not None:
            return
        # Any module replaced, added or removed changes the ids, so a stale quota is never used.
        structure = hash(tuple(id(m) for m in self.root.modules()))
        self.key = (tuple(sorted(self.names)), tuple(images.shape[1:]), images.dtype, structure)
        self.quota = _QUOTAS.get(self.root, {}).get(self.key)

    def learn(self, calls: dict[str, int]) -> None:
        if self.quota is None:
            self.quota = {n: calls.get(n, 0) for n in self.names}
            if self.key is not None:
                _QUOTAS.setdefault(self.root, {})[self.key] = self.quota

    def check(self, calls: dict[str, int]) -> None:
        if self.quota is not None and all(calls.get(n, 0) >= q for n, q in self.quota.items()):
            raise ForwardStopped()


#: Learnt quotas per network (weakly held: a network that is freed takes its entries along).
_QUOTAS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], dict[str, int]]] = \
    weakref.WeakKeyDictionary()


def _register(root: nn.Module, acts: Activations, reduce: Reduce | None, offload: Any,
              stop: _EarlyStop | None, keep_inputs: bool, skip_non_tensors: bool) -> list[Any]:
    """Attach every hook; return the handles."""
    import torch

    modules = dict(root.named_modules())
    wanted: dict[str, set[int] | None] = {}
    for r in acts.requests:
        calls = wanted.setdefault(r.name, set())
        if calls is not None:
            if r.call is None:
                wanted[r.name] = None
            else:
                calls.add(r.call)

    def on_root_start(module: nn.Module, args: Any) -> None:
        acts._begin_forward()
        if keep_inputs and not acts.inputs and not acts._probing and args \
                and isinstance(args[0], torch.Tensor):
            acts.inputs.append(args[0].detach().clone())

    handles = [root.register_forward_pre_hook(on_root_start)]
    if stop is not None:
        handles.append(root.register_forward_hook(lambda m, a, o: stop.learn(acts._calls)))

    def make_hook(name: str, calls: set[int] | None) -> Callable:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            call = acts._next_call(name)
            if acts._probing:
                return
            if calls is not None and call not in calls:
                if stop is not None:
                    stop.check(acts._calls)
                return
            if not isinstance(output, torch.Tensor):
                if skip_non_tensors:
                    acts.skipped[name] = type(output).__name__
                    return
                raise RecordingError(
                    f"layer {name!r} returned {type(output).__name__}, not a tensor; record one "
                    "of its submodules instead (actassert.list_layers lists them)")
            value = output.detach()
            if reduce is not None:
                fn = (reduce.get(f"{name}#{call}") or reduce[name]) \
                    if isinstance(reduce, Mapping) else reduce
                try:
                    reduced = fn(value)
                except ActAssertError:  # already says what is wrong and how to fix it
                    raise
                except Exception as exc:
                    raise RecordingError(f"reduce failed on layer {name!r} (output of shape "
                                         f"{list(value.shape)}): {type(exc).__name__}: {exc}") from exc
                value = reduced.clone() if reduced.untyped_storage().data_ptr() == \
                    value.untyped_storage().data_ptr() else reduced.detach()
            else:
                value = value.clone()
            if offload is not None:
                value = value.to(offload)
            acts._store(name, call, value)
            if stop is not None:
                stop.check(acts._calls)
        return hook

    for name, calls in wanted.items():
        handles.append(modules[name].register_forward_hook(make_hook(name, calls)))
    return handles


@contextlib.contextmanager
def record(model: Any, layers: str | Iterable[str], *,
           reduce: Reduce | None = None,
           offload: Any = None, stop_early: bool = False,
           keep_inputs: bool | None = None, register: bool = True,
           skip_non_tensors: bool = False) -> Iterator[Activations]:
    """Record the outputs of ``layers`` for every forward run inside the ``with`` block.

    Captured tensors are detached clones, so an in-place operation later in the forward
    (``ReLU(inplace=True)``) cannot change a record, and the model's output is bit-identical to a
    run without hooks. Hooks are removed and every module's train/eval flag is restored when the
    block exits, also when the forward raises.

    Args:
        model: a :class:`~actassert.Network` (images in [0, 1]) or any ``nn.Module``.
        layers: names (``"layer2"``), calls (``"layer1.0.relu#1"``) or globs (``"layer*.0.conv*"``).
        reduce: applied inside the hook to each output (e.g. a spatial mean ``[N,K,H,W] -> [N,K]``),
            so only the reduction is kept in memory; a mapping gives one function per module name.
        offload: a device to move records to as they are captured (e.g. ``"cpu"``).
        stop_early: after the first forward, stop each forward once the requested modules have
            been called as often as in the first (exact for networks with a fixed control flow);
            call the network through ``acts.run(images)``, which swallows the stop.
        keep_inputs: keep the root module's input of the first forward in ``acts.inputs``
            (default: when ``reduce`` is None), so a failure report can show what was shown.
        register: list the result in the running test's registry for failure artefacts.
        skip_non_tensors: skip layers whose output is not a tensor (named in ``acts.skipped``)
            instead of raising ``RecordingError``.

    Yields:
        :class:`Activations`, filled as forwards run.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(inplace=True))
        >>> with record(net, ["0", "1"]) as acts:
        ...     _ = net(torch.rand(2, 3, 8, 8))
        >>> acts["0"].shape
        torch.Size([2, 4, 6, 6])
    """
    root = root_module(model)
    requests = resolve_layers(model, layers)
    if isinstance(reduce, Mapping):
        missing = sorted({r.name for r in requests} - set(reduce))
        if missing:
            raise ValueError(f"reduce has no function for {', '.join(missing)}")
    acts = Activations(model, requests)
    training = {m: m.training for m in root.modules()}
    stop = _EarlyStop(root, {r.name for r in requests}) if stop_early else None
    keep = (reduce is None) if keep_inputs is None else keep_inputs
    acts._stop = stop
    if register:  # at entry, so a test failing while the block is still open gets its figures
        label = getattr(model, "name", None) or type(root).__name__
        registry.current().add_activations(label, acts)
    handles: list[Any] = []
    try:
        handles = _register(root, acts, reduce, offload, stop, keep, skip_non_tensors)
        yield acts
        if acts.never_ran():
            warnings.warn(NeverRanWarning(f"record: {acts.never_ran_message()}"), stacklevel=3)
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training.items():
            module.training = flag
