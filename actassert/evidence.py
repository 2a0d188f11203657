"""The evidence of the running test (one record per test): what it recorded, swept and
asserted, kept for the figures its failure report draws."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from actassert._support.hypothesis import current_example

__all__ = ["TestRecord", "current", "begin", "end", "KEEP_LAST"]

#: At most this many ``record`` blocks, sweeps and tunings are kept per test (the latest ones, the
#: closest to the failure): a test looping over a thousand recordings keeps memory flat, and the
#: per-test figure cap would leave the rest undrawn anyway.
KEEP_LAST = 16


def _bounded() -> deque[Any]:
    return deque(maxlen=KEEP_LAST)


@dataclass
class TestRecord:
    """What one test produced that a failure report can draw.

    Attributes:
        activations: ``(label, Activations)`` pairs from the latest ``record`` blocks, in order.
        responses: ``(label, Responses)`` pairs from the latest sweeps.
        tunings: ``Tuning`` objects that an assertion checked.
        notes: lines an assertion wants in the report (the kernels it named).
        figures: ``(file name, draw(path))`` pairs an assertion wants written first (the
            expected, obtained and difference grids of a regression check's first changed layer).
        keeps: False for the record used outside tests, which keeps nothing, so scripts and
            notebooks do not accumulate every recording.
        wants_figures: whether a failure of this test would draw figures (the plugin sets it from
            ``--actassert-dump`` and ``--actassert-max-images``); assertions capture the maps a
            figure needs only then.
        example: the Hypothesis example this record belongs to (None outside ``@given``).
    """

    __test__ = False  # not a pytest test class, despite its name

    activations: deque[tuple[str, Any]] = field(default_factory=_bounded)
    responses: deque[tuple[str, Any]] = field(default_factory=_bounded)
    tunings: deque[Any] = field(default_factory=_bounded)
    notes: list[str] = field(default_factory=list)
    figures: list[tuple[str, Any]] = field(default_factory=list)
    keeps: bool = True
    wants_figures: bool = True

    def add_activations(self, label: str, activations: Any) -> None:
        """Remember the activations of a ``record`` block."""
        if self.keeps:
            self.activations.append((label, activations))

    def add_responses(self, label: str, responses: Any) -> None:
        """Remember the responses of a sweep."""
        if self.keeps:
            self.responses.append((label, responses))
    example: object | None = None

    def add_tuning(self, tuning: Any) -> None:
        """Remember a tuning curve set once (by identity)."""
        if self.keeps and not any(t is tuning for t in self.tunings):
            self.tunings.append(tuning)

    def add_note(self, note: str) -> None:
        """Remember a line for the test's report section."""
        if self.keeps and len(self.notes) < 4 * KEEP_LAST:
            self.notes.append(note)

    def add_figure(self, name: str, draw: Any) -> None:
        """Remember a figure to write first if the test fails (``draw(path)`` writes it)."""
        if self.keeps and self.wants_figures and len(self.figures) < KEEP_LAST:
            self.figures.append((name, draw))

    def forget(self) -> None:
        """Drop everything recorded so far (e.g. the examples Hypothesis tried before the last)."""
        self.activations.clear()
        self.responses.clear()
        self.tunings.clear()
        self.notes.clear()
        self.figures.clear()

    def restart(self, example: object | None) -> None:
        """Forget what earlier examples registered: a new Hypothesis example has started."""
        self.forget()
        self.example = example

    def is_empty(self) -> bool:
        """True when nothing drawable was registered."""
        return not (self.activations or self.responses or self.tunings or self.figures)


# A stack, so a pytest run inside a test (pytester) keeps the outer test's record intact. Its
# bottom keeps nothing.
_stack: list[TestRecord] = [TestRecord(keeps=False, wants_figures=False)]


def current() -> TestRecord:
    """The record of the running test; outside a test, a record that keeps nothing.

    Inside a Hypothesis ``@given`` test each example starts the record afresh, so a failing
    property leaves the figures of the example Hypothesis runs last: the shrunk failing one.
    """
    record = _stack[-1]
    example = current_example()
    if example is not None and example is not record.example:
        record.restart(example)
    return record


def begin(*, wants_figures: bool = True) -> TestRecord:
    """Start a fresh record (the plugin calls this before each test) and return it."""
    _stack.append(TestRecord(wants_figures=wants_figures))
    return _stack[-1]


def end() -> TestRecord:
    """Close the running record and return it, releasing what it held."""
    if len(_stack) == 1:
        return _stack[0]
    return _stack.pop()
