"""Where the time of a sweep goes: cProfile of a first sweep, grouped into the parts that matter.

Usage: .venv/bin/python scripts/bench_profile.py [--json FILE]
(``bash scripts/bench.sh`` runs it with the other benchmarks.)

The sweep is issue 12's: ResNet-50 (random weights), 48 hue discs of 224 px, ``maxpool`` and
``layer2`` reduced to foreground means, batch 16, on a network that has not been swept before, so
its one-image probe forward is included (timed on its own). Shares are of the profiled sweep's total time; the
profiler's own cost inflates many small calls more than a few large ones, so read them as a
breakdown, not as timings.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import actassert as aa
from actassert.stimuli import hue_disc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tests_support.bench_report import machine_description, profile_table, save

#: part of the sweep -> (file suffix or "~" for built-ins, function names); self time is summed
#: for torch's kernels, time including callees for actassert's own steps.
PARTS = {
    "convolutions": ("~", ("<built-in method torch.conv2d>",)),
    "batch norm": ("~", ("<built-in method torch.batch_norm>",)),
    "ReLU": ("~", ("<built-in method torch.relu_>", "<built-in method torch.relu>")),
    "max pool": ("~", ("<built-in method torch.max_pool2d>",)),
    "foreground reduction": ("measures.py", ("__call__",)),
    "preprocessing": ("models/loading.py", ("preprocess",)),
    "returning freed memory to the system": ("_support/memory.py", ("release_freed_memory",)),
}


def _shares(stats: pstats.Stats, total: float) -> dict[str, float]:
    found = dict.fromkeys(PARTS, 0.0)
    for (filename, _, function), (_, _, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        for part, (where, names) in PARTS.items():
            if function in names and (filename == where if where == "~"
                                      else filename.endswith(where)):
                found[part] += tottime if where == "~" else cumtime
    return {part: seconds / total for part, seconds in found.items()}


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the shares to this file")
    args = parser.parse_args()
    torch.manual_seed(0)
    net = aa.load_model("resnet50", weights=None, device="cpu")
    discs = hue_disc(torch.arange(48) * 7.5, size=224)

    def swept() -> None:
        aa.sweep(net, discs, ["maxpool", "layer2"], reduce="foreground", batch_size=16,
                 progress=False)

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(swept)  # the network's first sweep: with its probe forward
    total = time.perf_counter() - start
    shares = _shares(pstats.Stats(profiler), total)
    # The probe: one image through the whole network, once per network (later sweeps recall
    # where to stop); timed on its own, as a share of the profiled sweep.
    with torch.no_grad():
        probe = min(_seconds(lambda: net(discs.images[:1])) for _ in range(5))
    shares["one-image probe forward (first sweep of a network only)"] = probe / total
    shares["everything else (Python, hooks, tensor bookkeeping)"] = 1 - sum(shares.values())
    machine = machine_description(torch.get_num_threads())
    print(f"machine: {machine}\n{profile_table(shares)}")
    save(args.json, machine=machine, shares=shares)


if __name__ == "__main__":
    main()
