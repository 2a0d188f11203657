"""Deterministic torch: the ``deterministic()`` block sets the flags and seeds, and restores them.

Example:
    >>> import torch
    >>> from actassert.determinism import deterministic
    >>> with deterministic(seed=1):
    ...     a = torch.rand(2)
    >>> with deterministic(seed=1):
    ...     b = torch.rand(2)
    >>> torch.equal(a, b)
    True
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from actassert.errors import DeterminismWarning

__all__ = ["Deterministic", "RandomStates", "TorchFlags", "deterministic", "seed_everything"]

CUBLAS_WORKSPACE = ":4096:8"
"""``CUBLAS_WORKSPACE_CONFIG`` value that makes cuBLAS deterministic (set when not set)."""


@dataclass(frozen=True)
class TorchFlags:
    """The process-wide switches that decide whether torch picks deterministic kernels."""

    deterministic_algorithms: bool
    warn_only: bool
    cudnn_deterministic: bool
    cudnn_benchmark: bool

    @classmethod
    def capture(cls) -> TorchFlags:
        """The flags as they are now."""
        return cls(torch.are_deterministic_algorithms_enabled(),
                   torch.is_deterministic_algorithms_warn_only_enabled(),
                   bool(torch.backends.cudnn.deterministic), bool(torch.backends.cudnn.benchmark))

    def apply(self) -> None:
        """Set every flag to this value."""
        torch.use_deterministic_algorithms(self.deterministic_algorithms, warn_only=self.warn_only)
        torch.backends.cudnn.deterministic = self.cudnn_deterministic
        torch.backends.cudnn.benchmark = self.cudnn_benchmark


@dataclass(frozen=True)
class RandomStates:
    """The states of Python's, NumPy's and torch's global random generators (CUDA if started)."""

    python: Any
    numpy: Any
    torch_cpu: torch.Tensor
    torch_cuda: list[torch.Tensor] | None

    @classmethod
    def capture(cls) -> RandomStates:
        """The states as they are now; CUDA's only when CUDA is initialised (never starts it)."""
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        return cls(random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda)

    def restore(self) -> None:
        """Put every generator back in this state."""
        random.setstate(self.python)
        np.random.set_state(self.numpy)
        torch.set_rng_state(self.torch_cpu)
        if self.torch_cuda is not None:
            torch.cuda.set_rng_state_all(self.torch_cuda)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed={seed!r} must be an int in [0, 2**32)")
    return seed


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    _check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Deterministic:
    """What ``deterministic()`` yields (and the ``deterministic`` fixture returns).

    Attributes:
        seed: the seed every generator was given on entry.
        flags: the flags in force inside the block.
    """

    seed: int
    flags: TorchFlags

    def reseed(self, seed: int | None = None) -> None:
        """Seed every generator again, with ``seed`` or the block's own (to repeat a draw)."""
        seed_everything(self.seed if seed is None else seed)


def _switched_back(flags: TorchFlags) -> list[str]:
    now = TorchFlags.capture()
    found = []
    if now.cudnn_benchmark and not flags.cudnn_benchmark:
        found.append("torch.backends.cudnn.benchmark was switched back on")
    if not now.cudnn_deterministic and flags.cudnn_deterministic:
        found.append("torch.backends.cudnn.deterministic was switched off")
    if not now.deterministic_algorithms and flags.deterministic_algorithms:
        found.append("torch.use_deterministic_algorithms(False) was called")
    return found


@contextlib.contextmanager
def deterministic(seed: int = 0, *, warn_only: bool = False) -> Iterator[Deterministic]:
    """Run the block with deterministic kernels and seeded generators; restore everything after.

    Inside: ``torch.use_deterministic_algorithms(True, warn_only=warn_only)`` (an operation with
    no deterministic kernel raises, or warns with ``warn_only``), cuDNN deterministic with
    benchmark mode off, ``CUBLAS_WORKSPACE_CONFIG`` set for cuBLAS when unset, and Python's,
    NumPy's and torch's generators seeded with ``seed``. On exit every flag, the environment
    variable and every generator's state are put back as they were. Something inside that
    switches cuDNN benchmark mode back on (or determinism off) gets a ``DeterminismWarning``.

    Args:
        seed: the seed of every generator.
        warn_only: warn instead of raising on operations without a deterministic kernel.

    Yields:
        :class:`Deterministic`, whose ``reseed()`` seeds the generators again.
    """
    _check_seed(seed)
    before, states = TorchFlags.capture(), RandomStates.capture()
    flags = TorchFlags(True, bool(warn_only), True, False)
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        if workspace is None:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
        flags.apply()
        seed_everything(seed)
        yield Deterministic(seed, flags)
        lost = _switched_back(flags)
        if lost:
            warnings.warn(DeterminismWarning(
                f"inside deterministic(): {'; '.join(lost)}, so runs may differ. Fix: remove "
                "that setting from the code under test (it is restored on exit)"), stacklevel=3)
    finally:
        before.apply()
        states.restore()
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
