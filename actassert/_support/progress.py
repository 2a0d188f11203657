"""Progress on stderr (the one ``Progress``): stage lines with the time since the start, and a
count that is live on a terminal and a few plain lines in CI logs."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["Progress", "wanted"]


def wanted(enabled: bool | None) -> bool:
    """Whether to report progress: as asked, else everywhere but inside a pytest test."""
    if enabled is not None:
        return enabled
    return "PYTEST_CURRENT_TEST" not in os.environ


class Progress:
    """Progress on stderr, of two kinds: stage lines (call it) and a count of done out of total.

    ``progress("loading mobilenet_v2")`` prints ``[  12.3 s] loading mobilenet_v2``, flushed at
    once, so a piped or logged run shows its stages (``lines`` keeps them). ``advance(n)`` counts:
    on a terminal the count is rewritten in place (``\\r``); elsewhere (a CI log, a pipe) a line
    is printed each time another quarter is done, or every ``every`` steps when the total is not
    known, so a log shows the job is alive without filling up.

    Args:
        label: what is counted (``"sweep"``); stage lines need none.
        total: the count when done, if known.
        unit: the counted things, after the count.
        stream: where to print; None means ``sys.stderr`` at each call (stdout keeps results).
        every: without a total, print every ``every`` steps.
        enabled: False keeps the stage lines without printing anything.

    Example:
        >>> p = Progress("sweep", total=8, stream=sys.stdout)
        >>> for _ in range(4):
        ...     p.advance(2)
        sweep: 2/8 stimuli
        sweep: 4/8 stimuli
        sweep: 6/8 stimuli
        sweep: 8/8 stimuli
        >>> p.close()
    """

    def __init__(self, label: str = "", total: int | None = None, *, unit: str = "stimuli",
                 stream: TextIO | None = None, every: int = 10, enabled: bool = True) -> None:
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self.stream, self.enabled = stream, enabled
        self.start = time.perf_counter()
        self.lines: list[str] = []
        self.done = self.steps = self.quarter = 0
        self.open_line = False

    @property
    def out(self) -> TextIO:
        """The stream printed to: the one given, else ``sys.stderr`` as it is now."""
        return sys.stderr if self.stream is None else self.stream

    def elapsed(self) -> float:
        """Seconds since the progress started."""
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        """Report that ``message``'s stage starts now."""
        line = f"[{self.elapsed():6.1f} s] {message}"
        self.lines.append(line)
        if self.enabled:
            print(line, file=self.out, flush=True)

    def advance(self, n: int = 1) -> None:
        """Add ``n`` to the count and report it if due."""
        self.done += n
        self.steps += 1
        if not self.enabled:
            return
        of = f"/{self.total}" if self.total else ""
        text = f"{self.label}: {self.done}{of} {self.unit}"
        if getattr(self.out, "isatty", lambda: False)():
            print(f"\r{text}", end="", file=self.out, flush=True)
            self.open_line = True
            return
        if self.total:
            quarter = min(4, 4 * self.done // self.total)
            if quarter > self.quarter:
                self.quarter = quarter
                print(text, file=self.out, flush=True)
        elif self.steps % self.every == 0:
            print(text, file=self.out, flush=True)

    def close(self) -> None:
        """End the live line (on a terminal)."""
        if self.open_line:
            print(file=self.out, flush=True)
            self.open_line = False
