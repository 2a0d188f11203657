"""The ``actassert`` command: list a model's layers, record activations, run the tutorial's experiments, diff two checkpoints."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actassert.cli_check import add_check_parser, run_check_command
from actassert.errors import ActAssertError, NeverRanWarning, WeightsUnavailableError

__all__ = ["main", "build_parser"]

DEFAULT_MODEL = "mobilenet_v2"


def _weights(text: str) -> str | None:
    return None if text.lower() in {"none", "random"} else text


def _side(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of pixels") from None
    if value < 8:
        raise argparse.ArgumentTypeError(f"{value} px is too small; use at least 8")
    return value


def _common(parser: argparse.ArgumentParser, *, weights: str | None = "DEFAULT") -> None:
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL,
                        help="a model: a torchvision name (resnet50, torchvision:resnet50), "
                             "timm:NAME (the timm extra) or module.path:factory (a "
                             f"zero-argument function returning the model). Default: {DEFAULT_MODEL}")
    default = "DEFAULT" if weights else "none: layer shapes do not depend on the weights"
    parser.add_argument("--weights", type=_weights, default=weights,
                        help="DEFAULT, a weights name such as IMAGENET1K_V1 (timm: a "
                             "pretrained tag such as fb_in1k), or none (random init). "
                             f"Default: {default}")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--offline", action="store_true", help="never download weights")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``actassert`` command."""
    parser = argparse.ArgumentParser(
        prog="actassert", description="Look inside PyTorch vision networks: layers, activations.")
    commands = parser.add_subparsers(dest="command", required=True)
    layers = commands.add_parser("layers", help="print every recordable layer with its output shape")
    _common(layers, weights=None)
    layers.add_argument("--size", type=_side, default=None, help="input side (default: the model's)")
    layers.add_argument("--leaves", action="store_true", help="only modules without children")
    rec = commands.add_parser("record", help="record layers for images and save them as .npz")
    _common(rec)
    rec.add_argument("--layers", nargs="+", required=True,
                     help="layer names or globs, e.g. features.1 'features.*.conv.0' classifier")
    rec.add_argument("--images", nargs="+", default=None,
                     help="image files or http(s) URLs (default: 12 hue discs drawn offline)")
    rec.add_argument("--out", type=Path, default=Path("actassert-results"),
                     help="output folder (default: actassert-results)")
    rec.add_argument("--size", type=_side, default=None, help="image side (default: the model's)")
    add_check_parser(commands)
    tut = commands.add_parser(
        "tutorial", help="the colour, size and orientation experiments across depth, as a report")
    _common(tut)
    tut.add_argument("--layers", nargs="+", default=None,
                     help="layers to study (default: 8 activation layers spread over the depth)")
    tut.add_argument("--hues", type=int, default=24, help="hues on the circle (default: 24)")
    tut.add_argument("--size", type=_side, default=None, help="image side (default: the model's)")
    tut.add_argument("--out", type=Path, default=Path("actassert-tutorial"),
                     help="output folder (default: actassert-tutorial)")
    _diff_parser(commands)
    return parser


def _diff_parser(commands: Any) -> None:
    diff = commands.add_parser(
        "diff", help="where two checkpoints (or two `record` .npz files) differ, layer by layer",
        description="Record the same layers of two checkpoints of one architecture on the same "
        "stimuli (two --weights, or --weights and --state-dict), or read two .npz files written "
        "by `actassert record`; print per layer the relative L2 change, the lowest kernel "
        "correlation and the first layer beyond tolerance. Exit status 1 when any layer is "
        "beyond tolerance.")
    diff.add_argument("inputs", nargs="*", metavar="MODEL_OR_NPZ",
                      help=f"a model name (default: {DEFAULT_MODEL}), or two .npz files")
    diff.add_argument("--weights", type=_weights, action="append", default=None,
                      help="a checkpoint: DEFAULT, a weights name or none; give it twice, or "
                           "once with --state-dict")
    diff.add_argument("--state-dict", type=Path, default=None,
                      help="a state-dict file (torch.save) loaded into a copy of the first")
    diff.add_argument("--layers", nargs="+", default=None,
                      help="layer names or globs (default: every leaf layer)")
    diff.add_argument("--images", nargs="+", default=None,
                      help="image files or URLs (default: 12 hue discs drawn offline)")
    diff.add_argument("--size", type=_side, default=None, help="image side (default: the model's)")
    diff.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    diff.add_argument("--offline", action="store_true", help="never download weights")
    diff.add_argument("--rtol", type=float, default=None,
                      help="relative tolerance (default: per device and dtype, as the fixture)")
    diff.add_argument("--atol", type=float, default=None, help="absolute tolerance")


def _load(args: argparse.Namespace) -> Any:
    from actassert.models import load_model

    return load_model(args.model, weights=args.weights, device=args.device,
                      download=False if args.offline else None)


