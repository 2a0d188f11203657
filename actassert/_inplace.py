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

Inference tensors (made under ``torch.inference_mode``) carry no version counter, so their
outputs are always copied. Verdicts are held weakly per network and forgotten when a module is
replaced, added or removed.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from actassert.errors import RecordingError

__all__ = ["OutputCopies", "module_structure"]

#: Per network: the module structure the verdicts were learnt on, and per layer name whether the
#: rest of the forward changes its output in place (True) or not (False).
_VERDICTS: weakref.WeakKeyDictionary[nn.Module, tuple[int, dict[str, bool]]] = \
    weakref.WeakKeyDictionary()


def module_structure(root: nn.Module) -> int:
    """A fingerprint of ``root``'s modules: any module replaced, added or removed changes it, so
    what was learnt about a network (copies here, early-stop quotas in ``recording``) is never
    used on a changed one."""
    return hash(tuple(id(m) for m in root.modules()))


class OutputCopies:
    """Decides, per recorded output, between keeping the tensor and keeping a copy.

    One per ``record`` block: call :meth:`keep` from the layer hooks, :meth:`begin` when a
    forward starts and :meth:`end` with the network's output when it ends.
    """

    __slots__ = ("verdicts", "watched")

    def __init__(self, root: nn.Module) -> None:
        structure = module_structure(root)
        known = _VERDICTS.get(root)
        if known is None or known[0] != structure:
            known = (structure, {})
            _VERDICTS[root] = known
        self.verdicts = known[1]
        # (layer, the tensor as the network produced it, its version then, copied?)
        self.watched: list[tuple[str, torch.Tensor, int, bool]] = []

    def begin(self) -> None:
        """A forward starts: forget what an interrupted one was watching."""
        self.watched.clear()

    def keep(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """The tensor to store for ``name``'s output ``value`` (already detached)."""
        verdict = self.verdicts.get(name)
        if verdict or value.is_inference():
            return value.clone()
        copied = verdict is None  # not learnt yet: copy this time, and learn
        self.watched.append((name, value, value._version, copied))
        return value.clone() if copied else value

    def end(self, output: Any) -> None:
        """A forward ended with ``output``: learn, and check the outputs kept uncopied.

        Raises:
            RecordingError: an output kept uncopied was changed in place after it was recorded.
        """
        returned = output.untyped_storage().data_ptr() if isinstance(output, torch.Tensor) \
            and not output.is_inference() else None
        changed_uncopied = []
        for name, value, version, copied in self.watched:
            changed = value._version != version or \
                value.untyped_storage().data_ptr() == returned
            if copied:
                self.verdicts[name] = self.verdicts.get(name, False) or changed
            elif changed:
                self.verdicts[name] = True
                changed_uncopied.append(name)
        self.watched.clear()
        if changed_uncopied:
            raise RecordingError(
                f"the output of {', '.join(sorted(set(changed_uncopied)))} was changed in place "
                "after it was recorded, in a forward where earlier ones left it alone, so this "
                "recording holds changed values. actassert copies that output from now on: run "
                "the forward again.")
