"""The quiet probe forward (layer 4): one forward recorded for actassert's own use.

Checks, the layer picker and the command line run the network once to look at its layers. Such a
forward is nobody's test result: it is not registered for the failing test's figures, keeps no
inputs, and leaves out in silence the modules the forward bypasses (no ``NeverRanWarning``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actassert.errors import NeverRanWarning
from actassert.recording import Activations, record

if TYPE_CHECKING:
    import torch

    from actassert.types import LayersLike, ModelLike

__all__ = ["probe"]


def probe(net: ModelLike, layers: LayersLike, images: torch.Tensor, *,
          sink: Callable[[str, int, torch.Tensor], None] | None = None,
          **options: Any) -> tuple[Activations, Any]:
    """Record ``layers`` over one forward of ``images``, quietly; ``(activations, output)``.

    ``options`` are :func:`actassert.record`'s other keyword arguments (``reduce``,
    ``offload``, ``skip_non_tensors``, ...); ``register`` and ``keep_inputs`` are fixed to False.
    The output is whatever the model returns (``Any``), or None when the forward stopped early.
    ``sink(name, call, tensor)``, when given, receives each recorded output as its hook sees it
    and nothing is kept (the determinism checks compare a run as it streams by).

    Example:
        >>> import torch
        >>> acts, out = probe(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1)), ["0"],
        ...                   torch.rand(1, 3, 4, 4))
        >>> acts["0"].shape, out.shape
        (torch.Size([1, 2, 4, 4]), torch.Size([1, 2, 4, 4]))
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeverRanWarning)
        with record(net, layers, register=False, keep_inputs=False, **options) as acts:
            if sink is not None:
                acts._sink = sink
            output = acts.run(images)
    return acts, output
