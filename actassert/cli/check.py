"""``actassert check NAME``: the battery from the command line, with the messages of the tests."""

from __future__ import annotations

import argparse
from pathlib import Path

from actassert.battery.names import CHECKS

__all__ = ["add_check_parser", "run_check_command"]


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 1 (a share)")
    return value


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
    check.add_argument("--golden-dir", type=Path, default=Path("actassert-goldens"),
                       help="where golden statistics live (default: actassert-goldens)")
    check.add_argument("--force-regen", action="store_true", help="rewrite the goldens")
    check.add_argument("--max-dead", type=_share, default=0.5,
                       help="largest share of dead kernels per layer (default: 0.5)")
    check.add_argument("--min-colour", type=_share, default=None,
                       help="assert some layer has this share of colour-selective kernels")
    check.add_argument("--size-grows", action="store_true",
                       help="assert the preferred size grows with depth")
    return check


def run_check_command(args: argparse.Namespace) -> int:
    """Run the checks; print ``PASS``/``FAIL`` per check with its lines or message."""
    from actassert.battery.checks import Options, run_check, subject

    options = Options(golden_dir=args.golden_dir, force_regen=args.force_regen,
                      max_dead=args.max_dead, min_colour=args.min_colour,
                      size_grows=args.size_grows)
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
