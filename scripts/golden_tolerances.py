"""Measure how much activation statistics move for reasons that are not regressions.

Runs one activation regression comparison on ImageNet MobileNetV2 (offline weights, 4 hue
discs, every leaf layer) under 1 vs 2 threads, batch 1 vs 4, and float32 vs bfloat16 on the
CPU, and prints the largest relative difference of each (a fraction of the layer's range, as the
check measures it) next to the default tolerance of that dtype. README, "Regression checks".

Usage: python scripts/golden_tolerances.py
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import numpy as np
import torch

from actassert import Network, list_layers, load_model, record, stimuli
from actassert.golden.stats import STATISTICS, Golden, collect
from actassert.golden.tolerance import tolerance_for


def _golden(net: Any, images: torch.Tensor, *, threads: int = 2, batch: int = 4,
            dtype: torch.dtype = torch.float32) -> Golden:
    """The golden of every leaf layer for ``images``, under the given conditions."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        if dtype != torch.float32:
            module = copy.deepcopy(net.module).to(dtype)
            net = Network(_Cast(module, dtype), mean=net.mean, std=net.std, name=net.name,
                          weights=net.weights, device="cpu")
            layers = [f"module.{name}" for name in list_layers(module, leaves_only=True)]
        else:
            layers = list_layers(net, leaves_only=True)
        with record(net, layers, register=False, keep_inputs=False) as acts:
            for start in range(0, len(images), batch):
                net(images[start:start + batch])
        tensors = {k.removeprefix("module."): v for k, v in acts.items()}
        golden = collect(tensors, maps=False)
        golden.meta.update(device="cpu", dtype=str(dtype).replace("torch.", ""))
        return golden
    finally:
        torch.set_num_threads(previous)


class _Cast(torch.nn.Module):
    """Runs a module in another dtype (its input is cast first)."""

    def __init__(self, module: torch.nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.module, self.dtype = module, dtype

    def forward(self, x: torch.Tensor) -> Any:
        return self.module(x.to(self.dtype))


def _largest(base: Golden, other: Golden) -> tuple[float, str, float]:
    """(largest relative difference of a value statistic, where, most sign flips of a kernel).

    Relative to the layer's range, as the check measures it (``actassert.golden.tolerance``).
    """
    rel, where, flips = 0.0, "", 0.0
    for layer in base.layers:
        e, o = base.stats[layer], other.stats[layer]
        scale = float(np.abs(e[2:4]).max()) or 1.0
        diff = np.abs(o - e)
        row, kernel = np.unravel_index(int(diff[:4].argmax()), diff[:4].shape)
        if diff[row, kernel] / scale > rel:
            rel = float(diff[row, kernel] / scale)
            where = f"{layer} K={kernel:03d} {STATISTICS[row]}"
        flips = max(flips, float(diff[4].max()) * base.meta["positions"][layer])
    return rel, where, flips


Row = tuple[str, str, float, str, float, float]


def measure() -> list[Row]:
    """Rows: (comparison, dtype, largest rel diff, where, sign flips, default rtol)."""
    net = load_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu")
    images = stimuli.hue_disc(range(0, 360, 90), size=224, radius=0.25).images
    rows: list[Row] = []
    references = {}
    for dtype in (torch.float32, torch.bfloat16):
        name = str(dtype).replace("torch.", "")
        references[name] = reference = _golden(net, images, dtype=dtype)
        for what, other in (("1 vs 2 threads", _golden(net, images, dtype=dtype, threads=1)),
                            ("batch 1 vs 4", _golden(net, images, dtype=dtype, batch=1))):
            rows.append((what, name, *_largest(reference, other),
                         tolerance_for("cpu", name).rtol))
    rows.append(("bfloat16 vs float32 (cross-dtype)", "both",
                 *_largest(references["float32"], references["bfloat16"]),
                 tolerance_for("cpu", "bfloat16").rtol))
    return rows


def main() -> int:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available; "
          "MobileNetV2 IMAGENET1K_V1, 4 hue discs, every leaf layer")
    print(f"{'comparison':<34} {'dtype':<9} {'largest rel diff':>16} {'sign flips':>10} "
          f"{'default rtol':>12}  where")
    for what, dtype, rel, where, flips, rtol in measure():
        print(f"{what:<34} {dtype:<9} {rel:>16.3g} {flips:>10.0f} {rtol:>12g}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
