"""Modules wrapped by ``torch.compile``: their original module, and hooks the compiled code runs.

``torch.compile(m)`` returns an ``OptimizedModule`` whose submodules are named
``_orig_mod.layer1``; actassert names layers relative to the original module (``layer1``), and
attaches its hooks there.

Dynamo does not guard on a module's hooks by default (``torch._dynamo.config.
skip_nnmodule_hook_guards``), so code compiled before a hook was added keeps running without it
(pytorch#117758). Code compiled while :func:`hooks_guarded` is active checks that the hooks are
as they were at compile time: adding ``record``'s hooks compiles the module once more, with the
hooks traced in, and removing them brings back the code compiled without them. ``Network``
calls a compiled module, and ``record`` runs its block, under it; a module compiled elsewhere
first is caught by :func:`check_hooks_ran`, which names the fix.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from actassert.errors import RecordingError

if TYPE_CHECKING:
    from torch import nn
    from torch.utils.hooks import RemovableHandle

__all__ = ["is_compiled", "original", "strip_prefix", "hooks_guarded", "CallCounter",
           "PREFIX"]

#: The name ``OptimizedModule`` gives the module it wraps.
PREFIX = "_orig_mod"


def is_compiled(module: object) -> bool:
    """Whether ``module`` is a ``torch.compile`` wrapper (``OptimizedModule``).

    Nothing is compiled before ``torch._dynamo`` is imported, so it is not imported here.
    """
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    wrapper = getattr(eval_frame, "OptimizedModule", None)
    return wrapper is not None and isinstance(module, wrapper)


def original(module: nn.Module) -> nn.Module:
    """The module ``torch.compile`` wrapped (through nested wrappers), or ``module`` itself."""
    while is_compiled(module):
        module = getattr(module, PREFIX)
    return module


def strip_prefix(name: str) -> str:
    """``"_orig_mod.layer1"`` -> ``"layer1"``: a name spelt as the compiled wrapper lists it."""
    while name == PREFIX or name.startswith(PREFIX + "."):
        name = name[len(PREFIX) + 1:]
    return name


@contextlib.contextmanager
def hooks_guarded(module: object) -> Iterator[None]:
    """For a compiled ``module``: make what dynamo compiles in the block guard on hooks."""
    if not is_compiled(module):
        yield
        return
    import torch._dynamo  # a compiled module exists, so dynamo is imported already

    with torch._dynamo.config.patch(skip_nnmodule_hook_guards=False):
        yield


class CallCounter:
    """Counts the calls of a compiled wrapper (its own hooks run outside the compiled code)."""

    def __init__(self, wrapper: nn.Module, handles: list[RemovableHandle]) -> None:
        self.calls = 0
        self.wrapper = wrapper
        handles.append(wrapper.register_forward_pre_hook(self._count))

    def _count(self, module: nn.Module, args: object) -> None:
        self.calls += 1

    def check_hooks_ran(self, forwards: int) -> None:
        """Raise ``RecordingError`` when the wrapper ran but the hooks inside it did not.

        Args:
            forwards: how often the original module's own hook saw a forward.
        """
        if self.calls and forwards == 0:
            raise RecordingError(
                f"record: the compiled module ran {self.calls} time(s) in the block, but none "
                "of the hooks on its original module ran: its code was compiled before they "
                "were added, and torch.compile does not notice hooks added later "
                "(pytorch#117758).\nFix: wrap it in actassert.Network before its first call "
                "(Network(torch.compile(model)) compiles with hook guards on), or call "
                "torch._dynamo.reset() before recording, or compile and first call it under "
                "torch._dynamo.config.patch(skip_nnmodule_hook_guards=False).")
