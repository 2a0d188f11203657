"""The pytest plugin: ``--actassert-*`` options and ini keys, fixtures, report header and hooks.

Loading this module imports neither torch nor torchvision; fixtures import them when first used.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import pytest

from actassert import registry
from actassert.errors import ActAssertError, ActAssertWarning, WeightsUnavailableError
from actassert.settings import (
    DUMP_CHOICES,
    INI,
    OPTION_DEVICE,
    OPTION_DUMP,
    OPTION_MAX_IMAGES,
    OPTION_OFFLINE,
    OPTION_REQUIRE_WEIGHTS,
    OPTION_RESULTS_DIR,
    OPTION_WEIGHTS_DIR,
    Settings,
    from_config,
)

if TYPE_CHECKING:
    from actassert.models import Network
    from actassert.recording import Activations

settings_key = pytest.StashKey[Settings]()
ARTEFACT_PROPERTY = "actassert_artefact"
REPORT_SECTION = "actassert artefacts"


class _Summary:
    """Counts artefacts from test reports (so xdist workers' tests count too), writes the gallery
    and the ``actassert`` terminal-summary section. Registered once per run by ``pytest_configure``.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tests: dict[str, set[str]] = {}
        self.failed: set[str] = set()
        self.gallery: Any = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        files = [str(value) for name, value in report.user_properties if name == ARTEFACT_PROPERTY]
        if files:
            self.tests.setdefault(report.nodeid, set()).update(files)
            if report.failed:
                self.failed.add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        from actassert.artefacts import write_gallery

        self.gallery = write_gallery(get_settings(self.config).results_dir)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.tests:
            return
        files = sum(len(f) for f in self.tests.values())
        terminalreporter.section("actassert")
        tests = "test" if len(self.tests) == 1 else "tests"
        terminalreporter.line(f"{len(self.tests)} {tests} left {files} figures "
                              f"({len(self.failed)} failed) in {get_settings(self.config).results_dir}")
        if self.gallery is not None:
            terminalreporter.line(f"gallery: {self.gallery}")
        terminalreporter.line(f"Fix: open the gallery; {OPTION_DUMP}=none turns figures off.")

_previous_weights_key = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("actassert", "actassert: testing the inside of vision networks")
    group.addoption(OPTION_DEVICE, dest="actassert_device", metavar="DEVICE",
                    help="device for models and stimuli: auto (CUDA when available), cpu, cuda, "
                         "cuda:N. Default: auto.")
    group.addoption(OPTION_WEIGHTS_DIR, dest="actassert_weights_dir", action="append",
                    metavar="DIR", help="directory holding torchvision checkpoint files, searched "
                    "after torch's hub cache (repeatable; also $ACTASSERT_WEIGHTS_DIR).")
    group.addoption(OPTION_REQUIRE_WEIGHTS, dest="actassert_require_weights", action="store_true",
                    help="fail, instead of skip, tests whose pretrained weights are unavailable.")
    group.addoption(OPTION_OFFLINE, dest="actassert_offline", action="store_true",
                    help="never download weights (also $ACTASSERT_OFFLINE=1).")
    group.addoption(OPTION_RESULTS_DIR, dest="actassert_results_dir", metavar="DIR",
                    help="where failure artefacts go. Default: actassert-results under rootdir.")
    group.addoption(OPTION_DUMP, dest="actassert_dump", metavar="WHEN",
                    help=f"which tests leave artefacts: {', '.join(DUMP_CHOICES)}. Default: failed.")
    group.addoption(OPTION_MAX_IMAGES, dest="actassert_max_images", metavar="N",
                    help="at most N image files per test (kernel grids, plots). Default: 16.")
    parser.addini(INI[OPTION_DEVICE], f"default of {OPTION_DEVICE}", default="")
    parser.addini(INI[OPTION_WEIGHTS_DIR], f"default of {OPTION_WEIGHTS_DIR} (one per line, "
                  "relative to rootdir)", type="linelist", default=[])
    parser.addini(INI[OPTION_REQUIRE_WEIGHTS], f"default of {OPTION_REQUIRE_WEIGHTS}", default="")
    parser.addini(INI[OPTION_OFFLINE], f"default of {OPTION_OFFLINE}", default="")
    parser.addini(INI[OPTION_RESULTS_DIR], f"default of {OPTION_RESULTS_DIR}", default="")
    parser.addini(INI[OPTION_DUMP], f"default of {OPTION_DUMP}", default="")
    parser.addini(INI[OPTION_MAX_IMAGES], f"default of {OPTION_MAX_IMAGES}", default="")


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = from_config(config)
    except ValueError as exc:
        raise pytest.UsageError(f"actassert: {exc}") from None
    if settings.device not in ("auto", "cpu"):  # cuda, cuda:N, mps: is it really there?
        from actassert._device import resolve_device

        try:
            resolve_device(settings.device)
        except ValueError as exc:
            raise pytest.UsageError(f"actassert: {OPTION_DEVICE}: {exc}") from None
    config.stash[settings_key] = settings
    config.pluginmanager.register(_Summary(config), "actassert-summary")
    if not hasattr(config, "workerinput"):  # the xdist controller or a plain run
        from actassert.artefacts import clean_results

        clean_results(settings.results_dir)
    from actassert import weightfiles

    config.stash[_previous_weights_key] = weightfiles.configure(
        weight_dirs=list(settings.weight_dirs), offline=settings.offline)


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_previous_weights_key, None)
    if previous is not None:
        from actassert import weightfiles

        weightfiles.configure(weight_dirs=previous[0], offline=previous[1])


