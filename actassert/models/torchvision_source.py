"""torchvision classification models by name (layer 2): weights enums, checkpoints, builders.

The checkpoint is found by :mod:`actassert.weightfiles` (hub cache, weight folders, installed
packages, then a download) and read with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torchvision.models as tvm
from torch import nn

from actassert.errors import ModelNotFoundError, WeightsFallbackWarning, WeightsUnavailableError
from actassert.models.built import Built, seeded
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


def build_torchvision(name: str, enum: Any, member: Any, path: Any, seed: int) -> Built:
    """The model ``name`` with weights ``member`` read from ``path`` (or a seeded random init
    for ``member=None``), its preprocessing and categories from the weights' metadata (the
    default weights' for a random init)."""
    meta = member or enum.DEFAULT
    transform = meta.transforms()

    def built(module: nn.Module, reload: Callable[[nn.Module], None]) -> Built:
        return Built(module, reload, tuple(transform.mean), tuple(transform.std),
                     int(transform.crop_size[0]), member.name if member is not None else None,
                     name, meta.meta.get("categories"))

    if member is None:
        def init() -> nn.Module:
            return seeded(lambda: tvm.get_model(name, weights=None), seed)
        return built(init(), lambda module: module.load_state_dict(init().state_dict()))

    with _state_dict_from(type(member), path):
        module = tvm.get_model(name, weights=member)
    return built(module, lambda module: module.load_state_dict(
        torch.load(path, map_location="cpu", weights_only=True)))
