"""The battery as pytest items: ``pytest --actassert-model NAME`` collects one item per check.

Imported by the plugin only when a model is named, and free of torch at import: the checks load
``actassert.battery.checks`` (and the model) when the first item runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actassert.battery.names import CHECKS
from actassert.errors import ActAssertError
from actassert.settings import battery_options, session_device

__all__ = ["BatteryModel", "BatteryCheck", "BatteryLoadError", "battery_items", "load_error_text",
           "REPORT_SECTION"]

#: The title of each battery item's report section.
REPORT_SECTION = "actassert battery"

_subjects = pytest.StashKey[dict[str, Any]]()


class BatteryModel(pytest.Collector):
    """One model of the battery; its node id is the model as written (``mobilenet_v2``).

    The model is loaded here, at collection, so that a misspelt name, an unknown source, a
    factory that cannot be imported or raises, and an unknown weights tag are found before any
    check runs: such a model collects one failing item, ``NAME::load``, with the error's own
    message and no traceback, and the other models run.
    """

    def collect(self) -> Iterable[pytest.Item]:
        try:
            _load(self.config, self.name)
        except Exception as exc:  # every way a name can be wrong: one clear item, not 8 tracebacks
            return [BatteryLoadError.from_parent(self, name="load", error=exc)]
        return [BatteryCheck.from_parent(self, name=check) for check in CHECKS]


class BatteryLoadError(pytest.Item):
    """The one item of a model that did not load: it fails with the loading error's message."""

    def __init__(self, *, error: BaseException, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        return load_error_text(self.parent.name, self.error)  # type: ignore[union-attr]

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid


def load_error_text(spec: str, error: BaseException) -> str:
    """The message of a battery model that did not load: what, the error, the fix."""
    text = str(error) if isinstance(error, ActAssertError) else f"{type(error).__name__}: {error}"
    return (f"battery model {spec!r} did not load, so none of its checks ran\n{text}\n"
            "Fix: correct --actassert-model (or the ini key actassert_models): NAME, "
            "timm:NAME, hf:NAME, package.module:factory, each optionally @WEIGHTS (@none: random "
            "init); `actassert check NAME` loads one alone")


class BatteryCheck(pytest.Item):
    """One check of one model: ``mobilenet_v2::eval_mode``."""

    def runtest(self) -> None:
        from actassert.battery.checks import run_check  # torch loads here, once an item runs

        lines = run_check(self.name, _subject(self, self.parent.name))  # type: ignore[union-attr]
        self.add_report_section("call", REPORT_SECTION, "\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, AssertionError):  # the fixed-layout message says it all
            return f"{self.nodeid}\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid


def _load(config: pytest.Config, spec: str) -> Any:
    """The loaded model, stimuli and layers of ``spec``, once per session (at collection)."""
    from actassert.battery.subject import subject  # torch loads here, when the battery collects

    cache = config.stash.setdefault(_subjects, {})
    if spec not in cache:
        cache[spec] = subject(spec, battery_options(config), device=session_device(config))
    return cache[spec]


_told = pytest.StashKey[set[str]]()


def _subject(item: pytest.Item, spec: str) -> Any:
    """``spec``'s subject for a check about to run; the first time, it is told which of its
    checks this session runs (selection is done by then), so runs they share are kept only
    while one still needs them."""
    target = _load(item.config, spec)
    told = item.config.stash.setdefault(_told, set())
    if spec not in told:
        told.add(spec)
        target.pending = {i.name for i in item.session.items
                          if isinstance(i, BatteryCheck) and i.parent is item.parent}
    return target


def battery_items(session: pytest.Session, specs: Iterable[str]) -> Iterator[pytest.Item]:
    """The items of every check of every model in ``specs``."""
    for spec in specs:
        model = BatteryModel.from_parent(session, name=spec, nodeid=spec, path=session.path)
        yield from model.collect()
