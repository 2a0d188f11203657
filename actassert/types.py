"""Named type aliases for what actassert's entry points accept (models, devices, weights, images).

Example:
    >>> from actassert.types import DeviceLike
    >>> def place(device: DeviceLike = "auto") -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeAlias, Union

import torch
from torch import nn
from torchvision.models import WeightsEnum

if TYPE_CHECKING:
    from actassert.models import Network

__all__ = ["ModelLike", "DeviceLike", "WeightsLike", "ImagesLike", "HasShape", "ForwardLike"]

#: A network to record or check: an :class:`actassert.Network` or a plain ``nn.Module``.
ModelLike: TypeAlias = Union[nn.Module, "Network"]

#: A device request: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a ``torch.device``.
DeviceLike: TypeAlias = str | torch.device

#: Which weights: ``"DEFAULT"``, a weights name (``"IMAGENET1K_V1"``, a timm tag), a torchvision
#: weights enum member, or ``None`` for a seeded random initialisation.
WeightsLike: TypeAlias = str | WeightsEnum | None

#: A batch of images ``[N, 3, H, W]`` with values in [0, 1].
ImagesLike: TypeAlias = torch.Tensor

#: Anything run by ``assert_deterministic``: a network, a module or a plain function.
ForwardLike: TypeAlias = Callable[..., object]


class HasShape(Protocol):
    """Anything with a ``shape`` of integers: a tensor, a NumPy array, an activation."""

    @property
    def shape(self) -> tuple[int, ...] | torch.Size:
        """The sizes, outermost first."""
