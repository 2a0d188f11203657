"""A user's own model by factory: ``load_model("my_pkg.models:build")`` imports and calls it.

The factory takes no argument and returns either

- an ``actassert.Network``: its mean, std, input size, name, weights label and categories are
  kept (``load_model``'s ``device`` decides the device), or
- an ``nn.Module`` taking normalised images: it gets ImageNet's mean and std and a 224 px input
  size, or, for a timm model, what its ``pretrained_cfg`` says.

It runs under ``torch.manual_seed(seed)`` with the global RNG saved and restored, so a random
initialisation inside it is the same in every process and leaves the caller's RNG alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch import nn

from actassert.errors import ModelSourceError, closest
from actassert.models.built import IMAGENET_MEAN, IMAGENET_STD, Built, seeded
from actassert.models.network import Network
from actassert.models.timm_source import preprocessing

__all__ = ["build_factory", "check_weights", "find_factory"]

_FIX_PATH = ("Fix: make the module importable (install its package, or add its folder to "
             "sys.path; under pytest the ini key pythonpath does that).")


def find_factory(spec: str) -> Callable[[], Any]:
    """Import ``"module.path:function"`` and return the function.

    Raises:
        ModelSourceError: the module cannot be imported, has no such attribute, or it is not
            callable; the message names the closest names in the module.
    """
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise ModelSourceError(f"factory {spec!r}: no module {missing!r} on sys.path. "
                                   f"{_FIX_PATH}") from None
        raise ModelSourceError(f"factory {spec!r}: importing {module_name} failed: it needs "
                               f"{missing!r}, which is not installed") from exc
    except Exception as exc:
        raise ModelSourceError(f"factory {spec!r}: importing {module_name} raised "
                               f"{type(exc).__name__}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if factory is None:
        names = [n for n in vars(module) if not n.startswith("_") and callable(vars(module)[n])]
        hint = closest(attribute, names)
        raise ModelSourceError(
            f"factory {spec!r}: module {module_name} has no {attribute!r}"
            + (f". Did you mean: {', '.join(hint)}?" if hint else ".")
            + f" Its functions and classes: {', '.join(sorted(names)[:12]) or 'none'}")
    if not callable(factory):
        raise ModelSourceError(f"factory {spec!r}: {module_name}.{attribute} is a "
                               f"{type(factory).__name__}, not a function returning a model")
    return factory


def _call(spec: str, factory: Callable[[], Any], seed: int) -> Any:
    try:
        return seeded(factory, seed)
    except Exception as exc:
        raise ModelSourceError(f"factory {spec!r} raised {type(exc).__name__}: {exc} (it is "
                               "called with no argument)") from exc


def _snapshot(module: nn.Module) -> Callable[[nn.Module], None]:
    """A reload that puts back the weights ``module`` has now (a CPU copy is kept)."""
    saved = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}

    def reload(target: nn.Module) -> None:
        target.load_state_dict(saved)

    return reload


def check_weights(spec: str, weights: Any) -> None:
    """Refuse a weights name for a factory: it builds its own weights."""
    if weights is not None and not (isinstance(weights, str) and weights.upper() == "DEFAULT"):
        raise ValueError(f"weights={weights!r}: the factory {spec!r} builds its own weights; "
                         "use weights='DEFAULT' or None (both call it as it is)")


def build_factory(spec: str, *, weights: Any = "DEFAULT", seed: int = 0) -> Built:
    """Import and call the factory ``spec`` (``"module.path:function"``) and describe its model.

    Args:
        spec: ``"module.path:function"``.
        weights: ``"DEFAULT"`` or ``None``: a factory builds its own weights, so both call it
            as it is.
        seed: the seed the factory runs under.

    Raises:
        ModelSourceError: see :func:`find_factory`; the factory raised, or returned neither an
            ``nn.Module`` nor an ``actassert.Network``.
    """
    check_weights(spec, weights)
    made = _call(spec, find_factory(spec), seed)
    if isinstance(made, Network):
        return Built(made.module, _snapshot(made.module), made.mean, made.std, made.input_size,
                     made.weights, made.name if made.name != type(made.module).__name__ else spec,
                     made.categories)
    if not isinstance(made, nn.Module):
        raise ModelSourceError(f"factory {spec!r} returned a {type(made).__name__} "
                               f"({made!r:.60}); it must return a torch.nn.Module or an "
                               "actassert.Network(module, mean=..., std=..., input_size=...)")
    cfg = getattr(made, "pretrained_cfg", None)  # timm models carry their preprocessing
    if isinstance(cfg, dict) and cfg.get("mean") and cfg.get("std"):
        mean, std, size = preprocessing(made)
    else:
        mean, std, size = IMAGENET_MEAN, IMAGENET_STD, 224
    return Built(made, _snapshot(made), mean, std, size, None, spec)
