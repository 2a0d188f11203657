"""The failure message of an activation regression check, in actassert's fixed layout."""

from __future__ import annotations

from pathlib import Path

from actassert.golden.compare import Comparison, KernelDiff, LayerDiff

__all__ = ["failure_message", "table"]

MAX_LAYERS = 8
"""At most this many changed layers are listed."""


def _row(cells: list[str]) -> str:
    widths = (28, 7, 13, 12, 12, 10, 10)
    return "  " + " ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)).rstrip()


def _cells(d: KernelDiff) -> list[str]:
    return [d.layer, f"K={d.kernel:03d}", d.statistic, f"{d.expected:.6g}", f"{d.obtained:.6g}",
            f"{d.abs_diff:.3g}", f"{d.rel_diff:.3g}"]


def table(rows: list[KernelDiff]) -> list[str]:
    """Aligned lines: layer, kernel, statistic, expected, obtained, abs diff, rel diff."""
    head = _row(["layer", "kernel", "statistic", "expected", "obtained", "abs diff", "rel diff"])
    return [head, *(_row(_cells(d)) for d in rows)]


def _verdict(first: LayerDiff) -> str:
    if first.status != "changed":
        return f"{first.layer!r} is {first.status}: {first.detail}"
    d = first.worst[0]
    return (f"{first.layer!r} is the first layer beyond it: K={d.kernel:03d} {d.statistic} "
            f"{d.expected:.6g} -> {d.obtained:.6g} (rel diff {d.rel_diff:.3g}, "
            f"{d.ratio:.3g}x the tolerance {first.tolerance})")


def failure_message(comparison: Comparison, golden: Path, obtained: Path) -> str:
    """The message: what was checked, Expected, Obtained, tables, metadata, files, Fix."""
    failures = comparison.failures
    first = failures[0]
    total = len(comparison.layers)
    lines = [f"activation regression check failed: {len(failures)} of {total} layers changed; "
             f"first changed layer (forward order): {first.layer!r}",
             f"Expected: every layer within tolerance of the golden {golden}",
             f"Obtained: {_verdict(first)}",
             f"Changed layers in forward order ({len(failures)}; each with its worst kernel):"]
    shown = failures[:MAX_LAYERS]
    lines += table([f.worst[0] for f in shown if f.worst])
    lines += [f"  {f.layer}: {f.status} ({f.detail})" for f in shown if not f.worst]
    if len(failures) > MAX_LAYERS:
        lines.append(f"  (+{len(failures) - MAX_LAYERS} more changed layers)")
    if first.worst:
        lines.append(f"Worst kernels of {first.layer!r}:")
        lines += table([d for d in first.worst if d.ratio > 1][:5])
    lines += [f"Metadata: {m}" for m in comparison.metadata] or ["Metadata: same as the golden's"]
    lines.append(f"Tolerance: {comparison.tolerance_note}")
    lines.append(f"Obtained file: {obtained}")
    lines.append(f"Fix: if the change is intended, rerun with --force-regen to rewrite {golden} "
                 f"(--regen-all rewrites every golden); else start looking at {first.layer!r}: "
                 "every layer before it is unchanged.")
    return "\n".join(lines)
