"""The README's benchmark table: recording costs, as ratios of paired, interleaved runs.

Usage: .venv/bin/python scripts/bench_table.py [--quick] [--threads N]
(``bash scripts/bench.sh`` runs it after the pytest benchmarks.)

Every method runs in alternation with the plain forward of the same network on the same batch
(A B A B ..., the order flipped every round), and the median of the per-round ratios is printed
with its quartiles, so drift on a busy machine cancels. Peers are measured when installed
(``pip install -e '.[bench]'``): torchvision's ``create_feature_extractor``, Captum's
``LayerActivation`` and TorchLens' ``trace``. Random initialisation: timings do not depend on the
weights.
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import actassert as aa
from actassert._support.paired import PairedRatio, paired_ratio
from actassert.tutorial import default_layers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tests_support.bench_report import machine_description, peers_table, save

Method = Callable[[], Any]
MODELS = ("resnet18", "resnet50", "mobilenet_v2")


def _paired(plain: Method, method: Method, rounds: int) -> PairedRatio:
    """Median ratio to the plain forward, with quartiles (see actassert._support.paired)."""
    return paired_ratio(plain, method, rounds=rounds)


def _node(nodes: list[str], module: str) -> str:
    """The FX graph node giving ``module``'s output. A traced-through module is named by its last
    node (ReLU6 becomes hardtanh); a module inside one FX keeps as a leaf (torchvision keeps
    ``Conv2dNormActivation`` whole) is its parent's node, whose output it is when it is the
    parent's last step, as the layers compared here are."""
    inside = [n for n in nodes if n == module or n.startswith(module + ".")]
    if inside:
        return inside[-1]
    parts = module.split(".")
    for end in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:end]) in nodes:
            return ".".join(parts[:end])
    raise LookupError(f"no FX node gives {module!r}'s output")


def _methods(net: Any, x: torch.Tensor, four: list[str]) -> dict[str, Method]:
    """Each way of getting the activations of ``four`` layers (and of every leaf)."""
    module = net.module
    leaves = aa.list_layers(net, leaves_only=True)
    x_norm = net.preprocess(x)

    def recorded(layers: list[str]) -> Method:
        def run() -> Any:
            with aa.record(net, layers, register=False, keep_inputs=False) as acts:
                net(x)
            return acts
        return run

    methods: dict[str, Method] = {"record 4 layers": recorded(four),
                                  "record every leaf": recorded(leaves)}
    modules = [name.split("#")[0] for name in four]
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    try:
        nodes = get_graph_node_names(module)[1]  # eval graph
        extractor = create_feature_extractor(module, return_nodes=[_node(nodes, m)
                                                                   for m in modules]).eval()
        methods["torchvision create_feature_extractor"] = lambda: extractor(x_norm)
    except Exception as exc:  # FX cannot trace every model
        print(f"  (create_feature_extractor: {type(exc).__name__}: {exc})")
    try:
        from captum.attr import LayerActivation

        named = dict(module.named_modules())
        captum = LayerActivation(module, [named[m] for m in modules])
        methods["Captum LayerActivation"] = lambda: captum.attribute(x_norm)
    except ImportError:
        pass
    try:
        import torchlens as tl
        from torchlens.options import CaptureOptions

        options = CaptureOptions(unwrap_when_done=True)  # leave torch as it was for the rest
        # TorchLens selects by predicate: the ops inside the four modules (a superset of their
        # outputs, the closest it offers).
        chosen = functools.reduce(operator.or_, [tl.in_module(m) for m in modules])
        methods["TorchLens trace"] = lambda: tl.trace(module, x_norm, save=chosen,
                                                      capture=options)
    except ImportError:
        pass
    return methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 8 only, 5 rounds")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                        help="measure only these; with --json, the other models' rows already "
                             "in the file are kept")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = machine_description(args.threads)
    print(f"machine: {machine}")
    print("| model | batch | plain forward | method | ratio to plain (median, quartiles) |")
    print("| --- | --- | --- | --- | --- |")
    batches = (8,) if args.quick else (1, 8, 32)
    rows: list[dict[str, Any]] = []
    for name in args.models:
        net = aa.load_model(name, weights=None, device="cpu")
        four = default_layers(net, 4)
        for batch in batches:
            x = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))

            def plain(x: torch.Tensor = x, net: Any = net) -> Any:
                with torch.no_grad():
                    return net(x)

            for _ in range(3):  # the allocator settles on this batch size before any timing
                plain()
            rounds = 5 if args.quick else (15 if batch == 1 else 9 if batch == 8 else 5)
            for label, method in _methods(net, x, four).items():
                with torch.no_grad():
                    r = _paired(plain, method, rounds)
                rows.append({"model": name, "batch": batch, "method": label,
                             "plain_ms": round(r.a_seconds * 1e3, 1), "ratio": round(r.ratio, 2),
                             "quartiles": [round(r.low, 2), round(r.high, 2)],
                             "rounds": r.rounds})
                print(f"| {name} | {batch} | {r.a_seconds * 1e3:.0f} ms | {label} | "
                      f"{r.ratio:.2f}x ({r.low:.2f}-{r.high:.2f}) |", flush=True)
    if args.json and args.json.exists() and set(args.models) != set(MODELS):
        kept = [r for r in json.loads(args.json.read_text())["rows"] if r["model"] not in args.models]
        rows = sorted(kept + rows, key=lambda r: (MODELS.index(r["model"]), r["batch"]))
    print("\nRatios to the plain forward (medians):\n" + peers_table(rows))
    save(args.json, machine=machine, quick=args.quick, rows=rows)


if __name__ == "__main__":
    main()
