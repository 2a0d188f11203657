"""How the benchmark scripts describe the machine and lay out their tables.

``scripts/bench_targets.py`` and ``scripts/bench_table.py`` print these tables and save their rows
as JSON under ``scripts/bench_results/``; ``tests/test_readme.py`` renders the saved rows again and
checks that the README quotes exactly that, so every timing in the README comes from a run of
the command the README names.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "scripts" / "bench_results"
METHODS = ("record 4 layers", "record every leaf", "torchvision create_feature_extractor",
           "Captum LayerActivation", "TorchLens trace")


def machine_description(threads: int, device: str = "CPU") -> str:
    """One line: CPU model, cores, threads used, torch version and device."""
    import torch

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"{model}, {os.cpu_count()} cores, {threads} threads, torch {torch.__version__}, "
            f"{device}")


def save(path: Path | None, **content: Any) -> None:
    """Write a benchmark's rows (and how they were made) as JSON, if a path was given."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def targets_table(rows: list[dict[str, Any]]) -> str:
    """The targets as a Markdown table: median, 95% CI of the median, quartiles, rounds."""
    lines = ["| measure | target | median | 95% CI of the median | quartiles | rounds | met |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        (lo, hi), (q1, q3) = row["ci"], row["quartiles"]
        lines.append(f"| {row['measure']} | {row['target']} | {row['ratio']:.3f} | "
                     f"{lo:.3f}-{hi:.3f} | {q1:.3f}-{q3:.3f} | {row['rounds']} | "
                     f"{'yes' if row['met'] else '**no**'} |")
    return "\n".join(lines)


def peers_table(rows: list[dict[str, Any]]) -> str:
    """Recording costs as a Markdown table: one line per model and batch, one column per method
    (median ratio to the plain forward of the same batch, and the quartiles of single rounds)."""
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    lines = ["| model | batch | plain forward | " + " | ".join(methods) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in methods) + " |"]
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault((row["model"], row["batch"]), {"plain_ms": row["plain_ms"]})[
            row["method"]] = f"{row['ratio']:.2f}x ({row['quartiles'][0]:.2f}-{row['quartiles'][1]:.2f})"
    for (model, batch), cells in seen.items():
        ratios = [cells.get(m, "n/a") for m in methods]
        lines.append(f"| {model} | {batch} | {cells['plain_ms']:.0f} ms | " + " | ".join(ratios)
                     + " |")
    return "\n".join(lines)


def profile_table(shares: dict[str, float]) -> str:
    """Where a sweep's time goes, as a Markdown table, largest part first."""
    lines = ["| part of the sweep | share of its time |", "| --- | --- |"]
    for part, share in sorted(shares.items(), key=lambda item: -item[1]):
        lines.append(f"| {part} | {share:.1%} |")
    return "\n".join(lines)
