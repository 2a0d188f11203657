"""The fixed layout of assertion messages: what was checked, Expected, Obtained, details, Fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

__all__ = ["MAX_LISTED", "fail", "listing"]

MAX_LISTED = 8
"""At most this many offenders are listed in a failure message."""


def fail(header: str, expected: str, obtained: str, details: Sequence[str], fix: str) -> NoReturn:
    """Raise ``AssertionError`` with the project's fixed multi-line layout."""
    __tracebackhide__ = True
    lines = [header, f"Expected: {expected}", f"Obtained: {obtained}", *details, f"Fix: {fix}"]
    raise AssertionError("\n".join(lines))


def listing(items: Sequence[str]) -> str:
    """``items`` joined by commas, at most ``MAX_LISTED`` of them, then how many more."""
    more = f" (+{len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more
