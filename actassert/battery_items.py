"""The battery as pytest items: ``pytest --actassert-model NAME`` collects one item per check.

Imported by the plugin only when a model is named, and free of torch at import: the checks load
``actassert.battery`` (and the model) when the first item runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["BatteryModel", "BatteryCheck", "battery_items", "REPORT_SECTION"]

#: The title of each battery item's report section.
REPORT_SECTION = "actassert battery"

_subjects = pytest.StashKey[dict[str, Any]]()


class BatteryModel(pytest.Collector):
    """One model of the battery; its node id is the model as written (``mobilenet_v2``)."""

    def collect(self) -> Iterable[pytest.Item]:
        from actassert.battery_names import CHECKS

        return [BatteryCheck.from_parent(self, name=check) for check in CHECKS]


class BatteryCheck(pytest.Item):
    """One check of one model: ``mobilenet_v2::eval_mode``."""

    def runtest(self) -> None:
        from actassert.battery import run_check

        lines = run_check(self.name, _subject(self, self.parent.name))  # type: ignore[union-attr]
        self.add_report_section("call", REPORT_SECTION, "\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, AssertionError):  # the fixed-layout message says it all
            return f"{self.nodeid}\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid


def _subject(item: pytest.Item, spec: str) -> Any:
    """The loaded model, stimuli and layers of ``spec``, once per session; it is told which of
    its checks this session runs, so runs they share are kept only while one still needs them."""
    from actassert.battery import subject
    from actassert.plugin import battery_options, session_device

    config = item.config
    cache = config.stash.setdefault(_subjects, {})
    if spec not in cache:
        cache[spec] = subject(spec, battery_options(config), device=session_device(config))
        cache[spec].pending = {i.name for i in item.session.items
                               if isinstance(i, BatteryCheck) and i.parent is item.parent}
    return cache[spec]


def battery_items(session: pytest.Session, specs: Iterable[str]) -> Iterator[pytest.Item]:
    """The items of every check of every model in ``specs``."""
    for spec in specs:
        model = BatteryModel.from_parent(session, name=spec, nodeid=spec, path=session.path)
        yield from model.collect()
