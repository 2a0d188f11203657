"""Where a model name points: torchvision, timm, Hugging Face, or a user's factory (``pkg.mod:build``).

``load_model`` accepts four spellings:

- ``"resnet50"`` or ``"torchvision:resnet50"``: a torchvision classification model;
- ``"timm:convnext_tiny"`` (optionally with a pretrained tag, ``"timm:convnext_tiny.fb_in1k"``):
  a timm model (``pip install 'actassert[timm]'``);
- ``"hf:google/vit-base-patch16-224"`` or ``"hf:/path/to/folder"`` (written by
  ``save_pretrained``): a Hugging Face transformers model (``pip install 'actassert[hf]'``);
- ``"my_pkg.models:build"``: a zero-argument factory, imported and called.

This module is the name grammar only (layer 2, a leaf of ``models/``); the builders return a
:class:`~actassert.models.built.Built` and :mod:`actassert.models.loading` wraps it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from actassert.errors import ModelSourceError

__all__ = ["SOURCES", "DEFAULT_MODEL", "ModelSpec", "parse_model_name", "parse_model_spec",
           "parse_weights"]

#: The model the command line studies when none is named.
DEFAULT_MODEL = "mobilenet_v2"
#: Spellings of "no weights, a seeded random initialisation" in ``NAME@WEIGHTS`` and ``--weights``.
RANDOM_INIT = frozenset({"none", "random"})

#: The prefixes ``load_model`` knows; anything else before a ``:`` is a module of a factory.
SOURCES = ("torchvision", "timm", "hf")


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


def parse_weights(text: str) -> str | None:
    """A weights name as written by a user: ``none`` or ``random`` is ``None`` (random init).

    Example:
        >>> parse_weights("IMAGENET1K_V1"), parse_weights("None")
        ('IMAGENET1K_V1', None)
    """
    return None if text.strip().lower() in RANDOM_INIT else text.strip()


def parse_model_spec(spec: str) -> tuple[str, str | None]:
    """``"NAME"`` or ``"NAME@WEIGHTS"`` -> ``(name, weights)``; ``@none`` is random init.

    Example:
        >>> parse_model_spec("timm:convnext_tiny@none"), parse_model_spec("mobilenet_v2")
        (('timm:convnext_tiny', None), ('mobilenet_v2', 'DEFAULT'))
    """
    name, _, weights = spec.partition("@")
    if not name.strip():
        raise ValueError(f"model {spec!r} has no name; write NAME or NAME@WEIGHTS "
                         "(e.g. mobilenet_v2@IMAGENET1K_V1, timm:convnext_tiny@none)")
    if not weights:
        return name.strip(), "DEFAULT"
    return name.strip(), parse_weights(weights)
