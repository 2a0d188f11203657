"""Theoretical receptive fields: each layer's size in input pixels, from kernel sizes, strides and dilations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from actassert.layers import resolve_layers
from actassert.probe import probe

__all__ = ["receptive_fields"]

_CONV = {torch.conv1d, torch.conv2d, torch.conv3d, F.conv2d}
_POOL = {F.max_pool2d, F.avg_pool2d, torch.max_pool2d, torch._C._nn.avg_pool2d}
_Field = tuple[float, float] | None  # (size in px, jump: input px between neighbouring outputs)


def _pair(value: Any) -> int:
    """The first (height) entry of an int-or-tuple argument."""
    return int(value[0] if isinstance(value, (tuple, list)) else value)


def _argument(args: Sequence[Any], kwargs: dict[str, Any], position: int, name: str,
              default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else default


def _step(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[int, int, int] | None:
    """``(kernel, stride, dilation)`` along the height of a conv or pooling call, else None."""
    if func in _CONV:
        weight = _argument(args, kwargs, 1, "weight", None)
        return (int(weight.shape[2]), _pair(_argument(args, kwargs, 3, "stride", 1)),
                _pair(_argument(args, kwargs, 5, "dilation", 1)))
    if func in _POOL or getattr(func, "__name__", "") in ("max_pool2d", "_max_pool2d",
                                                          "max_pool2d_with_indices"):
        kernel = _pair(_argument(args, kwargs, 1, "kernel_size", 1))
        stride = _argument(args, kwargs, 2, "stride", None)
        dilation = 1 if func in (F.avg_pool2d, torch._C._nn.avg_pool2d) else \
            _pair(_argument(args, kwargs, 4, "dilation", 1))
        return kernel, _pair(stride) if stride not in (None, (), []) else kernel, dilation
    return None


class _Tracker(TorchFunctionMode):
    """Follows every torch call of a forward and gives each tensor it makes a receptive field.

    A conv or pooling call grows its input's field: ``size += (k - 1) * dilation * jump``,
    ``jump *= stride``. A call whose output keeps its input's height and width (activations,
    norms, sums, channel concatenations) takes the largest field among its inputs. Any other
    call that changes the spatial size (global pooling, flattening, attention, upsampling) has
    no finite theoretical field: None.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[int, _Field] = {}
        self.kept: list[torch.Tensor] = []  # keeps ids unique during the forward

    def mark(self, tensor: torch.Tensor, field: _Field) -> None:
        self.fields[id(tensor)] = field
        self.kept.append(tensor)

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)
                  and id(t) in self.fields]
        outputs = [t for t in (out if isinstance(out, (tuple, list)) else (out,))
                   if isinstance(t, torch.Tensor)]
        if not inputs or not outputs:
            return out
        known = [self.fields[id(t)] for t in inputs]
        if any(f is None for f in known):
            field: _Field = None
        else:
            field = max(known, key=lambda f: (f[0], f[1]))  # type: ignore[index]
            step = _step(func, args, kwargs)
            source = inputs[0]
            if step is not None and field is not None:
                k, stride, dilation = step
                field = (field[0] + (k - 1) * dilation * field[1], field[1] * stride)
            elif any(t.dim() < 3 or t.shape[-2:] != source.shape[-2:] for t in outputs):
                field = None
        for t in outputs:
            self.mark(t, field)
        return out


def receptive_fields(net: Any, layers: Sequence[str], side: int | None = None
                     ) -> dict[str, float | None]:
    """Each layer's theoretical receptive field, in input pixels along the height.

    Computed from the network's own forward: one grey image of ``side`` px (default the
    network's input size) is run while every torch call is followed (see :class:`_Tracker`),
    so convolutions and poolings inside functional code and residual sums count too. The field
    is the theoretical one: it can exceed the image, and the effective field is much smaller
    and roughly Gaussian (Luo et al. 2016). None: the layer mixes every position (global
    pooling, attention, a classifier), so it has no finite theoretical field.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Conv2d(4, 4, 3))
        >>> receptive_fields(net, ["0", "2"], side=32)
        {'0': 3.0, '2': 7.0}
    """
    side = int(side or getattr(net, "input_size", 224) or 224)
    keys = [str(r) for r in resolve_layers(net, list(layers))]
    device = getattr(net, "device", None)
    image = torch.full((1, 3, side, side), 0.5, device=device)
    tracker = _Tracker()
    found: dict[str, float | None] = {}
    with torch.no_grad(), tracker:
        tracker.mark(image, (1.0, 1.0))
        acts, _ = probe(net, keys, image, reduce=lambda t: t)
        outputs = {key: acts[key] for key in acts}
    for key in keys:
        out = outputs.get(key)
        field = None if out is None else tracker.fields.get(id(out))
        found[key] = None if field is None else float(field[0])
    return found
