"""Coarse progress lines of the tutorial's stages, on a terminal or in a log alike."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Prints ``[  12.3 s] stage`` lines, flushed at once, so a piped or logged run shows them.

    Args:
        stream: where to print; None means ``sys.stderr`` at each call (stdout keeps results).
        enabled: False records the lines without printing them.
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.start = time.perf_counter()
        self.lines: list[str] = []

    def elapsed(self) -> float:
        """Seconds since the progress started."""
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        """Report that ``message``'s stage starts now."""
        line = f"[{self.elapsed():6.1f} s] {message}"
        self.lines.append(line)
        if self.enabled:
            print(line, file=self.stream or sys.stderr, flush=True)
