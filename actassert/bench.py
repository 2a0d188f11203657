"""Benchmark helpers: forwards with and without hooks, ready for pytest-benchmark, CUDA-synchronised."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["forward_fn", "sweep_fn"]


def _synchronise(device: Any) -> Callable[[], None]:
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def forward_fn(net: Any, images: Any, *, layers: Sequence[str] | None = None,
               reduce: Callable[[Any], Any] | None = None) -> Callable[[], Any]:
    """A zero-argument function running one forward, optionally recording ``layers``.

    Pass it to pytest-benchmark's fixture: ``benchmark(forward_fn(net, images, layers=["layer2"]))``.
    Images are moved to the network's device once, outside the timed function, and CUDA work is
    synchronised before the function returns, so the timing covers the whole forward.

    Example:
        >>> import torch, actassert
        >>> net = actassert.load_model("resnet18", weights=None, device="cpu")
        >>> run = forward_fn(net, torch.rand(2, 3, 64, 64), layers=["layer1"])
        >>> sorted(run())
        ['layer1']
    """
    import torch

    from actassert.recording import record

    device = getattr(net, "device", None)
    x = images.to(device) if device is not None else images
    sync = _synchronise(device)

    if layers is None:
        def plain() -> Any:
            with torch.no_grad():
                out = net(x)
            sync()
            return out
        return plain

    def hooked() -> Any:
        with record(net, layers, reduce=reduce, register=False, keep_inputs=False) as acts, \
                torch.no_grad():
            net(x)
        sync()
        return acts
    return hooked


def sweep_fn(net: Any, stimuli: Any, layers: Sequence[str], **kwargs: Any) -> Callable[[], Any]:
    """A zero-argument function running :func:`actassert.sweep` (CUDA-synchronised)."""
    from actassert.measures import sweep

    sync = _synchronise(getattr(net, "device", None))

    def run() -> Any:
        out = sweep(net, stimuli, layers, **kwargs)
        sync()
        return out
    return run
