"""Recording layer outputs with forward hooks: ``record`` and the ``Activations`` it fills."""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from actassert import evidence
from actassert._inplace import OutputCopies, module_structure
from actassert._support.compiled import eager_while_recording
from actassert._support.fields import tensor_fields
from actassert.attention import attention_weights, check_attention, is_attention
from actassert.errors import ActAssertError, ForwardStopped, NeverRanWarning, RecordingError
from actassert.layers import LayerRequest, resolve_layers, root_module

if TYPE_CHECKING:
    import numpy as np
    from torch.utils.hooks import RemovableHandle

    from actassert.types import (
        DeviceLike,
        ImagesLike,
        LayersLike,
        ModelLike,
        OutputReducer,
        ReduceLike,
    )

__all__ = ["record", "Activations"]


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

    Inside the package, a consumer set as ``_sink`` (a function of module name, call index and
    the live output) gets every recorded output as the hook sees it, instead of the mapping
    keeping it: the checks that look at every layer compare or reduce each map there and drop it.
    """

    def __init__(self, model: ModelLike, requests: list[LayerRequest]) -> None:
        self.model = model
        self.requests = requests
        self.forwards = 0
        self.inputs: list[torch.Tensor] = []
        self._chunks: dict[tuple[str, int], list[torch.Tensor]] = {}
        self._calls: dict[str, int] = {}
        self._max_calls: dict[str, int] = {}
        self._cache: dict[str, torch.Tensor] = {}
        # key -> (module, call), kept up to date as chunks and calls arrive: lookups are O(1)
        self._index: dict[str, tuple[str, int]] = {}
        self._explicit = {r.name for r in requests if r.call is not None}
        self._sink: Callable[[str, int, torch.Tensor], None] | None = None
        self._stop: _EarlyStop | None = None
        self._probing = False
        self.skipped: dict[str, str] = {}
        self._copies: OutputCopies | None = None  # set by record when outputs are kept whole
        #: recorded name -> the module it comes from, for a container's field (``mha.0``)
        self._field_of: dict[str, str] = {}

    # --- filled by the hooks -----------------------------------------------------------------
    def _begin_forward(self) -> None:
        self.forwards += 0 if self._probing else 1
        self._calls = {}

    def _next_call(self, name: str) -> int:
        call = self._calls.get(name, 0)
        self._calls[name] = call + 1
        if call + 1 > self._max_calls.get(name, 0):
            self._max_calls[name] = call + 1
            if call == 1 and name not in self._explicit:
                # a second call: the first one's key becomes "name#0" (its chunks stay), and so
                # do its container fields' ("name.0" -> "name.0#0"); rare: once per module
                fields = [f for f, m in self._field_of.items() if m == name]
                for key in (name, *fields):
                    if key in self._index:
                        self._index[f"{key}#0"] = self._index.pop(key)
                        self._cache.pop(key, None)
        return call

    def _store(self, name: str, call: int, tensor: torch.Tensor) -> None:
        chunks = self._chunks.get((name, call))
        if chunks is None:
            self._chunks[(name, call)] = [tensor]
            self._index[self._key(name, call)] = (name, call)
        else:  # a later forward: the key is known (and spelt only if a read cached the join)
            chunks.append(tensor)
            if self._cache:
                self._cache.pop(self._key(name, call), None)

    def _forget_forward(self) -> None:
        """Forget the block's first forward, which is about to run again (a sweep's batch whose
        layouts needed a probe); it clears every record, so call it after the first only."""
        self._chunks.clear()
        self._cache.clear()
        self._index.clear()
        self.forwards -= 1

    def _replace(self, kept: torch.Tensor, copy: torch.Tensor) -> None:
        """Swap the stored tensor ``kept`` for ``copy`` (a record that must be copied after all)."""
        for chunks in self._chunks.values():
            for i, chunk in enumerate(chunks):
                if chunk is kept:
                    chunks[i] = copy
        self._cache.clear()

    # --- the mapping -------------------------------------------------------------------------
    def _key(self, name: str, call: int) -> str:
        module = self._field_of.get(name, name)  # a field is named by its module's calls
        explicit = module in self._explicit
        return f"{name}#{call}" if explicit or self._max_calls.get(module, 1) > 1 else name

    def __getitem__(self, key: str) -> torch.Tensor:
        if key in self._cache:
            return self._cache[key]
        index = self._index
        if key not in index:
            calls = [k for k in self if k.startswith(key + "#")]
            if calls:
                raise KeyError(f"{key!r} was called {len(calls)} times per forward; its outputs "
                               f"are {', '.join(calls)}")
            fields = [k for k in index if self._field_of.get(index[k][0]) == key]
            if fields:
                raise KeyError(f"{key!r} returned a container, not a tensor; its tensors are "
                               f"recorded as {', '.join(fields)}")
            if self.forwards == 0:
                raise KeyError(f"{key!r} was not recorded: the network was not called inside the "
                               "record block")
            raise KeyError(f"{key!r} was not recorded in {self.forwards} forward(s): "
                           f"{self.never_ran_message() or 'recorded: ' + ', '.join(self)}")
        chunks = self._chunks[index[key]]
        if self._copies is not None:
            self._copies.check(index[key][0], chunks)
        value = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=0)
        self._cache[key] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return (self._key(name, call) for name, call in self._chunks)  # forward order

    def __len__(self) -> int:
        return len(self._chunks)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {tuple(self[k].shape)}" for k in self)
        return f"Activations({shapes})"

    def never_ran(self) -> list[str]:
        """Requested layers (or ``#`` calls) that no forward of this block produced."""
        if self.forwards == 0:
            return []
        seen = {(self._field_of.get(name, name), call) for name, call in self._chunks}
        names = {name for name, _ in seen}
        missing = []
        for r in self.requests:
            if r.name in self.skipped:
                continue
            if (r.call is None and r.name not in names) or (r.call is not None and (r.name, r.call) not in seen):
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

    def module_of(self, key: str) -> str:
        """The module a recorded ``key`` comes from: ``layer1.0.relu`` for ``layer1.0.relu#1``,
        ``attn`` for the field ``attn.0`` or the attention weights ``attn:attn``."""
        name = key.partition("#")[0]
        return self._field_of.get(name, name).partition(":")[0]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Each recorded name with its tensor's shape."""
        return {k: tuple(self[k].shape) for k in self}

    def numpy(self) -> dict[str, np.ndarray]:
        """Each recorded tensor as a NumPy array on the CPU (e.g. for ``numpy.savez``)."""
        return {k: self[k].detach().cpu().numpy() for k in self}

    def run(self, images: ImagesLike) -> Any:
        """Call the recorded model on ``images`` (through ``Network`` preprocessing if it is one).

        With ``stop_early``, the first call first runs one image to the end, unrecorded, to count
        the requested modules' calls, so even the first batch stops early.

        Returns:
            The model's output, or ``None`` when ``stop_early`` cut the forward short. Typed
            ``Any``: a model may return a tensor, a tuple, a dict or its own output class.
        """
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
        self.key = (tuple(sorted(self.names)), tuple(images.shape[1:]), images.dtype,
                    module_structure(self.root))
        self.quota = _QUOTAS.get(self.root, {}).get(self.key)

    def learn(self, calls: dict[str, int]) -> None:
        """After a full forward: its per-module call counts become the quota (and are kept)."""
        if self.quota is None:
            self.quota = {n: calls.get(n, 0) for n in self.names}
            if self.key is not None:
                _QUOTAS.setdefault(self.root, {})[self.key] = self.quota

    def check(self, calls: dict[str, int]) -> None:
        """Stop the forward (raise ``ForwardStopped``) once every quota is met."""
        if self.quota is not None and all(calls.get(n, 0) >= q for n, q in self.quota.items()):
            raise ForwardStopped()


#: Learnt quotas per network (weakly held: a network that is freed takes its entries along).
_QUOTAS: weakref.WeakKeyDictionary[nn.Module, dict[tuple[Any, ...], dict[str, int]]] = \
    weakref.WeakKeyDictionary()


def _wanted_calls(requests: list[LayerRequest]) -> dict[str, set[int] | None]:
    """Module name -> the calls to keep (``None``: every call), from the requests."""
    wanted: dict[str, set[int] | None] = {}
    for r in requests:
        calls = wanted.setdefault(r.name, set())
        if calls is not None:
            if r.call is None:
                wanted[r.name] = None
            else:
                calls.add(r.call)
    return wanted


class _LayerHook:
    """The forward hook of one recorded module: counts its calls and stores the requested ones.

    One per module. Everything a call needs is looked up once here (the reduce function, the
    per-call overrides of a reduce mapping), so a call does no more than store, reduce or skip.
    Its bound ``__call__`` is what gets registered: calling a bound method is cheaper than
    calling an instance (which looks ``__call__`` up on the type at every call).
    """

    __slots__ = ("acts", "by_call", "calls", "copies", "fn", "lenient", "name", "offload",
                 "stop", "taken")

    def __init__(self, name: str, calls: set[int] | None, acts: Activations,
                 reduce: ReduceLike | None, offload: DeviceLike | None, stop: _EarlyStop | None,
                 lenient: bool, copies: OutputCopies | None, taken: frozenset[str]) -> None:
        self.name = name
        self.copies = copies
        self.calls = calls  # the call indices to keep; None: every call
        self.acts = acts
        self.fn, self.by_call = _reducers_of(name, reduce)
        self.offload = offload
        self.stop = stop
        self.lenient = lenient  # skip what cannot be recorded (listed in acts.skipped)
        self.taken = taken  # the model's module names, which a container's field must not take

    def __call__(self, module: nn.Module, args: object, output: object) -> None:
        """The forward hook: count the call, then store the output, reduced, or skip it."""
        acts = self.acts
        call = acts._next_call(self.name)
        if acts._probing:
            return
        if self.calls is None or call in self.calls:
            if isinstance(output, torch.Tensor):
                self._take(self.name, output.detach(), call)
            else:
                self._store_fields(output, call)
        if self.stop is not None:
            self.stop.check(acts._calls)

    def _take(self, name: str, value: torch.Tensor, call: int) -> None:
        """Hand the live output ``value`` to the block's sink, which reads it now (nothing is
        kept), or store what :meth:`_kept` gives."""
        if self.acts._sink is not None:
            self.acts._sink(name, call, value)
        else:
            self.acts._store(name, call, self._kept(name, value, call))

    def _kept(self, name: str, value: torch.Tensor, call: int) -> torch.Tensor:
        """What to store for the live output ``value``: reduced, moved, or kept (copied where
        anything may change it later)."""
        if self.fn is not None:
            value = self._reduce(value, call)
            return value if self.offload is None else value.to(self.offload)
        if self.offload is not None:  # the move is the copy the live output needs
            return value.to(self.offload, copy=True)
        assert self.copies is not None  # made whenever there is no reduce and no offload
        return self.copies.keep(name, value)

    def _store_fields(self, output: object, call: int) -> None:
        """A container output: its tensors as ``name.0`` / ``name.logits``, else skip or raise."""
        fields = "a reduce applies to tensors" if self.fn is not None and \
            isinstance(output, (tuple, list, Mapping)) else \
            tensor_fields(output, self.name, self.taken)
        if isinstance(fields, dict):
            for field, tensor in fields.items():
                self.acts._field_of[field] = self.name
                self._take(field, tensor.detach(), call)
            return
        what = type(output).__name__ + (f" ({fields})" if fields else "")
        if self.lenient:
            self.acts.skipped[self.name] = what
            return
        raise RecordingError(
            f"layer {self.name!r} returned {what}, not a tensor or a container of tensors; "
            "record one of its submodules instead (actassert.list_layers lists them), or pass "
            "skip_non_tensors=True")

    def _reduce(self, value: torch.Tensor, call: int) -> torch.Tensor:
        """``value`` through this layer's reduce function, never aliasing the live output."""
        fn = self.by_call.get(call, self.fn) if self.by_call else self.fn
        assert fn is not None
        try:
            reduced = fn(value)
        except ActAssertError:  # already says what is wrong and how to fix it
            raise
        except Exception as exc:
            raise RecordingError(f"reduce failed on layer {self.name!r} (output of shape "
                                 f"{list(value.shape)}): {type(exc).__name__}: {exc}") from exc
        # a reduction that returns its input (or a view of it) must not keep the live output
        return reduced.clone() if reduced.untyped_storage().data_ptr() == \
            value.untyped_storage().data_ptr() else reduced.detach()


def _reducers_of(name: str, reduce: ReduceLike | None
                 ) -> tuple[OutputReducer | None, dict[int, OutputReducer]]:
    """Module ``name``'s reduce function and, from a mapping, the overrides of single calls.

    A mapping key ``"name#k"`` applies to call ``k`` of the module, ``"name"`` to the others.
    """
    if not isinstance(reduce, Mapping):
        return reduce, {}
    by_call = {}
    for key, fn in reduce.items():
        module, _, call = key.partition("#")
        if module == name and call.isdigit() and str(int(call)) == call:
            by_call[int(call)] = fn
    return reduce[name], by_call


class _AttentionHook(_LayerHook):
    """The hook of a ``name:attn`` request: the module's attention weights, computed from the
    input it was called with (``actassert.attention``); registered with its kwargs."""

    __slots__ = ()

    def on_forward(self, module: nn.Module, args: tuple[object, ...],
                   kwargs: dict[str, object], output: object) -> None:
        """The forward hook: count the call, then store this call's weights (reduced)."""
        acts = self.acts
        call = acts._next_call(self.name)
        if acts._probing:
            return
        if self.calls is None or call in self.calls:
            self._take(self.name, attention_weights(module, args, kwargs), call)
        if self.stop is not None:
            self.stop.check(acts._calls)

    def _kept(self, name: str, value: torch.Tensor, call: int) -> torch.Tensor:
        """The weights, reduced or moved; never copied (they are a new tensor)."""
        if self.fn is not None:
            value = self._reduce(value, call)
        return value if self.offload is None else value.to(self.offload)


def _attach(handles: list[RemovableHandle], root: nn.Module, acts: Activations,
            reduce: ReduceLike | None, offload: DeviceLike | None, keep_inputs: bool,
            skip_non_tensors: bool) -> None:
    """Register every hook of a ``record`` block, appending each handle to ``handles`` at once
    (so that a failure half way still removes those already attached)."""
    stop = acts._stop
    # only outputs kept whole and on their device can alias the live ones (a reduce makes a new
    # tensor, an offload copies in the move): sweeps, which always reduce, skip this entirely
    copies = acts._copies = OutputCopies(root) if reduce is None and offload is None else None

    def on_root_start(module: nn.Module, args: tuple[object, ...],
                      kwargs: dict[str, object]) -> None:
        acts._begin_forward()
        if copies is not None:
            copies.begin((args, kwargs))
        if keep_inputs and not acts.inputs and not acts._probing and args \
                and isinstance(args[0], torch.Tensor):
            acts.inputs.append(args[0].detach().clone())

    def on_root_end(module: nn.Module, args: tuple[object, ...], output: object) -> None:
        if stop is not None:
            stop.learn(acts._calls)
        if copies is not None:
            copies.end(output, acts._replace)

    handles.append(root.register_forward_pre_hook(on_root_start, with_kwargs=True))
    if stop is not None or copies is not None:
        handles.append(root.register_forward_hook(on_root_end))
    modules = dict(root.named_modules())
    taken = frozenset(modules)
    requests_of: dict[str, list[LayerRequest]] = {}
    for request in acts.requests:
        requests_of.setdefault(request.name, []).append(request)
    for name, calls in _wanted_calls(acts.requests).items():
        same = requests_of[name]
        module = modules[same[0].module]
        lenient = skip_non_tensors or all(r.glob for r in same)
        if name != same[0].module:  # name:attn
            if lenient and not is_attention(module):  # "blocks.**:attn": the attention modules
                acts.skipped[name] = f"{type(module).__name__} (not an attention module)"
                continue
            check_attention(same[0].module, module)
            attn = _AttentionHook(name, calls, acts, reduce, offload, stop, lenient, copies, taken)
            handles.append(module.register_forward_hook(attn.on_forward, with_kwargs=True))
            continue
        hook = _LayerHook(name, calls, acts, reduce, offload, stop, lenient, copies, taken)
        handles.append(module.register_forward_hook(hook.__call__))


@contextlib.contextmanager
def _hooks_removed_and_modes_restored(root: nn.Module) -> Iterator[list[RemovableHandle]]:
    """Yield a list for hook handles; on exit remove them and restore every train/eval flag."""
    training = {m: m.training for m in root.modules()}
    handles: list[RemovableHandle] = []
    try:
        yield handles
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training.items():
            module.training = flag


def _resolve(model: ModelLike, layers: LayersLike, reduce: ReduceLike | None
             ) -> list[LayerRequest]:
    """The requests for ``layers``; a reduce mapping must have a function for each module."""
    requests = resolve_layers(model, layers)
    if isinstance(reduce, Mapping):
        missing = sorted({r.name for r in requests} - set(reduce))
        if missing:
            raise ValueError(f"reduce has no function for {', '.join(missing)}")
    return requests


@contextlib.contextmanager
def record(model: ModelLike, layers: LayersLike, *,
           reduce: ReduceLike | None = None,
           offload: DeviceLike | None = None, stop_early: bool = False,
           keep_inputs: bool | None = None, register: bool = True,
           skip_non_tensors: bool = False) -> Iterator[Activations]:
    """Record the outputs of ``layers`` for every forward run inside the ``with`` block.

    A record is what the module returned: an in-place operation later in the forward
    (``ReLU(inplace=True)``) or the caller changing the model's input or output afterwards cannot
    change it (``actassert._inplace`` copies exactly the outputs that need it), and the model's
    output is bit-identical to a run without hooks. Hooks are removed and every module's
    train/eval flag is restored when the block exits, also when the forward raises.

    A ``torch.compile`` model runs eagerly inside the block (``set_stance("force_eager")``), so
    every hook runs (pytorch#117758); its names are the original module's (``layer1``).

    Args:
        model: a :class:`~actassert.Network` (images in [0, 1]) or any ``nn.Module``.
        layers: names (``"layer2"``), calls (``"layer1.0.relu#1"``) or globs (``"layer*.0.conv*"``);
            ``"blocks.3.attn:attn"`` for an attention module's weights ``[N, heads, T, S]``
            (``actassert.attention``). A module returning a tuple, list, dict or ``ModelOutput``
            is recorded by field (``attn.0``, ``vit.last_hidden_state``).
        reduce: applied inside the hook to each output (e.g. a spatial mean ``[N,K,H,W] -> [N,K]``),
            so only the reduction is kept in memory; a mapping gives one function per module name
            (a ``"name#k"`` key for call ``k`` only).
        offload: a device to move records to as they are captured (e.g. ``"cpu"``).
        stop_early: after the first forward, stop each forward once the requested modules have
            been called as often as in the first (exact for networks with a fixed control flow);
            call the network through ``acts.run(images)``, which swallows the stop.
        keep_inputs: keep the root module's input of the first forward in ``acts.inputs``
            (default: when ``reduce`` is None), so a failure report can show what was shown.
        register: list the result in the running test's evidence, for its failure artefacts.
        skip_non_tensors: skip layers whose output cannot be recorded (not a tensor, and not a
            container whose tensors can be named) instead of raising ``RecordingError``; they
            are named in ``acts.skipped``. Layers matched by a glob are always skipped so.

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
    acts = Activations(model, _resolve(model, layers, reduce))
    acts._stop = _EarlyStop(root, {r.name for r in acts.requests}) if stop_early else None
    keep = (reduce is None) if keep_inputs is None else keep_inputs
    with _hooks_removed_and_modes_restored(root) as handles, \
            eager_while_recording(getattr(model, "module", model)):  # a compiled wrapper, or root
        if register:  # at entry, so a test failing while the block is still open gets its figures
            label = getattr(model, "name", None) or type(root).__name__
            evidence.current().add_activations(label, acts)
        _attach(handles, root, acts, reduce, offload, keep, skip_non_tensors)
        yield acts
        if acts.never_ran():
            warnings.warn(NeverRanWarning(f"record: {acts.never_ran_message()}"), stacklevel=3)
