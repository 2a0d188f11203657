"""The plugin's settings (layer 1, below the plugin): option names, resolving CLI over ini over
default once into :class:`Settings` (kept in ``config.stash``), and what the battery and the
fixtures read from it (``session_device``, ``battery_options``) without importing the plugin."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from actassert._support.device import check_device_spelling, resolve_device
from actassert._support.flags import FALSY, TRUTHY

if TYPE_CHECKING:
    import torch

__all__ = [
    "OPTION_DEVICE", "OPTION_WEIGHTS_DIR", "OPTION_REQUIRE_WEIGHTS", "OPTION_RESULTS_DIR",
    "OPTION_OFFLINE", "OPTION_DUMP", "OPTION_MAX_IMAGES", "INI", "Settings", "from_config",
    "DUMP_CHOICES", "unwritable_reason", "OPTION_MODEL", "OPTION_GOLDEN_DIR", "OPTION_MAX_DEAD",
    "OPTION_MIN_COLOUR", "OPTION_SIZE_GROWS", "BatteryOptions", "settings_key", "get_settings",
    "session_device", "battery_options", "BatteryOption", "BATTERY_OPTIONS", "parse_share",
]

def parse_share(text: Any) -> float:
    """A share of kernels, written as a number between 0 and 1: the battery's thresholds.

    Example:
        >>> parse_share("0.25")
        0.25
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a number between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{value:g} must lie between 0 and 1 (a share of kernels)")
    return value


@dataclass(frozen=True)
class BatteryOption:
    """One option of the battery, defined once: ``--actassert-NAME`` and the ini key
    ``actassert_FIELD`` under pytest, ``--NAME`` of ``actassert check`` (pytest-benchmark's
    ``cli.py`` reuses its plugin's option definitions the same way).

    Attributes:
        name: the flag after its prefix (``"max-dead"``).
        field: the :class:`BatteryOptions` field it sets (``"max_dead"``).
        help: what it does; :meth:`arguments` adds the default.
        metavar: the value's name, or None for an on/off flag.
        parse: how a value written on a command line is read (raises ``ValueError``).
    """

    name: str
    field: str
    help: str
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None

    @property
    def pytest_flag(self) -> str:
        """``--actassert-max-dead``."""
        return f"--actassert-{self.name}"

    @property
    def ini_key(self) -> str:
        """``actassert_max_dead``."""
        return f"actassert_{self.field}"

    def arguments(self, prefix: str, *, paths_from: str = "") -> tuple[str, dict[str, Any]]:
        """The flag and keyword arguments of ``addoption``/``add_argument`` with ``prefix``
        (``"--actassert-"`` under pytest, ``"--"`` for ``actassert check``); the help ends with
        the default, and for a folder where a relative one is taken from (``paths_from``)."""
        default = getattr(BatteryOptions(), self.field)
        kwargs: dict[str, Any] = {"help": self.help}
        if self.metavar is None:
            kwargs["action"] = "store_true"
            return f"{prefix}{self.name}", kwargs
        where = f" {paths_from}" if paths_from and self.metavar == "DIR" else ""
        shown = "" if default is None else f" Default: {default}{where}."
        kwargs.update(metavar=self.metavar, help=f"{self.help}{shown}")
        return f"{prefix}{self.name}", kwargs


#: The battery's options beside the model name, in the order they are listed.
BATTERY_OPTIONS = (
    BatteryOption("golden-dir", "golden_dir", "where the battery keeps golden statistics.", "DIR",
                  Path),
    BatteryOption("max-dead", "max_dead", "the battery fails a layer with more dead kernels than "
                  "this share.", "SHARE", parse_share),
    BatteryOption("min-colour", "min_colour", "assert that some layer has this share of "
                  "colour-selective kernels (default: report only).", "SHARE",
                  parse_share),
    BatteryOption("size-grows", "size_grows", "assert that the preferred size grows with depth."),
)


OPTION_DEVICE = "--actassert-device"
OPTION_WEIGHTS_DIR = "--actassert-weights-dir"
OPTION_REQUIRE_WEIGHTS = "--actassert-require-weights"
OPTION_RESULTS_DIR = "--actassert-results-dir"
OPTION_OFFLINE = "--actassert-offline"
OPTION_DUMP = "--actassert-dump"
OPTION_MAX_IMAGES = "--actassert-max-images"
OPTION_MODEL = "--actassert-model"
#: the battery's other options, as BATTERY_OPTIONS defines them
OPTION_GOLDEN_DIR, OPTION_MAX_DEAD, OPTION_MIN_COLOUR, OPTION_SIZE_GROWS = (
    option.pytest_flag for option in BATTERY_OPTIONS)

