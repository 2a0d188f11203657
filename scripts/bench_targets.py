"""The performance targets, each measured as a ratio of paired, interleaved runs.

Usage: .venv/bin/python scripts/bench_targets.py [--quick] [--threads N] [--json FILE]
(``bash scripts/bench.sh`` runs it with the other benchmarks.)

Rows (ResNet-50 and MobileNetV2 with random weights: timings do not depend on the weights):

- ``sweep`` of 48 hue discs (224 px, batch 16) up to ``layer2`` of ResNet-50, foreground means of
  ``maxpool`` and ``layer2``, against the same network truncated by hand after ``layer2`` (plain
  ``inference_mode`` forward, then a spatial mean of both layers): target <= 1.05.
- ``record`` of 4 layers against a plain forward (ResNet-50, batch 16): target <= 1.03. Pairs are
  added until the 95% confidence interval of the median is within +-0.01, so the answer is not
  hidden in the noise of a 2-core machine.
- ``record`` as it is against ``record`` copying every output (as it did before it learnt which
  outputs the forward changes in place).
- peak resident memory of a sweep of 3,600 stimuli against one of 360 (each in its own process):
  target <= 1.10.
- hue discs made by the tutorial's PIL path against ``actassert.stimuli.hue_disc``: target >= 3.
- the tutorial's one-subplot-per-kernel figure against ``kernel_grid`` (64 kernels of 28x28).

Each row prints the median ratio, the 95% confidence interval of that median, the quartiles of
single rounds and the number of rounds; ``--json`` also writes them to a file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import actassert as aa
from actassert._inplace import OutputCopies
from actassert._paired import PairedRatio, paired_ratio, timer_for
from actassert.bench import forward_fn
from actassert.drawing import kernel_grid
from actassert.stimuli import hue_disc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tests_support.bench_report import machine_description, save, targets_table
from tests_support.sweep_memory import sweep_in_subprocess
from tests_support.tutorial_paths import pil_hue_discs, tutorial_subplots


def _row(measure: str, target: str, r: PairedRatio, met: bool) -> dict[str, Any]:
    return {"measure": measure, "target": target, "ratio": round(r.ratio, 3),
            "ci": [round(r.ci_low, 3), round(r.ci_high, 3)],
            "quartiles": [round(r.low, 3), round(r.high, 3)], "rounds": r.rounds, "met": met,
            "a_ms": round(r.a_seconds * 1e3, 1), "b_ms": round(r.b_seconds * 1e3, 1)}


def sweep_against_truncated(rounds: int, n_discs: int = 48, size: int = 224) -> dict[str, Any]:
    """``sweep`` to layer2 of ResNet-50 against the network cut by hand after layer2."""
    net = aa.load_model("resnet50", weights=None, device="cpu")
    m: Any = net.module  # a torchvision ResNet: its stages by attribute
    discs = hue_disc(torch.arange(n_discs) * (360.0 / n_discs), size=224)

    if n_discs < 48:  # --quick: checks the script, not the target
        discs = hue_disc(torch.arange(n_discs) * (360.0 / n_discs), size=112)

    def truncated() -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        with torch.inference_mode():
            for batch in discs.batches(16):
                x = m.maxpool(m.relu(m.bn1(m.conv1(net.preprocess(batch.images)))))
                out.append((x.mean((2, 3)), m.layer2(m.layer1(x)).mean((2, 3))))
        return out

    def swept() -> Any:
        return aa.sweep(net, discs, ["maxpool", "layer2"], reduce="foreground", batch_size=16,
                        progress=False)

    r = paired_ratio(truncated, swept, rounds=rounds)
    return _row(f"sweep to layer2 / hand-truncated forward (ResNet-50, {n_discs} discs of {size} px, "
                "batch 16)",
                "<= 1.05", r, r.ratio <= 1.05)


def record_against_plain(rounds: int, precision: float | None, size: int = 224) -> dict[str, Any]:
    """``record`` of maxpool, layer1, layer2, layer3 against the plain forward."""
    net = aa.load_model("resnet50", weights=None, device="cpu")
    x = torch.rand(16, 3, size, size, generator=torch.Generator().manual_seed(0))
    layers = ["maxpool", "layer1", "layer2", "layer3"]
    plain: Callable[[], Any] = forward_fn(net, x)
    recorded: Callable[[], Any] = forward_fn(net, x, layers=layers)
    r = paired_ratio(plain, recorded, rounds=rounds, precision=precision,
                     max_rounds=max(rounds, 80))
    return _row(f"record 4 layers / plain forward (ResNet-50, batch 16 of {size} px)", "<= 1.03", r,
                r.ratio <= 1.03)


def copies_against_copying_all(rounds: int, size: int = 224) -> dict[str, Any]:
    """``record`` as it is (copies only outputs changed in place) against copying every output,
    as ``record`` did before: what learning the copies saves."""
    net = aa.load_model("resnet50", weights=None, device="cpu")
    x = torch.rand(16, 3, size, size, generator=torch.Generator().manual_seed(0))
    learnt = forward_fn(net, x, layers=["maxpool", "layer1", "layer2", "layer3"])
    keep = OutputCopies.keep

    def copy_all(self: OutputCopies, name: str, value: torch.Tensor) -> torch.Tensor:
        return value.clone()

    def copying_all() -> Any:
        OutputCopies.keep = copy_all  # type: ignore[method-assign]
        try:
            return learnt()
        finally:
            OutputCopies.keep = keep  # type: ignore[method-assign]

    r = paired_ratio(copying_all, learnt, rounds=rounds)
    return _row(f"record 4 layers, copies learnt / every output copied (ResNet-50, batch 16 of "
                f"{size} px)", "< 1", r, r.ratio < 1)


def peak_memory(quick: bool) -> dict[str, Any]:
    """Peak RSS of a sweep of 3,600 stimuli over that of 360 (MobileNetV2 to features.7)."""
    size = 64 if quick else 224
    small = sweep_in_subprocess(360, size, "mobilenet_v2", None, "features.7.conv.1")
    large = sweep_in_subprocess(3600, size, "mobilenet_v2", None, "features.7.conv.1")
    ratio = large["peak_mb"] / small["peak_mb"]
    print(f"  peak memory: {small['peak_mb']:.0f} MB for 360 stimuli, {large['peak_mb']:.0f} MB "
          f"for 3,600 ({size} px)", flush=True)
    r = PairedRatio(ratio, ratio, ratio, ratio, ratio, 1, small["peak_mb"], large["peak_mb"])
    return _row(f"peak memory, sweep of 3,600 / of 360 stimuli (MobileNetV2, {size} px)",
                "<= 1.10", r, ratio <= 1.10)


def stimuli_against_pil(rounds: int) -> dict[str, Any]:
    """The tutorial's PIL discs over ``hue_disc``: how many times faster actassert is."""
    hues = [i * 10.0 for i in range(36)]
    r = paired_ratio(lambda: hue_disc(hues, size=224), lambda: pil_hue_discs(hues),
                     rounds=rounds)
    return _row("36 hue discs at 224 px: tutorial PIL path / hue_disc (speed-up)", ">= 3", r,
                r.ratio >= 3)


