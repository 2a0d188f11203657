"""The ``actassert`` command line: its arguments, and running a command with one-line notes.

Lists a model's layers, records activations, runs the tutorial's experiments, diffs two
checkpoints, runs the battery (``check``). This module holds every subcommand's arguments and
only parses: it imports :mod:`actassert.cli.commands` (and torch with it) once a command runs,
so ``actassert --help`` and usage errors answer without loading torch.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from actassert.battery.names import CHECKS
from actassert.errors import ActAssertError, WeightsUnavailableError
from actassert.models.names import DEFAULT_MODEL, parse_weights
from actassert.settings import BATTERY_OPTIONS, BatteryOptions

__all__ = ["main", "build_parser", "add_check_parser", "DEFAULT_MODEL"]

def _control(text: str) -> int | None:
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 'none' or a whole-number seed such "
                                         "as 0") from None


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
                             "timm:NAME (the timm extra), hf:NAME (the hf extra) or module.path:factory (a "
                             f"zero-argument function returning the model). Default: {DEFAULT_MODEL}")
    default = "DEFAULT" if weights else "none: layer shapes do not depend on the weights"
    parser.add_argument("--weights", type=parse_weights, default=weights,
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
    tut.add_argument("--control", type=_control, default=0, metavar="SEED|none",
                     help="also study an untrained twin (same architecture, random init seeded "
                          "with SEED) on the same stimuli and layers; none skips it (default: 0)")
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
    diff.add_argument("--weights", type=parse_weights, action="append", default=None,
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


def _argument_type(parse: Any) -> Any:
    """argparse prints the message of an ``ArgumentTypeError``, not of a ``ValueError``."""
    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return checked


def add_check_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``check`` subcommand to ``commands``."""
    check = commands.add_parser(
        "check", help="run the battery of checks on a model; exit code 1 on any failure")
    check.add_argument("model", help="NAME or NAME@WEIGHTS: torchvision names, timm:NAME, hf:NAME, "
                       "package.module:factory; @none for random init")
    check.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    check.add_argument("--offline", action="store_true", help="never download weights")
    check.add_argument("--checks", nargs="+", choices=CHECKS, default=list(CHECKS),
                       help="which checks (default: all)")
    check.add_argument("--force-regen", action="store_true", help="rewrite the goldens")
    defaults = BatteryOptions()
    for option in BATTERY_OPTIONS:  # defined once, with the plugin's --actassert-* options
        flag, kwargs = option.arguments("--")
        if option.parse is not None:
            kwargs.update(type=_argument_type(option.parse), default=getattr(defaults, option.field))
        check.add_argument(flag, dest=option.field, **kwargs)
    return check


def _show_note(message: Warning | str, category: type[Warning], filename: str, lineno: int,
               file: TextIO | None = None, line: str | None = None) -> None:
    """Print a warning as one line, ``note: MESSAGE``: the commands' ``warnings.showwarning``.

    Takes the arguments of :func:`warnings.showwarning`; the warning's file and line, useful in
    a traceback, are left out on the command line.
    """
    with contextlib.suppress(OSError):  # stderr closed: not worth failing the command for
        print(f"note: {message}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``actassert`` command; returns the exit status.

    Warnings raised by the command print as one-line notes. ``warnings.catch_warnings`` puts
    ``warnings.showwarning`` and the filters back on the way out, so a longer process calling
    ``main`` (a test) keeps its own.

    Example:
        >>> main(["layers", "resnet18", "--weights", "none"])  # doctest: +SKIP
        0
    """
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_note
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from actassert.cli.commands import COMMANDS  # torch loads here, once a command runs

    try:
        return COMMANDS[args.command](args)
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
