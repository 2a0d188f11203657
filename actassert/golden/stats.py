"""What a golden holds: per-kernel statistics of each layer, in forward order, with metadata.

A :class:`Golden` is built from an :class:`~actassert.Activations` (``record``), a
:class:`~actassert.Responses` (``sweep``) or a mapping of tensors, and is plain NumPy, so it is
written to ``.npz`` and read back without pickle (see :mod:`actassert.golden.files`).
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torchvision

from actassert._support.version import package_version
from actassert.errors import GoldenError
from actassert.measures import Responses

__all__ = ["STATISTICS", "Golden", "kernel_stats", "positions", "collect", "MAX_MAP_VALUES"]

#: The statistics kept per kernel, in the order of the rows of ``Golden.stats[layer]``.
STATISTICS = ("mean", "std", "min", "max", "positive")
#: Cap on the number of float16 map values kept for the first image (over all layers): 1 MB.
MAX_MAP_VALUES = 500_000


@dataclass
class Golden:
    """Per-layer statistics in forward order, optional responses and maps, and metadata.

    Attributes:
        layers: layer names (``#`` calls included) in the order the forward produced them.
        stats: layer -> ``float64 [5, K]``: the rows are :data:`STATISTICS` over the batch and
            every position of each kernel (``positive`` is the share of values above 0).
        responses: layer -> ``float32 [N, K]`` per-kernel responses (from a ``Responses``).
        maps: layer -> ``float16 [K, ...]``: the first image's maps, while under the cap.
        meta: model, weights, input sha256, versions, device, dtype, threads.
    """

    layers: list[str]
    stats: dict[str, np.ndarray]
    responses: dict[str, np.ndarray] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def kernel_stats(tensor: torch.Tensor) -> np.ndarray:
    """The :data:`STATISTICS` of each kernel (dim 1) of ``tensor``, as ``float64 [5, K]``.

    Statistics run over the batch (dim 0) and every position (dims 2 and up), in float64 on the
    CPU, so computing them adds no noise of its own. A ``[N]`` tensor counts as one kernel.

    Example:
        >>> import torch
        >>> kernel_stats(torch.tensor([[1.0, -2.0], [3.0, 0.0]]))[:, 0].tolist()
        [2.0, 1.0, 1.0, 3.0, 1.0]
    """
    x = tensor.detach().cpu()
    x = x.float() if x.dtype == torch.bool else x
    if x.dim() < 2:
        x = x.reshape(-1, 1)
    if x.numel() == 0:
        raise GoldenError(f"a tensor of shape {list(tensor.shape)} has no values to summarise")
    dims = (0, *range(2, x.dim()))
    std, mean = torch.std_mean(x.double(), dim=dims, correction=0)
    positive = (x > 0).sum(dim=dims).double() / (x.numel() // x.shape[1])
    rows = [mean, std, x.amin(dim=dims).double(), x.amax(dim=dims).double(), positive]
    return torch.stack(rows).numpy()


def _tensors(data: Any) -> dict[str, torch.Tensor]:
    """The layer -> tensor mapping of ``data``, in its order, checked."""
    if not isinstance(data, Mapping):
        raise GoldenError(f"activation_regression.check takes an Activations (record), a "
                          f"Responses (sweep) or a mapping of tensors; got {type(data).__name__}")
    tensors = {str(k): data[k] for k in data}
    if not tensors:
        raise GoldenError("nothing to check: the data holds no layer (was the network called "
                          "inside the record block?)")
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise GoldenError(f"{key!r} is a {type(value).__name__}, not a tensor; pass tensors "
                              "(torch.from_numpy turns an array into one)")
        if value.is_complex():
            raise GoldenError(f"{key!r} has dtype {value.dtype}; real-valued tensors only")
    return tensors


def _first_maps(tensors: Mapping[str, torch.Tensor], cap: int) -> dict[str, np.ndarray]:
    """The first image's maps as float16, layer by layer in order, each while it fits the cap."""
    maps: dict[str, np.ndarray] = {}
    used = 0
    for key, value in tensors.items():
        if value.dim() < 2 or value.shape[0] == 0:
            continue
        first = value[0].detach().to("cpu", torch.float32)
        if used + first.numel() > cap:
            continue
        maps[key] = first.numpy().astype(np.float16)
        used += first.numel()
    return maps


def collect(data: Any, *, maps: bool = True, max_map_values: int = MAX_MAP_VALUES) -> Golden:
    """Summarise ``data`` (``Activations``, ``Responses`` or a mapping of tensors) as a Golden.

    Args:
        data: the layers to summarise, in forward order.
        maps: keep the first image's maps in float16 (for failure figures), up to the cap.
        max_map_values: the cap on map values, over all layers.
    """
    tensors = _tensors(data)
    golden = Golden(layers=list(tensors), stats={k: kernel_stats(v) for k, v in tensors.items()})
    if isinstance(data, Responses):
        golden.responses = {k: v.detach().cpu().float().numpy() for k, v in tensors.items()}
    elif maps:
        golden.maps = _first_maps(tensors, max_map_values)
    golden.meta = metadata(data, tensors)
    golden.meta["positions"] = {k: positions(v) for k, v in tensors.items()}
    return golden


def positions(tensor: torch.Tensor) -> int:
    """How many values each kernel's statistics summarise (batch times positions)."""
    kernels = tensor.shape[1] if tensor.dim() >= 2 else 1
    return max(1, tensor.numel() // max(1, kernels))


def _model_of(data: Any) -> tuple[Any, str | None, str | None]:
    """(the module or Network, model name, weights) behind ``data``, where known."""
    net = getattr(data, "net", None) or getattr(data, "model", None)
    name = getattr(data, "network", None) or getattr(net, "name", None)
    if name is None and net is not None:
        name = type(getattr(net, "module", net)).__name__
    return net, name, getattr(net, "weights", None)


def _input_sha256(data: Any) -> str | None:
    """The sha256 of the input the data came from: the first forward's input, or the stimuli."""
    inputs = getattr(data, "inputs", None)
    shown = getattr(data, "shown", None)
    tensor = inputs[0] if inputs else getattr(shown, "images", None)
    if tensor is None:
        return None
    array = np.ascontiguousarray(tensor.detach().cpu().float().numpy())
    return hashlib.sha256(array.tobytes()).hexdigest()


def metadata(data: Any, tensors: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Where and how ``data`` was computed: model, input, versions, device, dtype and threads."""
    net, name, weights = _model_of(data)
    first = next(iter(tensors.values()))
    device, dtype = str(first.device), str(first.dtype)
    module = getattr(net, "module", net)
    parameter = next(module.parameters(), None) if isinstance(module, torch.nn.Module) else None
    if parameter is not None:
        device, dtype = str(parameter.device), str(parameter.dtype)
    return {"model": name, "weights": weights, "input_sha256": _input_sha256(data),
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "actassert": package_version(), "python": platform.python_version(),
            "device": device, "dtype": dtype.replace("torch.", ""),
            "threads": torch.get_num_threads(),
            "kind": type(data).__name__}
