"""Where two checkpoints of one architecture differ inside: ``actassert diff``, layer by layer.

Per layer, in forward order: the relative L2 change of the maps, the lowest correlation of a
kernel's responses between the two, and whether the layer is beyond tolerance by the same
per-kernel comparison as ``activation_regression`` (so both name the same first changed layer).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actassert.errors import GoldenError
from actassert.golden.compare import Comparison, compare_goldens
from actassert.golden.stats import collect
from actassert.models.network import Network
from actassert.probe import probe

__all__ = ["LayerChange", "diff_activations", "load_state_dict_network", "read_record_npz",
           "record_layers", "report_lines"]


@dataclass(frozen=True)
class LayerChange:
    """One layer of a diff: relative L2 change, lowest kernel correlation, verdict."""

    layer: str
    rel_l2: float
    min_correlation: float  # NaN when no kernel varies in both
    beyond: bool
    detail: str


def _kernels(array: np.ndarray) -> np.ndarray:
    """``[K, values]`` in float64: kernels on dim 1, everything else flattened."""
    x = array.astype(np.float64)
    if x.ndim < 2:
        return x.reshape(1, -1)
    return np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)


def _change(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(relative L2 change ``|b - a| / |a|``, lowest per-kernel Pearson correlation)."""
    ka, kb = _kernels(a), _kernels(b)
    norm = float(np.linalg.norm(ka))
    rel = float(np.linalg.norm(kb - ka)) / norm if norm > 0 else float(np.linalg.norm(kb))
    ca, cb = ka - ka.mean(axis=1, keepdims=True), kb - kb.mean(axis=1, keepdims=True)
    sa, sb = np.linalg.norm(ca, axis=1), np.linalg.norm(cb, axis=1)
    varying = (sa > 0) & (sb > 0)
    if not varying.any():
        return rel, math.nan
    corr = (ca[varying] * cb[varying]).sum(axis=1) / (sa[varying] * sb[varying])
    return rel, float(corr.min())


def diff_activations(a: Mapping[str, Any], b: Mapping[str, Any], *,
                     default_tolerance: Any = None) -> tuple[list[LayerChange], Comparison]:
    """Compare two recordings of the same layers (tensors or arrays), in ``a``'s order.

    Raises:
        GoldenError: the two hold different layers or shapes of one layer.
    """
    missing = [k for k in a if k not in b] + [k for k in b if k not in a]
    if missing:
        raise GoldenError(f"the two recordings hold different layers: {', '.join(missing[:5])} "
                          "in only one; record the same layers of both")
    ta = {k: torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor) else v
          for k, v in a.items()}
    tb = {k: torch.as_tensor(np.asarray(b[k])) if not isinstance(b[k], torch.Tensor) else b[k]
          for k in a}
    for key in ta:
        if ta[key].shape != tb[key].shape:
            raise GoldenError(f"layer {key!r} has shape {list(ta[key].shape)} in one and "
                              f"{list(tb[key].shape)} in the other: not one architecture?")
    comparison = compare_goldens(collect(ta, maps=False), collect(tb, maps=False),
                                 default_tolerance=default_tolerance)
    changes = []
    for verdict in comparison.layers:
        rel, corr = _change(ta[verdict.layer].float().cpu().numpy(),
                            tb[verdict.layer].float().cpu().numpy())
        worst = verdict.worst[0] if verdict.worst else None
        detail = (f"K={worst.kernel:03d} {worst.statistic} rel diff {worst.rel_diff:.3g}"
                  if worst is not None and verdict.failed else "")
        changes.append(LayerChange(verdict.layer, rel, corr, verdict.failed, detail))
    return changes, comparison


def report_lines(changes: Sequence[LayerChange], comparison: Comparison) -> list[str]:
    """The printed table and the verdict line."""
    width = max([len(c.layer) for c in changes] + [5])
    lines = [f"tolerance: {comparison.tolerance_note}",
             f"{'layer':<{width}}  {'rel L2 change':>13}  {'min kernel corr':>15}  verdict"]
    for c in changes:
        verdict = f"BEYOND TOLERANCE ({c.detail})" if c.beyond else "ok"
        lines.append(f"{c.layer:<{width}}  {c.rel_l2:>13.3g}  {c.min_correlation:>15.6f}  "
                     f"{verdict}")
    beyond = [c for c in changes if c.beyond]
    if beyond:
        lines.append(f"first layer beyond tolerance: {beyond[0].layer} ({len(beyond)} of "
                     f"{len(changes)} layers beyond tolerance)")
    else:
        lines.append(f"no layer beyond tolerance ({len(changes)} layers)")
    return lines


def read_record_npz(path: Path) -> dict[str, np.ndarray]:
    """The layers of a ``.npz`` written by ``actassert record``, in their saved order.

    Raises:
        GoldenError: the file cannot be read as a plain ``.npz`` (pickles are refused).
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files if not k.startswith("_stimulus.")}
    except (OSError, ValueError, EOFError) as exc:
        raise GoldenError(f"{path}: not a readable .npz of `actassert record` ({exc})") from None


def load_state_dict_network(net: Network, path: Path) -> Network:
    """A copy of ``net`` with the weights of a state-dict file (loaded ``weights_only``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise GoldenError(f"{path}: cannot load a state dict ({type(exc).__name__}: {exc})") \
            from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    module = copy.deepcopy(net.module)
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise GoldenError(f"{path} does not fit {net.name}: {str(exc)[:400]}") from None
    return Network(module, mean=net.mean, std=net.std, input_size=net.input_size,
                   name=net.name, weights=f"state dict {path.name}", device=net.device)


def record_layers(net: Network, layers: Sequence[str], images: torch.Tensor
                  ) -> dict[str, torch.Tensor]:
    """The outputs of ``layers`` for ``images``, on the CPU, in forward order."""
    acts, _ = probe(net, list(layers), images, offload="cpu")
    if acts.never_ran():
        raise GoldenError(acts.never_ran_message())
    return {k: acts[k] for k in acts}
