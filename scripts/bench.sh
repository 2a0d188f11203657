#!/usr/bin/env bash
# Benchmarks with timings (pytest-benchmark enabled) and the full-size memory check.
# Usage: bash scripts/bench.sh [extra pytest args]   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export ACTASSERT_BENCH_FULL=1
.venv/bin/python -m pytest -p no:randomly --benchmark-enable --benchmark-min-rounds=5 \
  --benchmark-columns=min,median,max,rounds -s \
  tests/test_stimuli_bench.py tests/test_drawing_bench.py tests/test_sweep_bench.py \
  tests/test_sweep_memory.py tests/test_reliability.py::test_full_size_thousand_recordings_keep_rss_flat "$@"