def grid_against_subplots(rounds: int) -> dict[str, Any]:
    """The tutorial's subplots over ``kernel_grid``, 64 maps of 28x28."""
    maps = np.random.default_rng(0).standard_normal((64, 28, 28)).astype(np.float32)
    r = paired_ratio(lambda: kernel_grid(maps), lambda: tutorial_subplots(maps), rounds=rounds)
    return _row("64 kernel maps: tutorial subplots / kernel_grid (speed-up)", ">= 1", r,
                r.ratio >= 1)


def gpu_sweep_throughput(rounds: int) -> dict[str, Any] | None:
    """On a GPU: a sweep through all of ResNet-50 against plain forwards of the same images, at
    the batch size where the plain forward has its best images/s."""
    if not torch.cuda.is_available():
        print("  no GPU here: sweep throughput on a GPU is not measured", flush=True)
        return None
    device = torch.device("cuda")
    net = aa.load_model("resnet50", weights=None, device=device)
    timer = timer_for(device)
    rates = {}
    for batch in (16, 32, 64, 128, 256):
        run = forward_fn(net, torch.rand(batch, 3, 224, 224, device=device))
        run()
        rates[batch] = batch / statistics.median(timer(run) for _ in range(5))
    best = max(rates, key=rates.__getitem__)
    discs = hue_disc(torch.arange(8 * best) * (360.0 / (8 * best)), size=224, device=device)

    def plain() -> None:
        with torch.inference_mode():
            for batch in discs.batches(best):
                net(batch.images)

    def swept() -> Any:
        return aa.sweep(net, discs, ["layer2", "fc"], batch_size=best, progress=False)

    r = paired_ratio(plain, swept, rounds=rounds, timer=timer)
    print(f"  GPU {torch.cuda.get_device_name(device)}: plain forward best at batch {best}, "
          f"{rates[best]:.0f} images/s", flush=True)
    return _row(f"GPU sweep of {8 * best} discs / plain forwards (ResNet-50, batch {best}; "
                "throughput within 10%)", "<= 1.11", r, r.ratio <= 1 / 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="few rounds and 64 px memory runs: checks the script, not the targets")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    machine = machine_description(args.threads)
    print(f"machine: {machine}")
    print(targets_table([]), flush=True)
    # --quick checks that the script runs (small images, few rounds), not the targets
    rounds, size = (3, 96) if args.quick else (12, 224)
    rows: list[dict[str, Any]] = []
    measures: list[Callable[[], dict[str, Any] | None]] = [
        lambda: sweep_against_truncated(rounds, 48, size),
        lambda: record_against_plain(rounds, None if args.quick else 0.01, size),
        lambda: copies_against_copying_all(30 if not args.quick else rounds, size),
        lambda: peak_memory(args.quick),
        lambda: stimuli_against_pil(rounds),
        lambda: grid_against_subplots(rounds),
        lambda: gpu_sweep_throughput(rounds),
    ]
    for measure in measures:
        row = measure()
        if row is None:
            continue
        rows.append(row)
        print(targets_table(rows[-1:]).splitlines()[-1], flush=True)
    save(args.json, machine=machine, quick=args.quick, rows=rows)


if __name__ == "__main__":
    main()
