"""torchvision classification models by name (layer 2): weights enums, checkpoints, builders.

The checkpoint is found by :mod:`actassert.weightfiles` (hub cache, weight folders, installed
packages, then a download) and read with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch
import torchvision.models as tvm
from torch import nn

from actassert.errors import ModelNotFoundError, WeightsFallbackWarning, WeightsUnavailableError
from actassert.weightfiles import resolve_checkpoint

__all__ = ["build_torchvision", "pick_weights", "weights_enum"]


def weights_enum(name: str) -> Any:
    """torchvision's weights enum of the classification model ``name``."""
    valid = tvm.list_models(module=tvm)
    if name not in valid:
        raise ModelNotFoundError(name, valid)
    return tvm.get_model_weights(name)


def pick_weights(name: str, enum: Any, weights: Any, download: bool | None) -> tuple[Any, Any]:
    """Resolve ``weights`` to an enum member and a local checkpoint path."""
    if isinstance(weights, str) and weights.upper() != "DEFAULT":
        member = getattr(enum, weights, None)
        if member is None or not isinstance(member, enum):
            options = ", ".join(["DEFAULT", *(m.name for m in enum)])
            raise ValueError(f"weights={weights!r} is not a weights name of {name}; "
                             f"choose one of {options}, or None")
        return member, resolve_checkpoint(member.url, model=name, weights=member.name,
                                          download=download)
    if not isinstance(weights, str):
        return weights, resolve_checkpoint(weights.url, model=name, weights=weights.name,
                                           download=download)
    default = enum.DEFAULT
    try:
        return default, resolve_checkpoint(default.url, model=name, weights=default.name,
                                           download=False)
    except WeightsUnavailableError as missing:
        for other in enum:
            if other is default:
                continue
            with contextlib.suppress(WeightsUnavailableError):
                path = resolve_checkpoint(other.url, model=name, weights=other.name, download=False)
                warnings.warn(WeightsFallbackWarning(
                    f"{name}: default weights {default.name} are not on this machine; using "
                    f"{other.name} found at {path}. Ask for weights={default.name!r} to insist."),
                    stacklevel=4)
                return other, path
        if download is False:
            raise missing
        return default, resolve_checkpoint(default.url, model=name, weights=default.name,
                                           download=download)


@contextlib.contextmanager
def _state_dict_from(enum_cls: Any, path: Any) -> Iterator[None]:
    """Make torchvision's builders read the checkpoint at ``path`` (``weights_only=True``)."""
    original = enum_cls.get_state_dict

    def get_state_dict(self: Any, *args: Any, **kwargs: Any) -> Any:
        return torch.load(path, map_location="cpu", weights_only=True)

    enum_cls.get_state_dict = get_state_dict
    try:
        yield
    finally:
        enum_cls.get_state_dict = original


def build_torchvision(name: str, member: Any, path: Any, seed: int) -> tuple[nn.Module, Any]:
    """The module (weights ``member`` read from ``path``, or a seeded random init) and the
    function that puts its weights back."""
    if member is None:
        def init(module: nn.Module | None = None) -> nn.Module:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                fresh = tvm.get_model(name, weights=None)
            if module is not None:
                module.load_state_dict(fresh.state_dict())
            return fresh
        return init(), init

    def build() -> nn.Module:
        with _state_dict_from(type(member), path):
            return tvm.get_model(name, weights=member)

    def reload(module: nn.Module) -> None:
        module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    return build(), reload
