"""Progress lines on stderr: live on a terminal, a few plain lines in CI logs."""

from __future__ import annotations

import os
import sys
from typing import TextIO

__all__ = ["Progress", "wanted"]


def wanted(enabled: bool | None) -> bool:
    """Whether to report progress: as asked, else everywhere but inside a pytest test."""
    if enabled is not None:
        return enabled
    return "PYTEST_CURRENT_TEST" not in os.environ


class Progress:
    """Counts done out of total and reports it.

    On a terminal the count is rewritten in place (``\\r``). Elsewhere (a CI log, a pipe) a line
    is printed each time another quarter is done, or every ``every`` steps when the total is not
    known, so a log shows the job is alive without filling up.

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

    def __init__(self, label: str, total: int | None = None, *, unit: str = "stimuli",
                 stream: TextIO | None = None, every: int = 10) -> None:
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self.stream = sys.stderr if stream is None else stream
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.steps = 0
        self.quarter = 0
        self.open_line = False

    def advance(self, n: int = 1) -> None:
        """Add ``n`` to the count and report it if due."""
        self.done += n
        self.steps += 1
        of = f"/{self.total}" if self.total else ""
        text = f"{self.label}: {self.done}{of} {self.unit}"
        if self.live:
            print(f"\r{text}", end="", file=self.stream, flush=True)
            self.open_line = True
            return
        if self.total:
            quarter = min(4, 4 * self.done // self.total)
            if quarter > self.quarter:
                self.quarter = quarter
                print(text, file=self.stream, flush=True)
        elif self.steps % self.every == 0:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """End the live line (on a terminal)."""
        if self.open_line:
            print(file=self.stream, flush=True)
            self.open_line = False
