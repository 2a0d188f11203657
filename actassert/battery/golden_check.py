"""The battery's golden check: statistics of the default layers on the fixed stimuli, kept in a
folder named by ``--actassert-golden-dir``; a first run writes them and passes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from actassert.battery.shared import StimuliPass, stimuli_pass_of
from actassert.errors import GoldenError
from actassert.golden.compare import compare_goldens
from actassert.golden.files import read_golden, write_golden
from actassert.golden.message import failure_message
from actassert.golden.stats import Golden, metadata

if TYPE_CHECKING:
    from pathlib import Path

    from actassert.battery.subject import Subject

__all__ = ["check_golden", "golden_path"]


def golden_path(target: Subject) -> Path:
    """``<golden dir>/<model spec, file-safe>.npz``."""
    name = re.sub(r"[^A-Za-z0-9._=+-]+", "-", target.spec).strip("-.") or "model"
    return target.options.golden_dir / f"{name}.npz"


def _obtained(run: StimuliPass) -> Golden:
    """The golden of the stimuli pass: the statistics its hooks computed, and the metadata
    ``collect`` would give (no maps: the battery draws no figure from them)."""
    if not run.stats or run.probe is None:
        raise GoldenError("nothing to check: the default layers recorded nothing")
    golden = Golden(layers=list(run.stats), stats=dict(run.stats))
    golden.meta = metadata(run.acts, {golden.layers[0]: run.probe})
    golden.meta["positions"] = dict(run.positions)
    return golden


def check_golden(target: Subject) -> list[str]:
    """Compare the default layers' per-kernel statistics with the stored golden.

    Unlike a hand-written regression test, the battery has no test file to edit, so a missing
    golden is written and the check passes, saying so (the next run compares against it);
    ``--force-regen`` rewrites it.
    """
    __tracebackhide__ = True
    obtained = _obtained(stimuli_pass_of(target, "golden"))
    path = golden_path(target)
    if target.options.force_regen or not path.is_file():
        write_golden(obtained, path)
        why = "rewritten (--force-regen)" if path.is_file() and target.options.force_regen \
            else "created"
        return [f"golden {why}: {path} ({len(obtained.layers)} layers, "
                f"{len(target.images)} stimuli); the next run compares against it"]
    comparison = compare_goldens(read_golden(path), obtained)
    if comparison.first_changed is not None:
        beside = path.with_name(path.stem + ".obtained.npz")
        write_golden(obtained, beside)
        raise AssertionError(failure_message(comparison, path, beside))
    return [f"{len(obtained.layers)} layers within tolerance of {path} "
            f"({comparison.tolerance_note})"]
