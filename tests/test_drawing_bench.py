"""Benchmarks of kernel_grid against the tutorial's matplotlib-subplots loop (group "drawing").

Run with timings: pytest tests/test_drawing_bench.py --benchmark-enable
"""

from __future__ import annotations

import numpy as np
import pytest
from tests_support.tutorial_paths import tutorial_subplots

from actassert.drawing import kernel_grid


@pytest.fixture(scope="module")
def layer2_maps() -> np.ndarray:
    """One image's maps of a ResNet-50 layer2-like layer: 512 kernels of 28x28."""
    return np.random.default_rng(0).standard_normal((512, 28, 28)).astype(np.float32)


@pytest.mark.benchmark(group="drawing")
def test_bench_kernel_grid_512(benchmark, layer2_maps: np.ndarray) -> None:
    image = benchmark(kernel_grid, layer2_maps, title="layer2")
    assert image.size[0] > 16 * 56 and image.size[1] > 32 * 56


@pytest.mark.benchmark(group="drawing")
def test_bench_kernel_grid_512_shared(benchmark, layer2_maps: np.ndarray) -> None:
    image = benchmark(kernel_grid, layer2_maps, scale="shared")
    assert image.mode == "RGB"


@pytest.mark.benchmark(group="drawing")
def test_bench_tutorial_subplots_64(benchmark, layer2_maps: np.ndarray) -> None:
    # slow (about a second a round), so only 64 kernels and three rounds when enabled
    image = benchmark.pedantic(tutorial_subplots, args=(layer2_maps[:64],), rounds=3,
                               iterations=1)
    assert image.size == (1800, 700)
