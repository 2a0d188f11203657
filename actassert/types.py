"""Named type aliases for what actassert's entry points accept (models, devices, layers, images).

A leaf (layer 0): it imports nothing of actassert, so every module may use it; ``Network`` and
``Stimuli`` appear here as the protocols they satisfy.

Example:
    >>> from actassert.types import DeviceLike
    >>> def place(device: DeviceLike = "auto") -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeAlias

import torch
from torch import nn
from torchvision.models import WeightsEnum

__all__ = ["NetworkLike", "StimulusSetLike", "ModelLike", "DeviceLike", "WeightsLike", "ImagesLike",
           "HasShape", "ForwardLike", "LayersLike", "OutputReducer", "ReduceLike", "MapsReducer", "SweepReduceLike",
           "StimuliLike"]

class NetworkLike(Protocol):
    """What an :class:`actassert.Network` offers the functions that take one: its module and a
    forward on images in [0, 1]. (A protocol, so that this module imports nothing of actassert.)"""

    @property
    def module(self) -> nn.Module:
        """The wrapped ``nn.Module``."""

    def __call__(self, images: torch.Tensor) -> Any:
        """The module's output for ``images`` in [0, 1]."""


class StimulusSetLike(Protocol):
    """What an :class:`actassert.Stimuli` set offers: images, masks and parameters."""

    @property
    def images(self) -> torch.Tensor:
        """``[N, 3, H, W]`` in [0, 1]."""

    @property
    def masks(self) -> torch.Tensor:
        """``[N, 1, H, W]`` bool."""

    @property
    def params(self) -> dict[str, torch.Tensor]:
        """name -> ``Tensor[N]``."""


#: A network to record or check: an :class:`actassert.Network` or a plain ``nn.Module``.
ModelLike: TypeAlias = nn.Module | NetworkLike

#: A device request: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a ``torch.device``.
DeviceLike: TypeAlias = str | torch.device

#: Which weights: ``"DEFAULT"``, a weights name (``"IMAGENET1K_V1"``, a timm tag), a torchvision
#: weights enum member, or ``None`` for a seeded random initialisation.
WeightsLike: TypeAlias = str | WeightsEnum | None

#: A batch of images ``[N, 3, H, W]`` with values in [0, 1].
ImagesLike: TypeAlias = torch.Tensor

#: Layers to record or sweep: one name, call or glob (``"layer2"``, ``"layer1.0.relu#1"``,
#: ``"layer*.0.conv*"``) or several.
LayersLike: TypeAlias = str | Iterable[str]

#: A function ``record`` applies to each recorded output inside the hook, e.g. a spatial mean
#: ``[N, K, H, W] -> [N, K]``, so only its result is kept.
OutputReducer: TypeAlias = Callable[[torch.Tensor], torch.Tensor]

#: ``record``'s ``reduce``: one function for every layer, or one per module name (a
#: ``"name#k"`` key overrides ``"name"`` for call ``k`` of a reused module).
ReduceLike: TypeAlias = OutputReducer | Mapping[str, OutputReducer]

#: A reduction of ``sweep``: ``(maps [N, K, H, W], masks [N, 1, H, W]) -> [N, K]``.
MapsReducer: TypeAlias = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: ``sweep``'s ``reduce``: a name (``"mean"``, ``"median"``, ``"foreground"``, ``"threshold"``,
#: ``"centre"``) or a :data:`MapsReducer`.
SweepReduceLike: TypeAlias = str | MapsReducer

#: What ``sweep`` shows: a ``Stimuli`` set or an iterable of ``Stimuli`` batches (a generator
#: drawing each batch on demand keeps memory flat).
StimuliLike: TypeAlias = StimulusSetLike | Iterable[StimulusSetLike]

#: Anything run by ``assert_deterministic``: a network, a module or a plain function.
ForwardLike: TypeAlias = Callable[..., object]


class HasShape(Protocol):
    """Anything with a ``shape`` of integers: a tensor, a NumPy array, an activation."""

    @property
    def shape(self) -> tuple[int, ...] | torch.Size:
        """The sizes, outermost first."""
