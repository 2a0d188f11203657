"""Resolving a device request (``auto``, ``cpu``, ``cuda``, ``cuda:N``) to a ``torch.device``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")


def check_device_spelling(spec: str) -> str:
    """Validate the spelling of a device request without importing torch.

    Returns the normalised request; raises ``ValueError`` naming the accepted spellings.
    """
    text = str(spec).strip().lower()
    if not _DEVICE_PATTERN.match(text):
        raise ValueError(
            f"device {spec!r} is not one of auto, cpu, cuda, cuda:N (N a GPU index), mps"
        )
    return text


def worker_index(worker: str | None) -> int | None:
    """The number K of a pytest-xdist worker id ``gwK``; None for anything else.

    Example:
        >>> worker_index("gw3"), worker_index("master"), worker_index(None)
        (3, None, None)
    """
    match = re.fullmatch(r"gw(\d+)", worker or "")
    return int(match.group(1)) if match else None


def resolve_device(spec: Any = "auto", *, worker: str | None = None) -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N``/a ``torch.device`` into an available device.

    ``auto`` picks CUDA when available, else CPU; with ``worker`` (a pytest-xdist worker id
    ``gwK``) it picks ``cuda:K % count``, so ``pytest -n 4`` on a 4-GPU machine gives every
    worker its own GPU. Asking for a CUDA device that is absent raises ``ValueError`` with the
    devices that exist.
    """
    import torch  # torch guard: plugin load path

    text = str(spec) if isinstance(spec, torch.device) else check_device_spelling(spec)
    if text == "auto":
        index = worker_index(worker)
        if not torch.cuda.is_available():
            text = "cpu"
        elif index is None:
            text = "cuda"
        else:
            text = f"cuda:{index % torch.cuda.device_count()}"
    device = torch.device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {text!r} asked for, but CUDA is not available here; use 'auto' or 'cpu'"
            )
        index = device.index if device.index is not None else torch.cuda.current_device()
        device = torch.device("cuda", index)  # "cuda" and "cuda:0" name one device, one cache key
        count = torch.cuda.device_count()
        if index >= count:
            raise ValueError(
                f"device {text!r} asked for, but only {count} CUDA device(s) exist "
                f"(cuda:0..cuda:{count - 1})"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {text!r} asked for, but MPS is not available here")
    return device
