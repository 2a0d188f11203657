"""The ``actassert`` command (layer 9): ``parser`` (every subcommand) and
``commands`` (their work; torch loads there).
"""

from actassert.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
