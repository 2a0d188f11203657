"""Reporting test outcomes: failure artefacts per test, missing weights as skips, the summary.

The pytest plugin calls these from its hooks; nothing here imports torch until figures are drawn.
"""

from __future__ import annotations

from typing import Any

import pytest

from actassert import evidence
from actassert.artefacts.results import safe_name, write_artefacts, write_gallery, write_meta
from actassert.errors import WeightsUnavailableError
from actassert.settings import (
    OPTION_DUMP,
    OPTION_MAX_IMAGES,
    OPTION_REQUIRE_WEIGHTS,
    OPTION_RESULTS_DIR,
    Settings,
)

__all__ = ["ARTEFACT_PROPERTY", "REPORT_SECTION", "Summary", "dump_artefacts",
           "missing_weights_as_skip"]

#: The JUnit XML property (and report user property) naming each figure written.
ARTEFACT_PROPERTY = "actassert_artefact"
#: The title of the report section listing a test's figures.
REPORT_SECTION = "actassert artefacts"


class Summary:
    """Counts artefacts from test reports (so xdist workers' tests count too), writes the gallery
    and the ``actassert`` terminal-summary section. Registered once per run by ``pytest_configure``.
    """

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.tests: dict[str, set[str]] = {}
        self.failed: set[str] = set()
        self.gallery: Any = None
        self.problem = ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        files = [str(value) for name, value in report.user_properties if name == ARTEFACT_PROPERTY]
        if files:
            self.tests.setdefault(report.nodeid, set()).update(files)
            if report.failed:
                self.failed.add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput") or not self.tests:
            return
        try:
            self.gallery = write_gallery(self.settings.results_dir)
        except Exception as exc:  # reporting must never break a run
            self.problem = f"the gallery could not be written: {type(exc).__name__}: {exc}"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.tests:
            return
        files = sum(len(f) for f in self.tests.values())
        terminalreporter.section("actassert")
        tests = "test" if len(self.tests) == 1 else "tests"
        terminalreporter.line(f"{len(self.tests)} {tests} left {files} figures "
                              f"({len(self.failed)} failed) in {self.settings.results_dir}")
        if self.gallery is not None:
            terminalreporter.line(f"gallery: {self.gallery}")
        if self.problem:
            terminalreporter.line(f"warning: {self.problem}")
        terminalreporter.line(f"Fix: open the gallery; {OPTION_DUMP}=none turns figures off.")

def missing_weights_as_skip(item: pytest.Item, call: pytest.CallInfo[None],
                            report: pytest.TestReport, settings: Settings) -> None:
    """Turn a missing-weights failure into a skip; when weights are required, shorten it to the
    error's message (the places searched and the fix)."""
    excinfo = call.excinfo
    if (excinfo is None or not isinstance(excinfo.value, WeightsUnavailableError)
            or report.outcome != "failed"):
        return
    _, line, _ = item.location
    if settings.require_weights:  # the places searched and the fix, not a page of traceback
        report.longrepr = (f"{item.nodeid} needs weights that are not on this machine "
                           f"({OPTION_REQUIRE_WEIGHTS} is set):\n"
                           f"WeightsUnavailableError: {excinfo.value}")
        return
    report.outcome = "skipped"
    report.longrepr = (str(item.path), (line or 0) + 1,
                       f"Skipped: {excinfo.value.summary} "
                       f"(use {OPTION_REQUIRE_WEIGHTS} to fail instead)")


def dump_artefacts(item: pytest.Item, report: pytest.TestReport, settings: Settings) -> None:
    """Write the artefacts of a test that recorded something, per ``--actassert-dump``.

    Never raises: when figures cannot be drawn or written (disk full, permissions changed), the
    test's report section says so and the test keeps its own outcome and message.
    """
    wanted = settings.dump == "all" or (settings.dump == "failed" and report.failed)
    record = evidence.current()
    if not wanted or record.is_empty() or settings.max_images == 0:
        return
    folder = settings.results_dir / safe_name(item.nodeid)
    try:
        lines, files = _write(item, report, settings, record, folder)
    except Exception as exc:  # reporting must never break a run
        lines, files = [f"warning: actassert could not write the figures of this test to "
                        f"{folder}: {type(exc).__name__}: {exc}. Fix: free disk space or make "
                        f"the folder writable, or choose another with {OPTION_RESULTS_DIR}."], []
    lines += [f"checked: {note}" for note in record.notes]  # the kernels assertions named
    report.sections.append((REPORT_SECTION, "\n".join(lines) or f"nothing drawable in {folder}"))
    properties = [(ARTEFACT_PROPERTY, str(p)) for p in files]
    report.user_properties.extend(properties)
    item.user_properties.extend(properties)  # JUnit XML reads them from the teardown report


def _write(item: pytest.Item, report: pytest.TestReport, settings: Settings, record: Any,
           folder: Any) -> tuple[list[str], list[Any]]:
    """Draw and write the figures and the folder's index card; the report lines and the files."""
    written = write_artefacts(record, folder, max_images=settings.max_images)
    message = "\n".join(report.longreprtext.splitlines()[-40:]) if report.failed else ""
    write_meta(folder, item.nodeid, report.outcome, message, written.files)
    lines = [str(p) for p in written.files]
    if written.skipped:
        lines.append(f"({written.skipped} more figures not written: cap of {settings.max_images} "
                     f"per test, raise it with {OPTION_MAX_IMAGES})")
    lines += [f"could not draw {p}" for p in written.problems]
    return lines, list(written.files)
