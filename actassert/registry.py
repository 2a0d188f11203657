"""The per-test registry of what a test recorded, swept and asserted, read by the plugin on failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TestRecord", "current", "begin", "end"]


@dataclass
class TestRecord:
    """What one test produced that a failure report can draw.

    Attributes:
        activations: ``(label, Activations)`` pairs from every ``record`` block, in order.
        responses: ``(label, Responses)`` pairs from every ``sweep``.
        tunings: ``Tuning`` objects that an assertion checked.
        focus: the stimulus index an assertion named (kernel grids are drawn for it), if any.
        notes: free-form lines an assertion wants in the report.
        figures: ``(file name, draw(path))`` pairs an assertion wants written first (e.g. the
            expected, obtained and difference grids of a regression check's first changed layer).
    """

    __test__ = False  # not a pytest test class, despite its name

    activations: list[tuple[str, Any]] = field(default_factory=list)
    responses: list[tuple[str, Any]] = field(default_factory=list)
    tunings: list[Any] = field(default_factory=list)
    focus: int | None = None
    notes: list[str] = field(default_factory=list)
    figures: list[tuple[str, Any]] = field(default_factory=list)

    def add_tuning(self, tuning: Any) -> None:
        """Remember a tuning curve set once (by identity)."""
        if not any(t is tuning for t in self.tunings):
            self.tunings.append(tuning)

    def is_empty(self) -> bool:
        """True when nothing drawable was registered."""
        return not (self.activations or self.responses or self.tunings or self.figures)


class _Discard(list):  # type: ignore[type-arg]
    """A list that keeps nothing: outside a test there is no failure report to draw for."""

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


def _outside_tests() -> TestRecord:
    record = TestRecord()
    record.activations, record.responses = _Discard(), _Discard()
    record.tunings, record.notes = _Discard(), _Discard()
    record.figures = _Discard()
    return record


# A stack, so a pytest run inside a test (pytester) keeps the outer test's record intact. Its
# bottom keeps nothing, so scripts and notebooks do not accumulate every recording.
_stack: list[TestRecord] = [_outside_tests()]


def current() -> TestRecord:
    """The record of the running test; outside a test, a record that keeps nothing."""
    return _stack[-1]


def begin() -> TestRecord:
    """Start a fresh record (the plugin calls this before each test) and return it."""
    _stack.append(TestRecord())
    return _stack[-1]


def end() -> TestRecord:
    """Close the running record and return it, releasing what it held."""
    if len(_stack) == 1:
        return _stack[0]
    return _stack.pop()
