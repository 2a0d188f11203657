"""actassert: pytest fixtures and assertions for what happens inside PyTorch vision networks.

Importing the package is cheap: torch loads when a name that needs it is first used.

The house, in layers: a module imports only from its own layer or below, never up, and no
import (function-level and ``TYPE_CHECKING`` ones included) closes a cycle. Find your room, and
you know what you may touch (tests/test_quality.py holds the same map and checks it)::

    L10 __init__.py -- this face, lazy (PEP 562)
    L9  plugin.py cli/ -- the pytest entry point (options, hooks, fixtures); the command line
    L8  fixtures.py -- the fixtures' objects
    L7  battery/ artefacts/ tutorial/ -- the battery, failure artefacts and reporting, the study
    L6  assertions.py invariance.py strategies.py bench.py golden/ -- checks
    L5  measures.py layer_choice.py blank.py receptive_field.py -- sweep, reductions, the blank
        baseline; the default layers; receptive fields
    L4  recording.py _inplace.py probe.py -- hooks, Activations, early stop; the quiet probe
    L3  layers.py stimuli.py stimulus_set.py tuning.py determinism.py layout.py attention.py
        proportions.py responsiveness.py -- vocabulary
    L2  models/ -- names, Built, Network, one builder per source, loading
    L1  settings.py weightfiles.py -- options, Settings, session device; checkpoints
    L0  errors.py types.py evidence.py drawing/ _support/ -- leaves
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from actassert._support.version import package_version

__version__ = package_version()

_LAZY = {
    "Network": "actassert.models",
    "load_model": "actassert.models",
    "record": "actassert.recording",
    "Activations": "actassert.recording",
    "list_layers": "actassert.layers",
    "ActAssertError": "actassert.errors",
    "LayerNotFoundError": "actassert.errors",
    "ModelNotFoundError": "actassert.errors",
    "WeightsUnavailableError": "actassert.errors",
    "Stimuli": "actassert.stimuli",
    "sweep": "actassert.measures",
    "Responses": "actassert.measures",
    "Tuning": "actassert.tuning",
    "assert_shape": "actassert.assertions",
    "assert_selective": "actassert.assertions",
    "assert_not_selective": "actassert.assertions",
    "assert_prefers": "actassert.assertions",
    "assert_more_selective": "actassert.assertions",
    "assert_more_selective_than_control": "actassert.assertions",
    "Responsiveness": "actassert.responsiveness",
    "assert_prefers_larger": "actassert.assertions",
    "assert_eval_mode": "actassert.assertions",
    "assert_deterministic": "actassert.invariance",
    "assert_batch_invariant": "actassert.invariance",
    "assert_hooks_transparent": "actassert.invariance",
    "deterministic": "actassert.determinism",
}
_SUBMODULES = {"stimuli", "errors", "models", "recording", "layers", "measures", "tuning",
               "assertions", "strategies", "bench", "determinism", "invariance"}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])

if TYPE_CHECKING:
    from actassert import (
        assertions,
        bench,
        determinism,
        errors,
        invariance,
        layers,
        measures,
        models,
        recording,
        stimuli,
        strategies,
        tuning,
    )
    from actassert.assertions import (
        assert_eval_mode,
        assert_more_selective,
        assert_more_selective_than_control,
        assert_not_selective,
        assert_prefers,
        assert_prefers_larger,
        assert_selective,
        assert_shape,
    )
    from actassert.determinism import deterministic
    from actassert.errors import (
        ActAssertError,
        LayerNotFoundError,
        ModelNotFoundError,
        WeightsUnavailableError,
    )
    from actassert.invariance import (
        assert_batch_invariant,
        assert_deterministic,
        assert_hooks_transparent,
    )
    from actassert.layers import list_layers
    from actassert.measures import Responses, sweep
    from actassert.models.loading import load_model
    from actassert.models.network import Network
    from actassert.recording import Activations, record
    from actassert.responsiveness import Responsiveness
    from actassert.stimuli import Stimuli
    from actassert.tuning import Tuning


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"actassert.{name}")
    else:
        raise AttributeError(f"module 'actassert' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
