"""The ``actassert`` command (layer 9): ``parser`` (every subcommand) and
``commands`` (their work; torch loads there).
"""

from actassert.cli.parser import (
    DEFAULT_MODEL,
    build_parser,
    main,
)

__all__ = ["DEFAULT_MODEL", "build_parser", "main"]
