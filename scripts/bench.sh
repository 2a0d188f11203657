#!/usr/bin/env bash
# The benchmark suite (not part of the default test run): pytest-benchmark timings, the full-size
# memory and leak checks, then issue 12's targets and the recording-cost table as paired ratios.
# Usage: bash scripts/bench.sh [--quick]   (after scripts/setup.sh; peers: .venv/bin/python -m pip install -e '.[bench]')
# Writes scripts/bench_results/{targets,table,profile}.json, the rows the README quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
if [[ "${1:-}" == "--quick" ]]; then quick=(--quick); else export ACTASSERT_BENCH_FULL=1; fi
.venv/bin/python -m pytest -p no:randomly --benchmark-enable --benchmark-min-rounds=5 \
  --benchmark-columns=min,median,max,rounds -s \
  tests/test_stimuli_bench.py tests/test_drawing_bench.py tests/test_sweep_bench.py \
  tests/test_sweep_memory.py tests/test_reliability.py::test_full_size_thousand_recordings_keep_rss_flat
out=scripts/bench_results
[[ ${#quick[@]} -eq 0 ]] || out=$(mktemp -d)  # a quick run never overwrites the README's rows
.venv/bin/python scripts/bench_targets.py "${quick[@]}" --json "$out/targets.json"
.venv/bin/python scripts/bench_table.py "${quick[@]}" --json "$out/table.json"
.venv/bin/python scripts/bench_profile.py --json "$out/profile.json"