#: The ini key mirroring each option.
INI = {
    OPTION_DEVICE: "actassert_device",
    OPTION_WEIGHTS_DIR: "actassert_weights_dir",
    OPTION_REQUIRE_WEIGHTS: "actassert_require_weights",
    OPTION_RESULTS_DIR: "actassert_results_dir",
    OPTION_OFFLINE: "actassert_offline",
    OPTION_DUMP: "actassert_dump",
    OPTION_MAX_IMAGES: "actassert_max_images",
    OPTION_MODEL: "actassert_models",
    **{option.pytest_flag: option.ini_key for option in BATTERY_OPTIONS},
}

DUMP_CHOICES = ("failed", "all", "none")


@dataclass(frozen=True)
class BatteryOptions:
    """What the zero-code battery runs on and checks (all optional): the one definition, used by
    the pytest options and ini keys (through :class:`Settings`) and by ``actassert check``.

    Attributes:
        models: the models of ``--actassert-model`` (or the ini key ``actassert_models``).
        golden_dir: where golden statistics live (one ``.npz`` and ``.json`` per model).
        force_regen: rewrite goldens instead of comparing (pytest-regressions' ``--force-regen``).
        max_dead: the largest share of dead kernels a layer may have.
        min_colour: assert that some default layer has at least this share of colour-selective
            kernels (selectivity index >= 0.3); None reports the shares only.
        size_grows: assert that the median preferred size grows from the first default layer to
            the last (Cavanaugh's single-unit measure, ``reduce="centre"``).
    """

    models: tuple[str, ...] = ()
    golden_dir: Path = field(default_factory=lambda: Path("actassert-goldens"))
    force_regen: bool = False
    max_dead: float = 0.5
    min_colour: float | None = None
    size_grows: bool = False


@dataclass(frozen=True)
class Settings:
    """Resolved plugin settings (CLI over ini over default), kept in ``config.stash``."""

    device: str = "auto"
    weight_dirs: tuple[Path, ...] = ()
    require_weights: bool = False
    results_dir: Path = field(default_factory=lambda: Path("actassert-results"))
    offline: bool | None = None
    dump: str = "failed"
    max_images: int = 16
    battery: BatteryOptions = field(default_factory=BatteryOptions)


def _flag(config: Any, option: str) -> bool | None:
    """A boolean option: True from the CLI, else the ini value parsed strictly, else None."""
    if config.getoption(option.lstrip("-").replace("-", "_")):
        return True
    raw = str(config.getini(INI[option]) or "").strip().lower()
    if raw in TRUTHY:
        return True
    if raw in FALSY:
        return None
    raise ValueError(f"ini key {INI[option]}={raw!r} (mirror of {option}) must be true or false")


def _value(config: Any, option: str) -> Any:
    cli = config.getoption(option.lstrip("-").replace("-", "_"))
    if cli not in (None, [], ""):
        return cli
    return config.getini(INI[option]) or None


