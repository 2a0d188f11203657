"""Models (layer 2): the name grammar, ``Network``, one builder per source and
loading with its cache.

``names`` (the grammar) -> ``built`` (what every builder returns) and ``network`` ->
``torchvision_source``, ``timm_source``, ``hf_source``, ``factory_source`` -> ``loading`` (``load_model``, cache).

``actassert.models`` is public: it offers what ``load_model`` users need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module defining it; imported on first use (PEP 562), so that importing one
# module of actassert.models does not load the others (nor torch)
_LAZY = {
    "Network": "actassert.models.network",
    "WeightsFallbackWarning": "actassert.models.loading",
    "cached_models": "actassert.models.loading",
    "clear_model_cache": "actassert.models.loading",
    "evict": "actassert.models.loading",
    "load_model": "actassert.models.loading",
}

__all__ = ["Network", "WeightsFallbackWarning", "cached_models", "clear_model_cache", "evict", "load_model"]

if TYPE_CHECKING:
    from actassert.models.loading import (
        WeightsFallbackWarning,
        cached_models,
        clear_model_cache,
        evict,
        load_model,
    )
    from actassert.models.network import Network


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