def pytest_report_header(config: pytest.Config) -> str:
    from importlib.metadata import PackageNotFoundError, version

    settings = config.stash[settings_key]
    versions = []
    for package in ("torch", "torchvision"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} missing")
    from actassert._device import resolve_device

    device = f"{settings.device} -> {resolve_device(settings.device)}"
    dirs = ", ".join(str(d) for d in settings.weight_dirs) or "none"
    return f"actassert: {', '.join(versions)}, device {device}, weights dirs: {dirs}"


def get_settings(config: pytest.Config) -> Settings:
    """The resolved settings of a pytest run."""
    return config.stash[settings_key]


@pytest.fixture(scope="session")
def actassert_device(pytestconfig: pytest.Config) -> Any:
    """The ``torch.device`` of this session (``--actassert-device``, default auto)."""
    from actassert._device import resolve_device

    return resolve_device(get_settings(pytestconfig).device)


@pytest.fixture(scope="session")
def actassert_model(actassert_device: Any) -> Callable[..., Network]:
    """A factory loading torchvision models once per session, in eval mode, on the device.

    ``actassert_model("resnet50", weights=None)``. Missing weights skip the test (or fail it
    under ``--actassert-require-weights``). After each test, a network the test left in train
    mode, with hooks, or with changed weights is restored and a warning names what was undone.
    """
    from actassert.models import load_model

    def factory(name: str, *, weights: Any = "DEFAULT", device: Any = None,
                **kwargs: Any) -> Network:
        return load_model(name, weights=weights, device=device or actassert_device, **kwargs)

    return factory


