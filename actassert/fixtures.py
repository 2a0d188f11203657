"""The objects behind the plugin's factory fixtures: ``actassert_model`` and ``hooked_layers``.

The plugin imports this module (and torch with it) only when a test asks for one of those
fixtures. Import the classes to annotate a test or a helper of your own:

Example:
    >>> from actassert.fixtures import HookedLayersFixture, ModelFixture
    >>> def test_fc_is_flat(actassert_model: ModelFixture,
    ...                     hooked_layers: HookedLayersFixture) -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack

import torch

from actassert.models.loading import load_model
from actassert.models.network import Network
from actassert.recording import Activations, record
from actassert.types import DeviceLike, ModelLike, WeightsLike

__all__ = ["HookedLayersFixture", "ModelFixture"]

_Reduce = Callable[[torch.Tensor], torch.Tensor]


class ModelFixture:
    """The ``actassert_model`` fixture: loads models once per session, on the session's device.

    Example:
        >>> loader = ModelFixture(torch.device("cpu"))
        >>> loader("resnet18", weights=None).device.type
        'cpu'
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        """The session's device (``--actassert-device``), used unless a call names another."""

    def __call__(self, name: str, *, weights: WeightsLike = "DEFAULT",
                 device: DeviceLike | None = None, download: bool | None = None,
                 seed: int = 0) -> Network:
        """:func:`actassert.load_model` on the session's device unless ``device`` is given.

        Args:
            name: ``"resnet50"``, ``"torchvision:resnet50"``, ``"timm:NAME"`` or
                ``"module.path:factory"``.
            weights: ``"DEFAULT"``, a weights name or enum member, or ``None`` (random
                initialisation seeded with ``seed``).
            device: another device than the session's.
            download: ``False`` never downloads; ``None`` follows ``--actassert-offline``.
            seed: the seed of a random initialisation.

        Returns:
            The shared network (eval mode): every call with the same arguments returns it, and
            after each test the plugin undoes what the test changed in it.
        """
        return load_model(name, weights=weights, device=device or self.device,
                          download=download, seed=seed)


class HookedLayersFixture:
    """The ``hooked_layers`` fixture: records layers until the end of the test.

    Each call is :func:`actassert.record` entered for the rest of the test; the plugin closes
    every recording (hooks removed, train/eval flags restored) at teardown.
    """

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack

    def __call__(self, model: ModelLike, layers: str | Iterable[str], *,
                 reduce: _Reduce | Mapping[str, _Reduce] | None = None,
                 offload: DeviceLike | None = None, stop_early: bool = False,
                 keep_inputs: bool | None = None, register: bool = True,
                 skip_non_tensors: bool = False) -> Activations:
        """Hook ``layers`` of ``model`` now; the returned ``Activations`` fill at each forward.

        Takes the arguments of :func:`actassert.record`, which explains each.

        Example:
            ``acts = hooked_layers(net, ["layer2", "fc"]); net(images); acts["fc"]``
        """
        return self._stack.enter_context(record(
            model, layers, reduce=reduce, offload=offload, stop_early=stop_early,
            keep_inputs=keep_inputs, register=register, skip_non_tensors=skip_non_tensors))
