"""A container output as named tensors: ``mha.0``, ``model.logits``, or why it cannot be named."""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["tensor_fields"]

_DEPTH = 3  # containers inside containers: HF's hidden_states tuple inside a ModelOutput
_BAD_CHARS = set(".#:*?[ ")


def tensor_fields(output: object, name: str, taken: set[str] | frozenset[str]
                  ) -> dict[str, torch.Tensor] | str:
    """The tensors in a module's container output, named ``name.field``, or why not.

    Tuples and lists name their items by position (``name.0``), mappings (``dict``, Hugging
    Face's ``ModelOutput``) by key (``name.logits``), nested up to three levels
    (``name.hidden_states.2``); items that are not tensors or containers (``None``, numbers)
    are left out.

    Args:
        output: what the module returned.
        name: the module's dotted name.
        taken: names already meaning something (the model's module names): a field that would be
            called like one is ambiguous.

    Returns:
        The fields in order, or a reason (``""`` for an output that is not a container) when
        nothing can be recorded without ambiguity.
    """
    if not isinstance(output, (tuple, list, Mapping)):
        return ""
    found: dict[str, torch.Tensor] = {}
    unnamable = _walk(output, name, _DEPTH, found)
    if unnamable:
        return unnamable
    if not found:
        return "no tensors inside"
    clash = [f for f in found if f in taken]
    if clash:
        return f"its field {clash[0]!r} would be named like the submodule {clash[0]!r}"
    return found


def _walk(obj: object, path: str, depth: int, found: dict[str, torch.Tensor]) -> str:
    """Add ``obj``'s tensors to ``found`` under ``path``; the reason a field cannot be named
    (``""``: none)."""
    if isinstance(obj, torch.Tensor):
        found[path] = obj
        return ""
    if isinstance(obj, Mapping):
        items = list(obj.items())
    elif isinstance(obj, (tuple, list)):
        items = list(enumerate(obj))
    else:
        return ""
    if depth == 0:
        deeper = any(isinstance(v, (torch.Tensor, tuple, list, Mapping)) for _, v in items)
        return f"containers nested deeper than {_DEPTH} levels" if deeper else ""
    for key, item in items:
        text = str(key)
        if not isinstance(key, (str, int)) or not text or _BAD_CHARS & set(text):
            return f"its key {key!r} cannot be part of a layer name"
        unnamable = _walk(item, f"{path}.{text}", depth - 1, found)
        if unnamable:
            return unnamable
    return ""