class BoundStimuli:
    """The stimulus generators of :mod:`actassert.stimuli`, drawing on the session's device.

    ``stimuli.hue_disc(range(0, 360, 10), size=64)`` is ``actassert.stimuli.hue_disc`` with
    ``device=`` preset; an explicit ``device=`` still wins.
    """

    _NAMES = ("hue_disc", "shapes", "gratings", "load_images")

    def __init__(self, device: Any) -> None:
        self.device = device

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in self._NAMES:
            raise AttributeError(f"stimuli has no generator {name!r}; it has "
                                 f"{', '.join(self._NAMES)}")
        import importlib

        generator = getattr(importlib.import_module("actassert.stimuli"), name)

        def bound(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("device", self.device)
            return generator(*args, **kwargs)

        bound.__doc__ = generator.__doc__
        bound.__name__ = name
        return bound

    def __repr__(self) -> str:
        return f"<actassert stimuli on {self.device}>"


@pytest.fixture(scope="session")
def stimuli(actassert_device: Any) -> BoundStimuli:
    """Stimulus generators bound to the session's device (session-scoped: usable in ``@given``)."""
    return BoundStimuli(actassert_device)


@pytest.fixture
def hooked_layers() -> Iterator[Callable[..., Activations]]:
    """A factory that hooks layers for the rest of the test and unhooks them at teardown.

    ``acts = hooked_layers(net, ["layer2", "fc"]); net(images); acts["fc"]``. Takes the keyword
    arguments of :func:`actassert.record`. Inside ``@given`` tests use ``record`` as a ``with``
    block instead (Hypothesis forbids function-scoped fixtures there).
    """
    from actassert.recording import record

    with ExitStack() as stack:
        def factory(model: Any, layers: Any, **kwargs: Any) -> Activations:
            return stack.enter_context(record(model, layers, **kwargs))

        yield factory


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[Any]:
    registry.begin()
    try:
        return (yield)
    finally:
        registry.end()


def _weights_skip(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
    """Turn a missing-weights failure into a skip, unless weights are required."""
    excinfo = call.excinfo
    if (excinfo is not None and isinstance(excinfo.value, WeightsUnavailableError)
            and not get_settings(item.config).require_weights and report.outcome == "failed"):
        report.outcome = "skipped"
        _, line, _ = item.location
        report.longrepr = (str(item.path), (line or 0) + 1,
                           f"Skipped: {excinfo.value.summary} "
                           f"(use {OPTION_REQUIRE_WEIGHTS} to fail instead)")


def _dump(item: pytest.Item, report: pytest.TestReport) -> None:
    """Write the artefacts of a test that recorded something, per ``--actassert-dump``."""
    settings = get_settings(item.config)
    wanted = settings.dump == "all" or (settings.dump == "failed" and report.failed)
    record = registry.current()
    if not wanted or record.is_empty() or settings.max_images == 0:
        return
    from actassert.artefacts import safe_name, write_artefacts, write_meta

    folder = settings.results_dir / safe_name(item.nodeid)
    written = write_artefacts(record, folder, max_images=settings.max_images)
    message = "\n".join(report.longreprtext.splitlines()[-40:]) if report.failed else ""
    write_meta(folder, item.nodeid, report.outcome, message, written.files)
    lines = [str(p) for p in written.files]
    if written.skipped:
        lines.append(f"({written.skipped} more figures not written: cap of {settings.max_images} "
                     f"per test, raise it with {OPTION_MAX_IMAGES})")
    lines += [f"could not draw {p}" for p in written.problems]
    report.sections.append((REPORT_SECTION, "\n".join(lines) or f"nothing drawable in {folder}"))
    properties = [(ARTEFACT_PROPERTY, str(p)) for p in written.files]
    report.user_properties.extend(properties)
    item.user_properties.extend(properties)  # JUnit XML reads them from the teardown report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    _weights_skip(item, call, report)
    if call.when == "call" or (report.failed and call.when == "setup"):
        _dump(item, report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """After the test's fixtures are torn down (``hooked_layers`` included), check shared models."""
    try:
        yield
    finally:
        models = sys.modules.get("actassert.models")
        if models is not None:
            _guard_shared_models(item, models)


def _guard_shared_models(item: pytest.Item, models: Any) -> None:
    """Undo what a test changed in cached networks, warning with what was undone."""
    for network in models.cached_models():
        try:
            undone = network.restore()
        except Exception as exc:  # e.g. a submodule replaced by one of another shape
            models.evict(network)
            undone = [f"could not be restored ({type(exc).__name__}: {exc}); it was dropped "
                      "from the cache and the next test loads it afresh"]
        if undone:
            warnings.warn(ActAssertWarning(
                f"{item.nodeid} changed the shared network {network.name}: "
                f"{'; '.join(undone)}. actassert undid it; copy the module "
                "(copy.deepcopy(net.module)) to modify it."), stacklevel=1)


__all__ = ["ActAssertWarning", "ActAssertError", "BoundStimuli", "get_settings", "settings_key"]
