"""Golden files: a :class:`~actassert.golden.stats.Golden` as ``.npz`` (no pickle), written atomically.

Layout of the ``.npz``: ``meta.json`` (a string: the metadata and the layer order), then
``stats/<layer>`` (``float64 [5, K]``), ``responses/<layer>`` and ``maps/<layer>``. A copy of the
metadata is written beside it as ``<name>.json`` for people reading a diff; the ``.npz`` is
the one read back. Every write goes to a temporary file in the same folder, then ``os.replace``,
so a reader (another pytest-xdist worker) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from actassert.errors import GoldenFileError
from actassert.golden.stats import STATISTICS, Golden

__all__ = ["write_golden", "read_golden", "atomic_write_bytes", "REGEN_HINT"]

#: How to rewrite a golden, quoted in every message about one.
REGEN_HINT = "pytest --force-regen (pytest-regressions' flag) rewrites it"
_FORMAT = 1


def plain_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0o666 less the process' umask.

    Read from ``/proc/self/status`` where there is one, so the umask is never changed, not even
    for a moment; elsewhere set and put back at once.

    Example:
        >>> plain_mode() & 0o600
        384
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, plain_mode())  # mkstemp's 0600 would survive the rename
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_golden(golden: Golden, path: Path) -> Path:
    """Write ``golden`` to ``path`` (``.npz``) and its metadata beside it (``.json``); atomic."""
    meta = {**golden.meta, "format": _FORMAT, "layers": golden.layers,
            "statistics": list(STATISTICS)}
    text = json.dumps(meta, indent=1, sort_keys=True)
    arrays: dict[str, np.ndarray] = {"meta.json": np.array(text)}
    for prefix, part in (("stats", golden.stats), ("responses", golden.responses),
                         ("maps", golden.maps)):
        arrays.update({f"{prefix}/{layer}": value for layer, value in part.items()})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # float maps barely compress
    atomic_write_bytes(path, buffer.getvalue())
    atomic_write_bytes(path.with_suffix(".json"), (text + "\n").encode("utf-8"))
    return path


def _broken(path: Path, why: str) -> GoldenFileError:
    return GoldenFileError(f"the golden file {path} cannot be read: {why}. Fix: if the test's "
                           f"data is right, {REGEN_HINT}; else restore the file from version "
                           "control.")


def read_golden(path: Path) -> Golden:
    """Read a golden written by :func:`write_golden`.

    Raises:
        GoldenFileError: the file is truncated, corrupt or not an actassert golden; the message
            names the file and the regen flag.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}  # read every member: CRCs checked now
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _broken(path, f"{type(exc).__name__}: {exc}") from None
    if "meta.json" not in arrays:
        raise _broken(path, "it holds no meta.json (not written by actassert)")
    try:
        meta = json.loads(str(arrays.pop("meta.json")))
        layers = [str(layer) for layer in meta.pop("layers")]
    except (ValueError, KeyError, TypeError) as exc:
        raise _broken(path, f"its meta.json is damaged ({exc})") from None
    golden = Golden(layers=layers, stats={}, meta=meta)
    parts = {"stats": golden.stats, "responses": golden.responses, "maps": golden.maps}
    for key, value in arrays.items():
        prefix, _, layer = key.partition("/")
        if prefix in parts:
            parts[prefix][layer] = value
    missing = [layer for layer in layers if layer not in golden.stats]
    if missing:
        raise _broken(path, f"no statistics for {', '.join(missing[:5])}")
    return golden
