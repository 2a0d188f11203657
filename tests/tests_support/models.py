"""Zero-argument model factories, loaded by name: ``load_model("tests_support.models:tiny")``."""

from __future__ import annotations

from torch import nn

import actassert


class Tiny(nn.Module):
    """A small CNN: two convolutions, a pooled linear head (5 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


def tiny() -> nn.Module:
    """A randomly initialised ``Tiny`` (load_model seeds it), with ImageNet preprocessing."""
    return Tiny()


def tiny_network() -> actassert.Network:
    """The same net with its own preprocessing and a 32 px input side."""
    return actassert.Network(Tiny(), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                             input_size=32, name="tiny-network")


def broken() -> nn.Module:
    """A factory that fails, to test the message."""
    raise RuntimeError("no GPU here")


def not_a_model() -> int:
    """A factory returning something that is not a network."""
    return 42


NOT_CALLABLE = 3


def tiny_compiled() -> nn.Module:
    """``Tiny`` under ``torch.compile`` (the ``aot_eager`` backend: traced by dynamo and AOT
    autograd, run by eager kernels, so compiled outputs equal eager ones bit for bit)."""
    import torch

    return torch.compile(Tiny(), backend="aot_eager")
