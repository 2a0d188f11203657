"""The names of the battery's checks, importable without torch (test ids, the CLI's help)."""

from __future__ import annotations

__all__ = ["CHECKS"]

#: The checks in the order they run, by the name used in test ids (``mobilenet_v2::eval_mode``).
CHECKS = ("eval_mode", "deterministic", "batch_invariant", "hooks_transparent", "finite",
          "dead_kernels", "golden", "selectivity")
