"""What every model builder returns (layer 2): :class:`Built`, the one interface of the sources.

A source (torchvision, timm, Hugging Face, a user's factory) is a module with a ``build_*``
function that returns a ``Built``; :mod:`actassert.models.loading` wraps each the same way in a
``Network`` (eval mode, parameters frozen, the weight guard armed) and caches it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import torch

if TYPE_CHECKING:
    from torch import nn

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Built", "seeded"]

T = TypeVar("T")

#: Normalisation a factory's bare ``nn.Module`` gets (ImageNet's, as torchvision and timm use).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Built:
    """A freshly built module with what ``Network`` needs to know about it.

    Attributes:
        module: the ``nn.Module`` (on the CPU, any mode; ``load_model`` puts it in eval mode).
        reload: puts the weights back into a module of this architecture (the guard calls it
            after a test changed them).
        mean, std, input_size: the preprocessing the weights expect.
        weights: the name of the weights loaded (a timm tag, ...), or ``None`` for random init.
        name: the label of the network.
        categories: class names of the output units, if known.
    """

    module: nn.Module
    reload: Callable[[nn.Module], None]
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    input_size: int
    weights: str | None
    name: str
    categories: list[str] | None = None


def seeded(make: Callable[[], T], seed: int) -> T:
    """``make()`` under ``torch.manual_seed(seed)``, the caller's random state left as it was:
    how every source builds a random initialisation (or calls a factory) reproducibly."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()