def _layers(args: argparse.Namespace) -> int:
    import torch

    from actassert.layers import list_layers
    from actassert.recording import record

    net = _load(args)
    size = args.size or net.input_size
    names = list_layers(net, leaves_only=args.leaves)
    modules = dict(net.module.named_modules())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeverRanWarning)  # listed below, module by module
        with record(net, names, register=False, keep_inputs=False, skip_non_tensors=True) as acts:
            net(torch.full((1, 3, size, size), 0.5))
    shapes = acts.shapes()
    width = max(len(k) for k in shapes) if shapes else 10
    print(f"{net.name} ({net.weights or 'random init'}), input [1, 3, {size}, {size}]:")
    for key, shape in shapes.items():
        kind = type(modules[key.split("#")[0]]).__name__
        print(f"  {key:<{width}}  {kind:<22} {list(shape)}")
    for key, output in acts.skipped.items():
        print(f"  {key:<{width}}  {type(modules[key]).__name__:<22} returns a {output}, not a "
              "tensor: record one of its submodules")
    for key in acts.never_ran():
        print(f"  {key:<{width}}  {type(modules[key]).__name__:<22} not called as a module by "
              "the forward: nothing to record")
    return 0


def _record(args: argparse.Namespace) -> int:
    import numpy as np

    from actassert import stimuli
    from actassert.layers import resolve_layers
    from actassert.recording import record

    _check_out(args.out)
    net = _load(args)
    resolve_layers(net, args.layers)  # a misspelt layer fails before any image is read
    size = args.size or net.input_size
    if args.images:
        shown = stimuli.load_images(args.images, size=size)
    else:
        shown = stimuli.hue_disc(range(0, 360, 30), size=size, radius=0.2)
        print(f"no --images given: showing {len(shown)} hue discs (hue 0..330) on grey")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeverRanWarning)  # reported as an error just below
        with record(net, args.layers, register=False) as acts:
            net(shown.images)
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
    from actassert.settings import unwritable_reason

    problem = unwritable_reason(out.expanduser().absolute())
    if problem:
        raise ValueError(f"--out {out}: {problem}; choose a writable folder")


def _tutorial(args: argparse.Namespace) -> int:
    from actassert.layers import resolve_layers
    from actassert.tutorial import Design, Progress, run_tutorial

    if args.hues < 3:
        raise ValueError(f"--hues {args.hues}: at least 3 hues are needed for a tuning curve")
    _check_out(args.out)
    progress = Progress()
    progress(f"loading {args.model}")
    net = _load(args)
    layers = [str(r) for r in resolve_layers(net, args.layers)] if args.layers else None
    design = Design(side=args.size or net.input_size, hues=args.hues)
    report = run_tutorial(net, args.out, layers=layers, design=design, progress=progress)
    print(f"{net.name} ({net.weights or 'random init'}) on {net.device}: colour, size and "
          "orientation across depth")
    for line in report.lines():
        print(line)
    print(f"summary.json and the report: {report.page}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from actassert import diff, stimuli
    from actassert.layers import list_layers

    tolerance = None if args.rtol is None and args.atol is None else \
        {"rtol": args.rtol or 0.0, "atol": args.atol or 0.0}
    npz = [Path(i) for i in args.inputs if i.endswith(".npz")]
    if npz:
        if len(npz) != 2 or len(args.inputs) != 2 or args.weights or args.state_dict:
            raise ValueError("give two .npz files written by `actassert record` (and no model, "
                             "--weights or --state-dict), or one model with two checkpoints")
        first, second = diff.read_record_npz(npz[0]), diff.read_record_npz(npz[1])
        labels = f"{npz[0]} vs {npz[1]}"
    else:
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
            net_b = diff.load_state_dict_network(net_a, args.state_dict)
        else:
            args.weights = weights[1]
            net_b = _load(args)
        layers = args.layers or list_layers(net_a, leaves_only=True)
        size = args.size or net_a.input_size
        shown = stimuli.load_images(args.images, size=size) if args.images else \
            stimuli.hue_disc(range(0, 360, 30), size=size, radius=0.2)
        first = diff.record_layers(net_a, layers, shown.images)
        second = diff.record_layers(net_b, layers, shown.images)
        labels = (f"{net_a.name}: {net_a.weights or 'random init'} vs "
                  f"{net_b.weights or 'random init'} on {len(shown)} images")
    changes, comparison = diff.diff_activations(first, second, default_tolerance=tolerance)
    print(labels)
    for line in diff.report_lines(changes, comparison):
        print(line)
    return 1 if any(c.beyond for c in changes) else 0


def _note(message: Any, category: Any, *args: Any, **kwargs: Any) -> str:
    return f"note: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``actassert`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    plain, warnings.formatwarning = warnings.formatwarning, _note  # one line per warning
    try:
        return _run(args)
    finally:
        warnings.formatwarning = plain  # main() may run inside a longer process (tests)


def _run(args: argparse.Namespace) -> int:
    try:
        commands = {"layers": _layers, "record": _record, "tutorial": _tutorial,
                    "check": run_check_command, "diff": _diff}
        return commands[args.command](args)
    except WeightsUnavailableError as exc:
        print(f"actassert {args.command}: error: {exc}\nOn the command line: --weights none "
              "gives a random initialisation.", file=sys.stderr)
        return 2
    except (ActAssertError, ValueError) as exc:
        print(f"actassert {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `actassert layers resnet50 | head`
        return 0
    except OSError as exc:  # a write failing half-way (disk full, permissions changed)
        print(f"actassert {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
