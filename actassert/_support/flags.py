"""How yes and no are spelt in ini values and environment variables (``ACTASSERT_OFFLINE=1``)."""

from __future__ import annotations

__all__ = ["FALSY", "TRUTHY"]

TRUTHY = frozenset({"1", "true", "yes", "on"})
"""Spellings of yes."""
FALSY = frozenset({"0", "false", "no", "off", ""})
"""Spellings of no (an empty value included)."""