def _absolute(path: Any, base: Path) -> Path:
    candidate = Path(str(path)).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def unwritable_reason(folder: Path) -> str:
    """Why ``folder`` could not be created or written to, or ``""``; creates nothing."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file, not a directory"
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{folder} lies under {existing}, which is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return ""


def from_config(config: Any) -> Settings:
    """Resolve every option once; raise ``ValueError`` naming the option when a value is bad."""
    # Paths from the command line are relative to where pytest was started; paths from the ini
    # file are relative to that file's folder (rootdir when there is no ini file).
    here = Path(str(config.invocation_params.dir))
    ini_dir = Path(str(config.inipath.parent)) if config.inipath else Path(str(config.rootpath))
    device_raw = _value(config, OPTION_DEVICE) or "auto"
    try:
        device = check_device_spelling(device_raw)
    except ValueError as exc:
        raise ValueError(f"{OPTION_DEVICE}: {exc}") from None
    cli_dirs = config.getoption("actassert_weights_dir") or []
    ini_dirs = config.getini(INI[OPTION_WEIGHTS_DIR]) or []
    dirs = tuple(_absolute(d, here) for d in cli_dirs) if cli_dirs else \
        tuple(_absolute(d, ini_dir) for d in ini_dirs)
    for d in dirs:
        if d.exists() and not d.is_dir():
            raise ValueError(f"{OPTION_WEIGHTS_DIR}: {d} is a file, not a directory")
    cli_results = config.getoption("actassert_results_dir")
    ini_results = config.getini(INI[OPTION_RESULTS_DIR])
    results = _absolute(cli_results, here) if cli_results else \
        _absolute(ini_results or "actassert-results", ini_dir)
    problem = unwritable_reason(results)
    if problem:
        raise ValueError(f"{OPTION_RESULTS_DIR}: {problem}; failure figures could not be written "
                         f"there. Fix: point {OPTION_RESULTS_DIR} (or the ini key "
                         f"{INI[OPTION_RESULTS_DIR]}) at a writable folder")
    dump = str(_value(config, OPTION_DUMP) or "failed").strip().lower()
    if dump not in DUMP_CHOICES:
        raise ValueError(f"{OPTION_DUMP}={dump!r} is not one of {', '.join(DUMP_CHOICES)}")
    max_raw = _value(config, OPTION_MAX_IMAGES)
    try:
        max_images = 16 if max_raw is None else int(max_raw)
    except (TypeError, ValueError):
        raise ValueError(f"{OPTION_MAX_IMAGES}={max_raw!r} is not a whole number") from None
    if max_images < 0:
        raise ValueError(f"{OPTION_MAX_IMAGES}={max_images} must be 0 or more")
    try:
        require = bool(_flag(config, OPTION_REQUIRE_WEIGHTS))
        offline = _flag(config, OPTION_OFFLINE)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    return Settings(device=device, weight_dirs=dirs, require_weights=require,
                    results_dir=results, offline=offline, dump=dump, max_images=max_images,
                    battery=_battery(config, here, ini_dir))


def _share(config: Any, option: str, default: float | None) -> float | None:
    raw = _value(config, option)
    if raw is None:
        return default
    try:
        return parse_share(raw)
    except ValueError as exc:  # parse_share's message starts with the value it refused
        raise ValueError(f"{option}={exc}") from None


def _battery(config: Any, here: Path, ini_dir: Path) -> BatteryOptions:
    """The battery's settings: ``--actassert-model`` (repeatable) or the ini list, and the rest."""
    cli_models = config.getoption("actassert_model") or []
    models = tuple(cli_models) if cli_models else tuple(config.getini(INI[OPTION_MODEL]) or ())
    defaults = BatteryOptions()
    cli_golden = config.getoption("actassert_golden_dir")
    ini_golden = config.getini(INI[OPTION_GOLDEN_DIR])
    golden = _absolute(cli_golden, here) if cli_golden else \
        _absolute(ini_golden or defaults.golden_dir, ini_dir)
    problem = unwritable_reason(golden) if models else ""
    if problem:
        raise ValueError(f"{OPTION_GOLDEN_DIR}: {problem}; the battery's goldens could not be "
                         "written there")
    max_dead = _share(config, OPTION_MAX_DEAD, defaults.max_dead)
    assert max_dead is not None  # its default is a share, never None
    return BatteryOptions(models=models, golden_dir=golden, max_dead=max_dead,
                          min_colour=_share(config, OPTION_MIN_COLOUR, defaults.min_colour),
                          size_grows=bool(_flag(config, OPTION_SIZE_GROWS)))


settings_key = pytest.StashKey["Settings"]()


def get_settings(config: pytest.Config) -> Settings:
    """The resolved settings of a pytest run."""
    return config.stash[settings_key]


def session_device(config: pytest.Config) -> torch.device:
    """The ``torch.device`` of a run: ``--actassert-device``, with each xdist worker its GPU."""
    worker = getattr(config, "workerinput", {}).get("workerid")  # gwK under pytest-xdist
    return resolve_device(get_settings(config).device, worker=worker)


def battery_options(config: pytest.Config) -> BatteryOptions:
    """The battery's options of a pytest run, ``--force-regen`` (pytest-regressions') included."""
    regen = bool(config.getoption("force_regen", False) or config.getoption("regen_all", False))
    return dataclasses.replace(get_settings(config).battery, force_regen=regen)
