"""Naming the layers of a model: ``list_layers`` and resolving dotted names and glob patterns."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import TYPE_CHECKING

from torch import nn

from actassert._support.compiled import original, strip_prefix
from actassert.errors import LayerNotFoundError

if TYPE_CHECKING:
    from actassert.types import ModelLike

__all__ = ["list_layers", "resolve_layers", "root_module", "LayerRequest", "OUTPUTS"]

_GLOB_CHARS = set("*?[")

#: What a request may record besides a module's output, after a colon: ``name:attn``, the
#: attention weights of an attention module (see ``actassert.attention``).
OUTPUTS = ("attn",)


def root_module(model: ModelLike) -> nn.Module:
    """The ``nn.Module`` behind a :class:`~actassert.Network` or a plain module.

    For a ``torch.compile`` wrapper it is the module it compiled (``_orig_mod``), so layer
    names are those of the original model (``layer1``, not ``_orig_mod.layer1``).
    """
    module = getattr(model, "module", model)
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected an actassert.Network or a torch.nn.Module, got "
                        f"{type(model).__name__}")
    return original(module)


def list_layers(model: ModelLike, *, leaves_only: bool = False) -> list[str]:
    """Every recordable layer name of ``model``, in definition order, nested ones included.

    Args:
        model: a :class:`~actassert.Network` or an ``nn.Module``.
        leaves_only: keep only modules without children (convolutions, activations, ...).

    Example:
        >>> import torch
        >>> list_layers(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()))
        ['0', '1']
    """
    module = root_module(model)
    return [name for name, sub in module.named_modules()
            if name and (not leaves_only or not any(True for _ in sub.children()))]


def _match(pattern: list[str], parts: list[str]) -> bool:
    """Match dotted components; ``*`` stays inside one component, ``**`` spans any number."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _match(rest, parts[1:])


class LayerRequest:
    """One resolved layer: the recorded name and, optionally, the one call to keep.

    ``name`` is the module's dotted name, or ``module:output`` for another output of it (the
    attention weights, ``blocks.3.attn:attn``); ``module`` is always the module's name.
    ``glob``: matched by a pattern rather than named, so an output that cannot be recorded is
    skipped (listed in ``Activations.skipped``) instead of being an error.
    """

    __slots__ = ("call", "glob", "module", "name")

    def __init__(self, name: str, call: int | None, *, glob: bool = False) -> None:
        self.name = name
        self.call = call
        self.module = name.partition(":")[0]
        self.glob = glob

    def __repr__(self) -> str:
        return self.name if self.call is None else f"{self.name}#{self.call}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LayerRequest) and (self.name, self.call) == (other.name, other.call)

    def __hash__(self) -> int:
        return hash((self.name, self.call))


def resolve_layers(model: ModelLike, layers: str | Iterable[str], *,
                   model_name: str | None = None) -> list[LayerRequest]:
    """Resolve names (``layer1.0.conv2``), calls (``layer1.0.relu#2``) and globs (``layer*.0.conv*``).

    A glob's ``*`` matches within one dotted component and ``**`` across components. Matches keep
    the model's definition order; duplicates are dropped. A suffix ``:attn`` (before any ``#k``)
    asks for the attention weights of the matched modules: ``blocks.*.attn:attn#0``.

    Raises:
        LayerNotFoundError: a name or pattern matches nothing; the message lists the closest names.
        ValueError: a suffix after ``:`` that is not one of ``OUTPUTS``, or a bad call index.
    """
    names = list_layers(model)
    known = set(names)
    label = model_name or getattr(model, "name", None) or type(root_module(model)).__name__
    requested = [layers] if isinstance(layers, str) else list(layers)
    if not requested:
        raise ValueError("layers is empty; name at least one layer (see actassert.list_layers)")
    resolved: list[LayerRequest] = []
    seen: dict[LayerRequest, int] = {}  # request -> its place: duplicates found in O(1) each
    for text in requested:
        if not isinstance(text, str):
            raise TypeError(f"layer names are strings, got {text!r}")
        base, _, call_text = text.partition("#")
        base = strip_prefix(base)  # "_orig_mod.layer1", as a compiled wrapper spells it
        call = None
        if call_text:
            if not call_text.isdigit():
                raise ValueError(f"layer {text!r}: the part after '#' must be a call index, "
                                 "e.g. 'layer1.0.relu#2'")
            call = int(call_text)
        base, output = _output_of(base, known)
        if _GLOB_CHARS & set(base):
            pattern = base.split(".")
            matches = [n for n in names if _match(pattern, n.split("."))]
        else:
            matches = [base] if base in known else []
        if not matches:
            raise LayerNotFoundError(text, names, label)
        for name in matches:
            request = LayerRequest(name + output, call, glob=base != name)
            if request not in seen:
                seen[request] = len(resolved)
                resolved.append(request)
            elif not request.glob:  # also named: its failures are errors again
                resolved[seen[request]].glob = False
    return resolved


def _output_of(base: str, known: set[str]) -> tuple[str, str]:
    """Split ``module:output`` into the module (or pattern) and ``":output"`` (``""``: none)."""
    if base in known or ":" not in base:
        return base, ""
    module, _, output = base.rpartition(":")
    if output not in OUTPUTS:
        raise ValueError(f"layer {base!r}: {output!r} after ':' is not an output actassert "
                         f"records. Expected one of: {', '.join(OUTPUTS)} (e.g. "
                         f"'{module}:attn' for the attention weights), or a layer name without "
                         "':'. Fix: see actassert.list_layers for the names")
    return module, ":" + output
