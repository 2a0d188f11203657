"""Finding kernels by their id in a layer, with one message for an unknown id (tuning and figures)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from actassert.errors import ActAssertError

__all__ = ["kernel_positions"]


def kernel_positions(wanted: Sequence[object], ids: Sequence[int], where: str,
                     error: type[ActAssertError]) -> list[int]:
    """Positions in ``ids`` of the kernel ids ``wanted``; ``error`` names the first unknown one.

    Example:
        >>> kernel_positions([7, 5], [5, 6, 7], "conv1", ActAssertError)
        [2, 0]
    """
    index = {int(k): i for i, k in enumerate(ids)}
    bad = [k for k in wanted if isinstance(k, bool) or not isinstance(k, numbers.Integral)
           or int(k) not in index]
    if bad:
        raise error(f"kernel {bad[0]!r} is not in {where} (kernel ids "
                    f"{min(index)}..{max(index)}, {len(index)} kernels)")
    return [index[int(k)] for k in wanted]  # type: ignore[call-overload]
