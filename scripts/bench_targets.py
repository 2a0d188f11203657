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
from actassert._support.paired import PairedRatio, paired_ratio, timer_for
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


def _plain_forwards(net: Any, batches: list[torch.Tensor]) -> Callable[[], None]:
    """The plain forwards a check needs: one ``inference_mode`` forward of each batch."""
    def run() -> None:
        with torch.inference_mode():
            for batch in batches:
                net(batch)
    return run


def _check_row(measure: str, r: PairedRatio, limit: float = 3.0) -> dict[str, Any]:
    row = _row(measure, f"<= {limit:g}", r, r.ratio <= limit)
    row["group"] = "checks"
    return row


def battery_against_forwards(rounds: int) -> dict[str, Any]:
    """The whole battery (every check, one model) against the plain forwards its checks need:
    2 runs of 4 stimuli (determinism; batch invariance's batch is its run 1), the 4 alone, 2 of
    the 4 (hooks on and off), the 16 stimuli (finite, dead kernels, golden), the 3 photos, and
    the selectivity sweeps' 12 discs and 8 circles."""
    import tempfile

    from actassert.battery.checks import CHECKS, _photos, run_check
    from actassert.battery.selectivity_check import selectivity_stimuli
    from actassert.battery.subject import subject
    from actassert.settings import BatteryOptions

    golden_dir = Path(tempfile.mkdtemp(prefix="bench-goldens-"))  # the first round writes it
    spec = "mobilenet_v2@IMAGENET1K_V1"
    target = subject(spec, BatteryOptions(golden_dir=golden_dir), device="cpu", download=False)
    images = target.images
    size = images.shape[-1]  # the model's input size, as the battery uses
    photos = _photos(size, "cpu")
    discs, circles = selectivity_stimuli(size)
    needed = [images[:4]] * 4 + [images[i:i + 1] for i in range(4)] + [images] + \
        ([photos] if photos is not None else []) + [discs.images, circles.images]

    def battery() -> None:
        fresh = subject(spec, BatteryOptions(golden_dir=golden_dir), device="cpu", download=False)
        for name in CHECKS:
            run_check(name, fresh)

    r = paired_ratio(_plain_forwards(target.net, needed), battery, rounds=rounds, warmup=1)
    print(f"  battery: {r.b_seconds:.1f} s, its plain forwards {r.a_seconds:.1f} s", flush=True)
    return _check_row(f"battery, all {len(CHECKS)} checks / the plain forwards they need "
                      f"(MobileNetV2 ImageNet, {size} px)", r)


def invariance_against_forwards(rounds: int, size: int) -> list[dict[str, Any]]:
    """``assert_batch_invariant`` and ``assert_deterministic`` on 4 hue discs against their plain
    forwards (the batch and each image alone; two runs of the batch)."""
    net = aa.load_model("mobilenet_v2", weights=None, device="cpu")
    x = hue_disc([0, 90, 180, 270], size=size).images
    alone = [x[i:i + 1] for i in range(len(x))]
    batch = paired_ratio(_plain_forwards(net, [x, *alone]),
                         lambda: aa.assert_batch_invariant(net, x), rounds=rounds)
    runs = paired_ratio(_plain_forwards(net, [x, x]), lambda: aa.assert_deterministic(net, x),
                        rounds=rounds)
    return [_check_row(f"assert_batch_invariant, every module / batch of 4 and each alone "
                       f"(MobileNetV2, {size} px)", batch),
            _check_row(f"assert_deterministic, every module / 2 forwards of 4 (MobileNetV2, "
                       f"{size} px)", runs)]


def golden_against_forward(rounds: int, size: int) -> dict[str, Any]:
    """A golden check of ``features.*`` (record 12 hue discs, per-kernel statistics and first
    maps, compared with the golden file) against the plain forward of the discs."""
    import tempfile

    from actassert.golden.compare import compare_goldens
    from actassert.golden.files import read_golden, write_golden
    from actassert.golden.stats import collect

    net = aa.load_model("mobilenet_v2", weights=None, device="cpu")
    x = hue_disc(range(0, 360, 30), size=size).images
    path = Path(tempfile.mkdtemp(prefix="bench-golden-")) / "features.npz"

    def checked() -> Any:
        with aa.record(net, ["features.*"], register=False) as acts:
            net(x)
        obtained = collect(acts)
        if not path.is_file():
            write_golden(obtained, path)
        return compare_goldens(read_golden(path), obtained)

    r = paired_ratio(_plain_forwards(net, [x]), checked, rounds=rounds)
    return _check_row(f"golden check of features.* / plain forward (MobileNetV2, 12 discs of "
                      f"{size} px)", r)


def every_leaf_against_plain(rounds: int, size: int, model: str) -> dict[str, Any]:
    """``record`` of every leaf against the plain forward (batch 8)."""
    net = aa.load_model(model, weights=None, device="cpu")
    x = torch.rand(8, 3, size, size, generator=torch.Generator().manual_seed(0))
    r = paired_ratio(forward_fn(net, x),
                     forward_fn(net, x, layers=aa.list_layers(net, leaves_only=True)),
                     rounds=rounds)
    return _check_row(f"record every leaf / plain forward ({model}, batch 8 of {size} px)", r, 1.5)


def _merged(path: Path | None, rows: list[dict[str, Any]], only: list[str] | None
            ) -> list[dict[str, Any]]:
    """With ``--only``: the rows of the other groups already saved in ``path``, then ``rows``."""
    if not only or path is None or not path.is_file():
        return rows
    import json

    kept = [r for r in json.loads(path.read_text(encoding="utf-8"))["rows"]
            if r.get("group", "issue 12") not in only]
    return kept + rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="few rounds and 64 px memory runs: checks the script, not the targets")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--only", nargs="+", choices=["issue 12", "checks"],
                        help="measure only these groups of rows; with --json, the other rows "
                             "already in the file are kept")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    machine = machine_description(args.threads)
    print(f"machine: {machine}")
    print(targets_table([]), flush=True)
    # --quick checks that the script runs (small images, few rounds), not the targets
    rounds, size = (3, 96) if args.quick else (12, 224)
    rows: list[dict[str, Any]] = []
    few = 3 if args.quick else 8
    measures: list[tuple[str, Callable[[], Any]]] = [
        ("issue 12", lambda: sweep_against_truncated(rounds, 48, size)),
        ("issue 12", lambda: record_against_plain(rounds, None if args.quick else 0.01, size)),
        ("issue 12", lambda: copies_against_copying_all(30 if not args.quick else rounds, size)),
        ("issue 12", lambda: peak_memory(args.quick)),
        ("issue 12", lambda: stimuli_against_pil(rounds)),
        ("issue 12", lambda: grid_against_subplots(rounds)),
        ("issue 12", lambda: gpu_sweep_throughput(rounds)),
        ("checks", lambda: battery_against_forwards(2 if args.quick else 5)),
        ("checks", lambda: invariance_against_forwards(few, size)),
        ("checks", lambda: golden_against_forward(few, size)),
        *[("checks", lambda m=m: every_leaf_against_plain(few, size, m))
          for m in ("resnet18", "resnet50", "mobilenet_v2")],
    ]
    for group, measure in measures:
        if args.only and group not in args.only:
            continue
        found = measure()
        for row in found if isinstance(found, list) else [found] if found else []:
            rows.append(row)
            print(targets_table(rows[-1:]).splitlines()[-1], flush=True)
    save(args.json, machine=machine, quick=args.quick, rows=_merged(args.json, rows, args.only))


if __name__ == "__main__":
    main()
