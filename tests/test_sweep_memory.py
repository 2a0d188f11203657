"""sweep's memory does not grow with the number of stimuli: 3,600 streamed cost what 360 cost.

Each sweep runs in its own Python process, which reports its peak resident memory. In the default
test run the images are 64 px and the network a random ResNet-18 (seconds); ``bash scripts/bench.sh``
sets ``ACTASSERT_BENCH_FULL=1`` for the tutorial's size: 224 px hue discs through ImageNet
MobileNetV2 up to ``features.7``.
"""

import os

import pytest
from tests_support.sweep_memory import sweep_in_subprocess

FULL = os.environ.get("ACTASSERT_BENCH_FULL") == "1"
SIZE, MODEL, WEIGHTS, LAYER = ((224, "mobilenet_v2", "IMAGENET1K_V1", "features.7.conv.1") if FULL
                               else (64, "resnet18", None, "layer2"))


def _sweep_in_subprocess(n: int) -> dict:
    return sweep_in_subprocess(n, SIZE, MODEL, WEIGHTS, LAYER)


@pytest.mark.benchmark(group="sweep-memory")
def test_peak_memory_of_3600_stimuli_is_that_of_360(record_property):
    small, large = _sweep_in_subprocess(360), _sweep_in_subprocess(3600)
    assert (small["rows"], large["rows"]) == (360, 3600)
    images_mb = 3600 * 3 * SIZE * SIZE * 4 / 2**20  # what keeping the images would have cost
    grown = large["peak_mb"] - small["peak_mb"]
    for key, value in (("peak_mb_360", small["peak_mb"]), ("peak_mb_3600", large["peak_mb"]),
                       ("seconds_360", small["seconds"]), ("seconds_3600", large["seconds"])):
        record_property(key, round(value, 1))
    print(f"\n{MODEL} to {LAYER} at {SIZE}px: peak {small['peak_mb']:.0f} MB for 360 stimuli "
          f"({small['seconds']:.1f} s), {large['peak_mb']:.0f} MB for 3600 ({large['seconds']:.1f} s);"
          f" the 3600 images alone would take {images_mb:.0f} MB")
    assert grown < 0.1 * images_mb, f"peak memory grew by {grown:.0f} MB"
    assert large["peak_mb"] < 1.1 * small["peak_mb"]
