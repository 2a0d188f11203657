"""The pytest plugin: ``--actassert-*`` options and ini keys, fixtures, report header and hooks.

Loading this module imports neither torch nor torchvision; fixtures import them when first used.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from actassert import evidence, weightfiles
from actassert._support import hypothesis as _hypothesis
from actassert._support.device import resolve_device
from actassert.artefacts.reporting import Summary, dump_artefacts, missing_weights_as_skip
from actassert.artefacts.results import clean_results
from actassert.battery.items import battery_items
from actassert.errors import ActAssertError, ActAssertWarning
from actassert.settings import (
    BATTERY_OPTIONS,
    DUMP_CHOICES,
    INI,
    OPTION_DEVICE,
    OPTION_DUMP,
    OPTION_MAX_IMAGES,
    OPTION_MODEL,
    OPTION_OFFLINE,
    OPTION_REQUIRE_WEIGHTS,
    OPTION_RESULTS_DIR,
    OPTION_WEIGHTS_DIR,
    from_config,
    get_settings,
    session_device,
    settings_key,
)

if TYPE_CHECKING:
    from types import ModuleType

    import torch

    from actassert.determinism import Deterministic
    from actassert.fixtures import HookedLayersFixture, ModelFixture
    from actassert.golden.fixture import ActivationRegressionFixture
    from actassert.stimuli import BoundStimuli

_previous_weights_key = pytest.StashKey[tuple[list[Path], bool | None]]()  # weightfiles.configure


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
                    help="where failure artefacts go, relative to where pytest starts. Default: "
                         "actassert-results beside the ini file (or in rootdir).")
    group.addoption(OPTION_DUMP, dest="actassert_dump", metavar="WHEN",
                    help=f"which tests leave artefacts: {', '.join(DUMP_CHOICES)}. Default: failed.")
    group.addoption(OPTION_MAX_IMAGES, dest="actassert_max_images", metavar="N",
                    help="at most N image files per test (kernel grids, plots). Default: 16.")
    _add_battery_options(parser, group)
    parser.addini(INI[OPTION_WEIGHTS_DIR], f"default of {OPTION_WEIGHTS_DIR} (one per line, "
                  "relative to the ini file)", type="linelist", default=[])
    for option in (OPTION_DEVICE, OPTION_REQUIRE_WEIGHTS, OPTION_OFFLINE, OPTION_RESULTS_DIR,
                   OPTION_DUMP, OPTION_MAX_IMAGES):
        parser.addini(INI[option], f"default of {option}", default="")


def _add_battery_options(parser: pytest.Parser, group: pytest.OptionGroup) -> None:
    group.addoption(OPTION_MODEL, dest="actassert_model", action="append", metavar="NAME",
                    help="run the battery of checks on a model (repeatable): torchvision "
                         "names, timm:NAME, hf:NAME, package.module:factory; NAME@WEIGHTS picks "
                         "weights, NAME@none random init.")
    parser.addini(INI[OPTION_MODEL], f"models of {OPTION_MODEL}, one per line", type="linelist",
                  default=[])
    for option in BATTERY_OPTIONS:  # the same definitions make `actassert check`'s flags
        flag, kwargs = option.arguments("--actassert-",
                                        paths_from="beside the ini file (or in rootdir)")
        group.addoption(flag, dest=option.ini_key, **kwargs)
        parser.addini(option.ini_key, f"default of {flag}", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--hypothesis-profile", None) == _hypothesis.PROFILE:
        _hypothesis.register_profile()  # before Hypothesis' own plugin loads it
    try:
        settings = from_config(config)
    except ValueError as exc:
        raise pytest.UsageError(f"actassert: {exc}") from None
    if settings.device not in ("auto", "cpu"):  # cuda, cuda:N, mps: is it really there?
        try:
            resolve_device(settings.device)
        except ValueError as exc:
            raise pytest.UsageError(f"actassert: {OPTION_DEVICE}: {exc}") from None
    config.stash[settings_key] = settings
    config.pluginmanager.register(Summary(config, settings), "actassert-summary")
    if not hasattr(config, "workerinput"):  # the xdist controller or a plain run
        clean_results(settings.results_dir)
    config.stash[_previous_weights_key] = weightfiles.configure(
        weight_dirs=list(settings.weight_dirs), offline=settings.offline)


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_previous_weights_key, None)
    if previous is not None:
        weightfiles.configure(weight_dirs=previous[0], offline=previous[1])


def pytest_report_header(config: pytest.Config) -> str:
    """One line: versions, device and weight folders. Imports nothing heavy: torch's version is
    read from package metadata, and the device is resolved only if torch is already imported."""
    settings = config.stash[settings_key]
    versions = []
    for package in ("torch", "torchvision"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} missing")
    device = settings.device
    if "torch" in sys.modules:  # resolving "auto" would otherwise import torch for every run
        device = f"{settings.device} -> {resolve_device(settings.device)}"
    dirs = ", ".join(str(d) for d in settings.weight_dirs) or "none"
    return f"actassert: {', '.join(versions)}, device {device}, weights dirs: {dirs}"


@pytest.hookimpl(tryfirst=True)  # before -k and --deselect filter the items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    models = get_settings(config).battery.models
    if models:
        items.extend(battery_items(session, models))


@pytest.fixture(scope="session")
def actassert_device(pytestconfig: pytest.Config) -> torch.device:
    """The ``torch.device`` of this session (``--actassert-device``, default auto).

    Under pytest-xdist, ``auto`` gives worker ``gwK`` the GPU ``cuda:K % count``.
    """
    return session_device(pytestconfig)


@pytest.fixture(scope="session")
def actassert_model(actassert_device: torch.device) -> ModelFixture:
    """Loads models once per session, in eval mode, on the session's device.

    ``actassert_model("resnet50", weights=None)`` (see
    :class:`actassert.fixtures.ModelFixture`). Missing weights skip the test (or fail it under
    ``--actassert-require-weights``). After each test, a network the test left in train mode,
    with hooks, or with changed weights is restored and a warning names what was undone.
    """
    from actassert.fixtures import ModelFixture  # torch guard: when used

    return ModelFixture(actassert_device)


@pytest.fixture(scope="session")
def stimuli(actassert_device: torch.device) -> BoundStimuli:
    """Stimulus generators bound to the session's device (session-scoped: usable in ``@given``).

    ``stimuli.hue_disc(range(0, 360, 10), size=64)`` is ``actassert.stimuli.hue_disc`` drawing on
    the session's device (see :func:`actassert.stimuli.on`).
    """
    from actassert.stimuli import on  # torch guard: when used

    return on(actassert_device)


@pytest.fixture
def hooked_layers() -> Iterator[HookedLayersFixture]:
    """Hooks layers for the rest of the test and unhooks them at teardown.

    ``acts = hooked_layers(net, ["layer2", "fc"]); net(images); acts["fc"]``. Takes the keyword
    arguments of :func:`actassert.record` (see :class:`actassert.fixtures.HookedLayersFixture`).
    Inside ``@given`` tests use ``record`` as a ``with`` block instead (Hypothesis forbids
    function-scoped fixtures there).
    """
    from actassert.fixtures import HookedLayersFixture  # torch guard: when used

    with ExitStack() as stack:
        yield HookedLayersFixture(stack)


@pytest.fixture
def deterministic() -> Iterator[Deterministic]:
    """Deterministic torch for one test: deterministic kernels, cuDNN benchmark off, seeds 0.

    Returns :class:`actassert.determinism.Deterministic` (``.seed``, ``.reseed()``); every flag,
    ``CUBLAS_WORKSPACE_CONFIG`` and the random generators' states are restored after the test.
    See :func:`actassert.determinism.deterministic`.
    """
    from actassert.determinism import deterministic as block  # torch guard: when used

    with block() as state:
        yield state


@pytest.fixture
def activation_regression(lazy_datadir: Path, original_datadir: Path,
                          request: pytest.FixtureRequest) -> ActivationRegressionFixture:
    """Compare recorded activations with a golden file: ``activation_regression.check(acts)``.

    pytest-regressions' workflow: the first run writes ``<test module>/<test name>.npz`` and
    fails; later runs compare per-kernel statistics layer by layer in forward order and name the
    first changed layer; ``--force-regen`` rewrites goldens that differ.
    """
    from actassert.golden.fixture import ActivationRegressionFixture  # torch guard: when used

    return ActivationRegressionFixture(lazy_datadir, original_datadir, request)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[Any]:
    settings = get_settings(item.config)
    evidence.begin(wants_figures=settings.dump != "none" and settings.max_images > 0)
    try:
        return (yield)
    finally:
        evidence.end()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    settings = get_settings(item.config)
    missing_weights_as_skip(item, call, report, settings)
    if call.when == "call" or (report.failed and call.when == "setup"):
        dump_artefacts(item, report, settings)
        if item.config.pluginmanager.hasplugin("html"):  # pytest-html is loaded
            _html_extras(item, report)
    return report


def _html_extras(item: pytest.Item, report: pytest.TestReport) -> None:
    """The figures as pytest-html image extras (never breaks the run)."""
    from actassert.artefacts.html_extras import add_figure_extras  # plugin load path: html only

    try:
        add_figure_extras(item.config, report)
    except Exception as exc:  # reporting must never break a run
        report.sections.append(("actassert html", f"warning: the figures could not be added to "
                                f"the HTML report: {type(exc).__name__}: {exc}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """After the test's fixtures are torn down (``hooked_layers`` included), check shared models."""
    try:
        yield
    finally:
        models = sys.modules.get("actassert.models.loading")
        if models is not None:
            _guard_shared_models(item, models)


def _guard_shared_models(item: pytest.Item, models: ModuleType) -> None:
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


__all__ = ["ActAssertWarning", "ActAssertError", "get_settings", "settings_key"]
