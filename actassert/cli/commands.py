"""The ``actassert`` commands' work: ``layers``, ``record``, ``check``, ``tutorial`` and ``diff``.

``actassert.cli`` parses the arguments and imports this module (and torch with it) only to run
a command, so ``actassert --help`` and usage errors answer without loading torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actassert import stimuli
from actassert._support.progress import Progress
from actassert.battery.checks import run_check
from actassert.battery.subject import subject
from actassert.golden import checkpoint_diff
from actassert.layers import list_layers, resolve_layers
from actassert.models.loading import load_model
from actassert.models.names import DEFAULT_MODEL, parse_model_name
from actassert.models.network import Network
from actassert.probe import probe
from actassert.settings import BATTERY_OPTIONS, BatteryOptions, unwritable_reason
from actassert.tutorial import Design, run_tutorial

__all__ = ["COMMANDS", "diff_command", "layers_command", "record_command", "run_check_command",
           "tutorial_command"]


def _load(args: argparse.Namespace) -> Network:
    """The model of ``args.model`` with ``--weights``, ``--device`` and ``--offline``."""
    return load_model(args.model, weights=args.weights, device=args.device,
                      download=False if args.offline else None)


def layers_command(args: argparse.Namespace) -> int:
    """``actassert layers``: every recordable layer, its module type and output shape."""
    net = _load(args)
    size = args.size or net.input_size
    names = list_layers(net, leaves_only=args.leaves)
    modules = dict(net.module.named_modules())
    acts, _ = probe(net, names, torch.full((1, 3, size, size), 0.5), skip_non_tensors=True)
    shapes = acts.shapes()
    width = max(len(k) for k in shapes) if shapes else 10
    print(f"{net.name} ({net.weights or 'random init'}), input [1, 3, {size}, {size}]:")
    for key, shape in shapes.items():
        kind = type(modules[acts.module_of(key)]).__name__
        print(f"  {key:<{width}}  {kind:<22} {list(shape)}")
    for key, output in acts.skipped.items():
        print(f"  {key:<{width}}  {type(modules[key]).__name__:<22} returns a {output}, not a "
              "tensor or container of tensors: record one of its submodules")
    for key in acts.never_ran():
        print(f"  {key:<{width}}  {type(modules[key]).__name__:<22} not called as a module by "
              "the forward: nothing to record")
    return 0


def record_command(args: argparse.Namespace) -> int:
    """``actassert record``: record layers for images (or hue discs) into a ``.npz`` file."""
    _check_out(args.out)
    net = _load(args)
    resolve_layers(net, args.layers)  # a misspelt layer fails before any image is read
    size = args.size or net.input_size
    if args.images:
        shown = stimuli.load_images(args.images, size=size)
    else:
        shown = stimuli.hue_disc(range(0, 360, 30), size=size, radius=0.2)
        print(f"no --images given: showing {len(shown)} hue discs (hue 0..330) on grey")
    acts, _ = probe(net, args.layers, shown.images)  # a layer that never ran: an error just below
    if acts.never_ran():
        raise ValueError(acts.never_ran_message())
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{net.name.replace(':', '-')}-activations.npz"  # timm:x, pkg.mod:f
    arrays: dict[str, Any] = dict(acts.numpy())
    arrays.update({f"_stimulus.{k}": v.cpu().numpy() for k, v in shown.params.items()})
    np.savez(target, **arrays)  # numeric arrays only: numpy.load(allow_pickle=False) reads it
    print(f"{net.name} ({net.weights or 'random init'}) on {len(shown)} images:")
    for key, shape in acts.shapes().items():
        print(f"  {key}: {list(shape)}")
    print(f"saved {target} (numpy.load(path) reads it; no pickle)")
    return 0


def _check_out(out: Path) -> None:
    """Stop before any work when the output folder cannot be created or written."""
    problem = unwritable_reason(out.expanduser().absolute())
    if problem:
        raise ValueError(f"--out {out}: {problem}; choose a writable folder")


def tutorial_command(args: argparse.Namespace) -> int:
    """``actassert tutorial``: the colour, size and orientation experiments, as a report."""
    if args.hues < 3:
        raise ValueError(f"--hues {args.hues}: at least 3 hues are needed for a tuning curve")
    _check_out(args.out)
    progress = Progress()
    progress(f"loading {args.model}")
    net = _load(args)
    layers = [str(r) for r in resolve_layers(net, args.layers)] if args.layers else None
    design = Design(side=args.size or net.input_size, hues=args.hues)
    twin, note = _twin(args, net, progress)
    report = run_tutorial(net, args.out, layers=layers, design=design, progress=progress,
                          control=twin, control_seed=args.control, control_note=note)
    print(f"{net.name} ({net.weights or 'random init'}) on {net.device}: colour, size and "
          "orientation across depth")
    for line in report.lines():
        print(line)
    print(f"summary.json and the report: {report.page}")
    return 0


def _twin(args: argparse.Namespace, net: Network, progress: Progress) -> tuple[Network | None,
                                                                               str | None]:
    """The untrained twin of ``--control SEED``, or None and why it is not run."""
    if args.control is None:
        return None, "--control none skips the untrained twin"
    if parse_model_name(args.model).source == "factory":
        return None, ("the model comes from a factory, which has no random-initialisation "
                      "path, so the untrained control was not run")
    if net.weights is None:
        return None, ("the network studied is itself randomly initialised (--weights none), "
                      "so there is no trained network to control")
    progress(f"loading the untrained twin of {args.model} (random init, seed {args.control})")
    return load_model(args.model, weights=None, device=args.device, seed=args.control,
                      download=False), None


def run_check_command(args: argparse.Namespace) -> int:
    """Run the checks; print ``PASS``/``FAIL`` per check with its lines or message."""
    options = BatteryOptions(force_regen=args.force_regen,
                             **{o.field: getattr(args, o.field) for o in BATTERY_OPTIONS})
    target = subject(args.model, options, device=args.device,
                     download=False if args.offline else None)
    target.pending = set(args.checks)  # the runs checks share are dropped after their last user
    failed = []
    for name in args.checks:
        try:
            lines = run_check(name, target)
        except AssertionError as exc:
            failed.append(name)
            print(f"FAIL {args.model}::{name}\n{exc}\n")
            continue
        print(f"PASS {args.model}::{name}: " + "; ".join(lines))
    print(f"{len(args.checks) - len(failed)} passed, {len(failed)} failed"
          + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def diff_command(args: argparse.Namespace) -> int:
    """``actassert diff``: where two checkpoints (or two ``.npz`` files) differ, layer by layer.

    Returns:
        1 when a layer is beyond tolerance, else 0.
    """
    tolerance = None if args.rtol is None and args.atol is None else \
        {"rtol": args.rtol or 0.0, "atol": args.atol or 0.0}
    npz = [Path(i) for i in args.inputs if i.endswith(".npz")]
    first, second, labels = _npz_pair(args, npz) if npz else _checkpoint_pair(args)
    changes, comparison = checkpoint_diff.diff_activations(first, second,
                                                           default_tolerance=tolerance)
    print(labels)
    for line in checkpoint_diff.report_lines(changes, comparison):
        print(line)
    return 1 if any(c.beyond for c in changes) else 0


def _npz_pair(args: argparse.Namespace, npz: list[Path]
              ) -> tuple[Mapping[str, Any], Mapping[str, Any], str]:
    """The two recordings of ``actassert diff A.npz B.npz`` and their label."""
    if len(npz) != 2 or len(args.inputs) != 2 or args.weights or args.state_dict:
        raise ValueError("give two .npz files written by `actassert record` (and no model, "
                         "--weights or --state-dict), or one model with two checkpoints")
    first, second = (checkpoint_diff.read_record_npz(path) for path in npz[:2])
    return first, second, f"{npz[0]} vs {npz[1]}"


def _checkpoint_pair(args: argparse.Namespace) -> tuple[Mapping[str, Any], Mapping[str, Any], str]:
    """The same layers of two checkpoints of one model, recorded on the same stimuli."""
    if len(args.inputs) > 1:
        raise ValueError(f"one model name, or two .npz files; got {' '.join(args.inputs)}")
    weights = args.weights or ["DEFAULT"]
    if len(weights) + (args.state_dict is not None) != 2:
        raise ValueError("give two checkpoints: --weights A --weights B, or --weights A "
                         "--state-dict FILE (A defaults to DEFAULT)")
    args.model = args.inputs[0] if args.inputs else DEFAULT_MODEL
    args.weights = weights[0]
    net_a = _load(args)
    if args.state_dict is not None:
        net_b = checkpoint_diff.load_state_dict_network(net_a, args.state_dict)
    else:
        args.weights = weights[1]
        net_b = _load(args)
    layers = args.layers or list_layers(net_a, leaves_only=True)
    size = args.size or net_a.input_size
    shown = stimuli.load_images(args.images, size=size) if args.images else \
        stimuli.hue_disc(range(0, 360, 30), size=size, radius=0.2)
    labels = (f"{net_a.name}: {net_a.weights or 'random init'} vs "
              f"{net_b.weights or 'random init'} on {len(shown)} images")
    return (checkpoint_diff.record_layers(net_a, layers, shown.images),
            checkpoint_diff.record_layers(net_b, layers, shown.images), labels)

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "layers": layers_command, "record": record_command, "tutorial": tutorial_command,
    "check": run_check_command, "diff": diff_command}
"""The function running each subcommand; it returns the exit status."""
