"""Where a model name points: torchvision, timm, Hugging Face, or a user's factory (``pkg.mod:build``).

``load_model`` accepts four spellings:

- ``"resnet50"`` or ``"torchvision:resnet50"``: a torchvision classification model;
- ``"timm:convnext_tiny"`` (optionally with a pretrained tag, ``"timm:convnext_tiny.fb_in1k"``):
  a timm model (``pip install 'actassert[timm]'``);
- ``"hf:google/vit-base-patch16-224"`` or ``"hf:/path/to/folder"`` (written by
  ``save_pretrained``): a Hugging Face transformers model (``pip install 'actassert[hf]'``);
- ``"my_pkg.models:build"``: a zero-argument factory, imported and called.

This module parses the name and builds timm, hf and factory models into a :class:`Built`;
``models.load_model`` wraps it in a ``Network`` and caches it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actassert.errors import ModelSourceError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["SOURCES", "IMAGENET_MEAN", "IMAGENET_STD", "ModelSpec", "Built", "parse_model_name",
           "build"]

#: The prefixes ``load_model`` knows; anything else before a ``:`` is a module of a factory.
SOURCES = ("torchvision", "timm", "hf")
#: Normalisation a factory's bare ``nn.Module`` gets (ImageNet's, as torchvision and timm use).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model name.

    Attributes:
        source: ``"torchvision"``, ``"timm"``, ``"hf"`` or ``"factory"``.
        name: the model's name within its source (``"resnet50"``, ``"convnext_tiny"``), or the
            factory as ``"module.path:function"``.
    """

    source: str
    name: str

    @property
    def label(self) -> str:
        """How the network is named in messages: bare for torchvision, prefixed otherwise."""
        return self.name if self.source in ("torchvision", "factory") else f"{self.source}:{self.name}"


@dataclass
class Built:
    """A freshly built module with what ``Network`` needs to know about it.

    Attributes:
        module: the ``nn.Module`` (on the CPU, any mode; ``load_model`` puts it in eval mode).
        reload: puts the weights back into a module of this architecture (the guard calls it
            after a test changed them).
        mean, std, input_size: the preprocessing the weights expect.
        weights: the name of the weights loaded (a timm tag, ...), or ``None`` for random init.
        name: the label of the network.
        categories: class names of the output units, if known.
    """

    module: nn.Module
    reload: Callable[[nn.Module], None]
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    input_size: int
    weights: str | None
    name: str
    categories: list[str] | None = None


def parse_model_name(text: str) -> ModelSpec:
    """Split a model name into its source and the name within it.

    Example:
        >>> parse_model_name("timm:convnext_tiny")
        ModelSpec(source='timm', name='convnext_tiny')
        >>> parse_model_name("resnet50")
        ModelSpec(source='torchvision', name='resnet50')
        >>> parse_model_name("my_pkg.models:build")
        ModelSpec(source='factory', name='my_pkg.models:build')

    Raises:
        ModelSourceError: an empty part, or a prefix without a dot that is neither a known
            source nor a module that can be found (dotted ones are checked on import).
    """
    if not isinstance(text, str):
        raise TypeError(f"a model name is a string such as 'resnet50', 'timm:convnext_tiny' or "
                        f"'my_pkg.models:build'; got {type(text).__name__} {text!r:.60}")
    if ":" not in text:
        return ModelSpec("torchvision", text)
    prefix, _, rest = text.partition(":")
    if prefix == "hf" and rest:  # a Hub id or a folder, whose path may hold a ':'
        return ModelSpec("hf", rest)
    if not prefix or not rest or ":" in rest:
        raise ModelSourceError(f"model name {text!r} is not 'NAME', 'SOURCE:NAME' (sources: "
                               f"{', '.join(SOURCES)}) or 'module.path:factory'")
    if prefix in SOURCES:
        return ModelSpec(prefix, rest)
    if "." not in prefix and not _importable(prefix):
        raise ModelSourceError(
            f"model name {text!r}: unknown source {prefix!r} (known: {', '.join(SOURCES)}), and "
            f"no module {prefix!r} to find a factory {rest!r} in. Fix: write 'timm:NAME', "
            "'hf:NAME' or 'torchvision:NAME', or 'module.path:function' for a zero-argument "
            "factory in a module on sys.path (under pytest, the ini key pythonpath adds folders).")
    return ModelSpec("factory", text)


def _importable(module: str) -> bool:
    """Whether the top-level module ``module`` can be found (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def build(spec: ModelSpec, *, weights: Any, download: bool | None, seed: int) -> Built:
    """Build a timm, hf or factory model (torchvision models are built by ``models.load_model``)."""
    if spec.source == "timm":
        from actassert.models.timm_source import build_timm

        return build_timm(spec.name, weights=weights, download=download, seed=seed)
    if spec.source == "hf":  # transformers is imported only here, for an hf: name
        from actassert.models.hf_source import build_hf

        return build_hf(spec.name, weights=weights, download=download, seed=seed)
    if spec.source == "factory":
        from actassert.models.factory_source import build_factory

        return build_factory(spec.name, weights=weights, seed=seed)
    raise ValueError(f"{spec.source} models are built by models.load_model")
