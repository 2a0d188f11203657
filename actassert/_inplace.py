"""Which recorded outputs must be copied: those the rest of the forward changes in place.

A forward hook sees a module's output before the rest of the network runs, and the network may
then write into that very tensor: ``nn.ReLU(inplace=True)`` after a batch norm, ``out +=
identity`` in a residual block, or the caller changing the returned logits. A recording that
kept the tensor itself would then hold the changed values, so ``record`` used to copy every
output. Copying the maps of a few layers costs about as much as a few more layers of the forward
(the copies are large and fresh memory page-faults), so this module learns instead which outputs
are changed and copies only those:

1. The first forward of a network (per module structure) copies every output, and watches the
   version counter PyTorch keeps on every tensor; in-place ops bump it.
2. At the end of that forward, an output whose counter moved, or that is (a view of) what the
   network returns, is marked "changed"; the others "kept as they are".
3. Later forwards keep the marked-unchanged outputs without copying, and still watch them: if one
   was changed after all (a forward whose in-place ops depend on its input), the recording is
   known to be wrong, and :class:`~actassert.errors.RecordingError` says so instead of returning
   changed values; the layer is copied from then on.

What reaches the caller is always copied, because the caller may change it after the forward
and no version check can undo that: an output that shares storage with the network's input (a
first layer that is a view of the input) is copied when it is recorded, and one that shares
storage with any tensor of what the network returns (a tensor, or one inside a tuple, list, dict
or Hugging Face ``ModelOutput``) is copied at the end of the forward, before the caller gets it.
A parameter or buffer that a layer returns (a positional embedding) is marked "changed" too,
since an optimizer step writes into it. Anything else that writes into a record after the
forward (code that kept a reference to a layer's output) moves its version counter, and reading
the record then raises :class:`~actassert.errors.RecordingError` instead of returning changed
values.

Inference tensors (made under ``torch.inference_mode``) carry no version counter, so their
outputs are always copied. Verdicts are held weakly per network and forgotten when a module is
replaced, added or removed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from actassert.errors import RecordingError

__all__ = ["OutputCopies", "module_structure", "storages"]

#: Per network: the module structure the verdicts were learnt on, and per layer name whether the
#: rest of the forward changes its output in place (True) or not (False).
_VERDICTS: weakref.WeakKeyDictionary[nn.Module, tuple[int, dict[str, bool]]] = \
    weakref.WeakKeyDictionary()


def module_structure(root: nn.Module) -> int:
    """A fingerprint of ``root``'s modules: any module replaced, added or removed changes it, so
    what was learnt about a network (copies here, early-stop quotas in ``recording``) is never
    used on a changed one."""
    return hash(tuple(id(m) for m in root.modules()))


def storages(obj: object, depth: int = 4) -> set[int]:
    """The storage addresses of every tensor in ``obj``: a tensor, or one nested (up to ``depth``
    levels) in tuples, lists and mappings (a Hugging Face ``ModelOutput`` is a mapping).
    Inference tensors are left out: they are always copied."""
    if isinstance(obj, torch.Tensor):
        return {obj.untyped_storage().data_ptr()} \
            if obj.layout == torch.strided and not obj.is_inference() else set()
    if depth == 0:
        return set()
    if isinstance(obj, (tuple, list)):  # the common cases first: an ABC check costs microseconds
        items: Iterable[object] = obj
    elif isinstance(obj, (dict, Mapping)):
        items = obj.values()
    else:
        return set()
    found: set[int] = set()
    for item in items:
        if isinstance(item, torch.Tensor):
            if item.layout == torch.strided and not item.is_inference():
                found.add(item.untyped_storage().data_ptr())
        elif isinstance(item, (tuple, list, dict, Mapping)):
            found |= storages(item, depth - 1)
    return found


class OutputCopies:
    """Decides, per recorded output, between keeping the tensor and keeping a copy.

    One per ``record`` block: call :meth:`keep` from the layer hooks, :meth:`begin` with the
    network's inputs when a forward starts, :meth:`end` with its output when it ends, and
    :meth:`check` before handing out a record.
    """

    __slots__ = ("inputs", "kept", "root", "verdicts", "watched")

    def __init__(self, root: nn.Module) -> None:
        structure = module_structure(root)
        known = _VERDICTS.get(root)
        if known is None or known[0] != structure:
            known = (structure, {})
            _VERDICTS[root] = known
        self.root = root
        self.verdicts = known[1]
        #: storages of this forward's inputs: an output sharing one is copied at once
        self.inputs: set[int] = set()
        # (layer, the tensor as the network produced it, its version then, copied?)
        self.watched: list[tuple[str, torch.Tensor, int, bool]] = []
        #: id -> (tensor, version when recorded) of every record kept uncopied in this block
        self.kept: dict[int, tuple[torch.Tensor, int]] = {}

    def begin(self, inputs: object) -> None:
        """A forward starts with ``inputs`` (its args and kwargs): forget what an interrupted
        one was watching, and note the inputs' storages."""
        self.watched.clear()
        self.inputs = storages(inputs)

    def keep(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """The tensor to store for ``name``'s output ``value`` (already detached)."""
        verdict = self.verdicts.get(name)
        if verdict or value.is_inference() or value.layout != torch.strided or \
                value.untyped_storage().data_ptr() in self.inputs:
            return value.clone()
        copied = verdict is None  # not learnt yet: copy this time, and learn
        self.watched.append((name, value, value._version, copied))
        if copied:
            return value.clone()
        self.kept[id(value)] = (value, value._version)
        return value

    def end(self, output: object, replace: Callable[[torch.Tensor, torch.Tensor], None]) -> None:
        """A forward ended with ``output``: learn, check the outputs kept uncopied, and copy
        those that share storage with ``output`` (through ``replace(kept, copy)``) before the
        caller can change them.

        Raises:
            RecordingError: an output kept uncopied was changed in place after it was recorded.
        """
        returned = storages(output)
        if any(copied for _, _, _, copied in self.watched):  # learning: parameters reach out too
            returned |= storages(list(self.root.parameters()) + list(self.root.buffers()), 1)
        changed_uncopied = []
        for name, value, version, copied in self.watched:
            aliased = value.untyped_storage().data_ptr() in returned
            if copied:
                self.verdicts[name] = self.verdicts.get(name, False) or aliased or \
                    value._version != version
            elif value._version != version:
                self.verdicts[name] = True
                changed_uncopied.append(name)
            elif aliased:  # returned this time only: copy it now, and from now on
                self.verdicts[name] = True
                del self.kept[id(value)]
                replace(value, value.clone())
        self.watched.clear()
        if changed_uncopied:
            raise RecordingError(
                f"the output of {', '.join(sorted(set(changed_uncopied)))} was changed in place "
                "after it was recorded, in a forward where earlier ones left it alone, so this "
                "recording holds changed values. actassert copies that output from now on: run "
                "the forward again.")

    def check(self, name: str, chunks: list[torch.Tensor]) -> None:
        """Before ``name``'s record (``chunks``) is read: none kept uncopied was changed since.

        Raises:
            RecordingError: something wrote into a record after the forward.
        """
        for chunk in chunks:
            kept = self.kept.get(id(chunk))
            if kept is not None and kept[0] is chunk and chunk._version != kept[1]:
                self.verdicts[name.partition("#")[0]] = True
                raise RecordingError(
                    f"the record of {name!r} was changed in place after the forward (by code "
                    "that kept a reference to that layer's output), so it no longer holds what "
                    "the layer returned. actassert copies that output from now on: run the "
                    "forward again, or clone the tensor before changing it.")
