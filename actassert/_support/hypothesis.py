"""Hypothesis integration that imports Hypothesis only once it is in use: profile and examples.

The plugin imports this module at load time, so nothing here imports Hypothesis (or torch) at
module level; ``"hypothesis" in sys.modules`` tells whether a test can be running an example.
"""

from __future__ import annotations

import sys

__all__ = ["PROFILE", "current_example", "register_profile"]

PROFILE = "actassert"
"""The settings profile for model tests: ``pytest --hypothesis-profile=actassert``."""

MAX_EXAMPLES = 25
"""Examples per test under the profile: each one runs a network."""


def register_profile() -> None:
    """Register the ``actassert`` profile with Hypothesis (idempotent).

    No deadline (the first example pays for warm-up and moving the model to its device, so its
    time says nothing about the rest), ``max_examples=25`` and the too-slow health check off.
    """
    from hypothesis import (  # plugin load path: on demand
        HealthCheck,
        settings,
    )

    settings.register_profile(PROFILE, deadline=None, max_examples=MAX_EXAMPLES,
                              suppress_health_check=[HealthCheck.too_slow])


def current_example() -> object | None:
    """The running Hypothesis example (its build context), or None outside one.

    Each example, the final replay of the shrunk failing one included, runs in a build context
    of its own, so a new object means a new example.
    """
    if "hypothesis" not in sys.modules:
        return None
    from hypothesis.control import (  # plugin load path: on demand
        current_build_context,
        currently_in_test_context,
    )

    return current_build_context() if currently_in_test_context() else None
