"""The default layers (layer 5): activation layers spread evenly over the forward, picked for
the battery and the tutorial alike (both sit above it)."""

from __future__ import annotations

from typing import Any

import torch

from actassert.layers import list_layers, root_module
from actassert.probe import probe

__all__ = ["ACTIVATIONS", "default_layers"]

#: Module types whose outputs are firing-rate-like (non-negative), the natural places to record.
ACTIVATIONS = ("ReLU", "ReLU6", "GELU", "SiLU", "Hardswish", "LeakyReLU", "ELU", "Mish")


def default_layers(net: Any, count: int = 8) -> list[str]:
    """``count`` activation layers evenly spread over the forward (first and last included).

    One probe forward of a grey image finds the activation modules in the order they run; a
    module called several times (a ResNet block's ``relu``) counts once, by its last call (the
    block's output after the residual sum). Falls back to every leaf module when the network
    has no activation module.
    """
    modules = dict(root_module(net).named_modules())
    leaves = list_layers(net, leaves_only=True)
    wanted = [n for n in leaves if type(modules[n]).__name__ in ACTIVATIONS] or leaves
    side = int(getattr(net, "input_size", 224) or 224)
    device = getattr(net, "device", None)
    seen, _ = probe(net, wanted, torch.full((1, 3, side, side), 0.5, device=device),
                    skip_non_tensors=True, reduce=lambda t: t.flatten(1)[:, :1])
    last: dict[str, str] = {}
    for key in seen:  # keys in the order the forward produced them
        name = key.split("#")[0]
        last.pop(name, None)
        last[name] = key
    ordered = list(last.values())
    if len(ordered) <= count:
        return ordered
    step = (len(ordered) - 1) / (count - 1)
    return [ordered[round(i * step)] for i in range(count)]
