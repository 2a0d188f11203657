"""Models compiled with ``torch.compile``: names through ``_orig_mod``, and hooks that run.

``torch.compile(m)`` returns an ``OptimizedModule`` whose submodules are named
``_orig_mod.layer1``; actassert names layers relative to the original module (``layer1``) and
attaches its hooks there (``m.compile()``, in place, keeps the names as they are).

Code that dynamo compiled before a hook was added does not run it: dynamo does not guard on a
module's hooks by default (``torch._dynamo.config.skip_nnmodule_hook_guards``, pytorch#117758).
Turning those guards on works only for code compiled afterwards, and then traces actassert's
hooks into the graph (graph breaks, a recompilation per ``record`` block). So a ``record`` block
on a model with compiled parts runs it eagerly instead, under
``torch.compiler.set_stance("force_eager")`` (PyTorch 2.6 and later), restored when the block
exits: every hook runs, nothing is recompiled, and the records and outputs are those of the
eager model, equal to the compiled ones within floating-point tolerance (bit-identical for
backends that do not reorder arithmetic, such as ``"aot_eager"``). Outside the block the
compiled code runs as before.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import torch
from torch import nn

from actassert.errors import RecordingError

__all__ = ["PREFIX", "is_compiled", "has_compiled_parts", "original", "strip_prefix",
           "eager_while_recording"]

#: The name ``OptimizedModule`` gives the module it wraps.
PREFIX = "_orig_mod"


def is_compiled(module: object) -> bool:
    """Whether ``module`` is a ``torch.compile`` wrapper (``OptimizedModule``).

    Nothing is compiled before ``torch._dynamo`` is imported, so it is not imported here.
    """
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    wrapper = getattr(eval_frame, "OptimizedModule", None)
    return wrapper is not None and isinstance(module, wrapper)


def has_compiled_parts(module: object) -> bool:
    """Whether ``module`` is compiled, or it or a submodule was compiled in place (``.compile()``)."""
    if "torch._dynamo" not in sys.modules or not isinstance(module, nn.Module):
        return False
    return is_compiled(module) or any(getattr(m, "_compiled_call_impl", None) is not None
                                      for m in module.modules())


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
def eager_while_recording(module: object) -> Iterator[None]:
    """Run a model with compiled parts eagerly for the block, so that hooks on it run.

    Raises:
        RecordingError: the model has compiled parts and this PyTorch has no
            ``torch.compiler.set_stance`` (before 2.6).
    """
    if not has_compiled_parts(module):
        yield
        return
    set_stance = getattr(torch.compiler, "set_stance", None)
    if set_stance is None:
        raise RecordingError(
            "record: this model is compiled with torch.compile, and PyTorch "
            f"{torch.__version__} cannot run it eagerly for the block "
            "(torch.compiler.set_stance needs PyTorch 2.6), so hooks added now might not run "
            "(pytorch#117758).\nFix: record the original module (network.module._orig_mod, or "
            "the model before torch.compile), or upgrade PyTorch to 2.6 or later.")
    with set_stance("force_eager"):
        yield
