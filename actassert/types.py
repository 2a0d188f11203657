"""Named type aliases for what actassert's entry points accept (models, devices, layers, images).

Example:
    >>> from actassert.types import DeviceLike
    >>> def place(device: DeviceLike = "auto") -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol, TypeAlias, Union

import torch
from torch import nn
from torchvision.models import WeightsEnum

if TYPE_CHECKING:
    from actassert.models.loading import Network
    from actassert.stimulus_set import Stimuli

__all__ = ["ModelLike", "DeviceLike", "WeightsLike", "ImagesLike", "HasShape", "ForwardLike",
           "LayersLike", "OutputReducer", "ReduceLike", "MapsReducer", "SweepReduceLike",
           "StimuliLike"]

#: A network to record or check: an :class:`actassert.Network` or a plain ``nn.Module``.
ModelLike: TypeAlias = Union[nn.Module, "Network"]

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
StimuliLike: TypeAlias = Union["Stimuli", Iterable["Stimuli"]]

#: Anything run by ``assert_deterministic``: a network, a module or a plain function.
ForwardLike: TypeAlias = Callable[..., object]


class HasShape(Protocol):
    """Anything with a ``shape`` of integers: a tensor, a NumPy array, an activation."""

    @property
    def shape(self) -> tuple[int, ...] | torch.Size:
        """The sizes, outermost first."""
