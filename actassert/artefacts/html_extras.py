"""pytest-html: a test's actassert figures as image extras of its row in ``--html`` reports.

Active only when pytest-html is loaded and writing a report (``--html=PATH``); pytest-html is
imported then and only then. Under ``--self-contained-html`` the PNGs are embedded (base64 data
URIs); otherwise the report links them by their path relative to the report's folder, so
publish the report with the results folder beside it (the default ``actassert-results``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from actassert.artefacts.reporting import ARTEFACT_PROPERTY

__all__ = ["html_report_path", "add_figure_extras"]


def html_report_path(config: pytest.Config) -> Path | None:
    """Where pytest-html writes its report in this run, or None when it writes none."""
    if not config.pluginmanager.hasplugin("html"):
        return None
    path = getattr(config.option, "htmlpath", None)
    return Path(os.path.expandvars(path)).expanduser().absolute() if path else None


def add_figure_extras(config: pytest.Config, report: pytest.TestReport) -> None:
    """Append the figures this report names (``actassert_artefact``) to ``report.extras``.

    Never raises: a figure that cannot be read is left out, the test keeps its outcome.
    """
    report_path = html_report_path(config)
    files = [Path(str(v)) for name, v in report.user_properties
             if name == ARTEFACT_PROPERTY and str(v).endswith(".png")]
    if report_path is None or not files:
        return
    # the report's carousel opens on the first image: the kernel grids before the inputs
    files.sort(key=lambda f: f.name.startswith(("input-", "stimuli-")))
    from pytest_html import extras  # optional: pytest-html, loaded as it writes this report

    embed = bool(config.getoption("self_contained_html", False))
    found = list(getattr(report, "extras", []))
    for file in files:
        try:
            content = (base64.b64encode(file.read_bytes()).decode("ascii") if embed
                       else Path(os.path.relpath(file, report_path.parent)).as_posix())
        except (OSError, ValueError):  # unreadable, or on another drive than the report
            continue
        found.append(extras.png(content, name=file.name))
    report.extras = found  # type: ignore[attr-defined]  # pytest-html reads it
