"""actassert's version, from the installed package's metadata (one source: pyproject.toml)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_version"]


def package_version() -> str:
    """The installed version of actassert, or ``"0+unknown"`` when it is not installed.

    Example:
        >>> package_version().count(".") >= 1 or package_version() == "0+unknown"
        True
    """
    try:
        return version("actassert")
    except PackageNotFoundError:
        return "0+unknown"
