"""sweep's memory does not grow with the number of stimuli: 3,600 streamed cost what 360 cost.

Each sweep runs in its own Python process, which reports its peak resident memory. In the default
test run the images are 64 px and the network a random ResNet-18 (seconds); ``bash scripts/bench.sh``
sets ``ACTASSERT_BENCH_FULL=1`` for the tutorial's size: 224 px hue discs through ImageNet
MobileNetV2 up to ``features.7``.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

FULL = os.environ.get("ACTASSERT_BENCH_FULL") == "1"
SIZE, MODEL, WEIGHTS, LAYER = ((224, "mobilenet_v2", "IMAGENET1K_V1", "features.7.conv.1") if FULL
                               else (64, "resnet18", None, "layer2"))

SCRIPT = textwrap.dedent("""
    import json, resource, sys, time
    import torch
    import actassert as aa
    from actassert.stimuli import hue_disc

    n, size, model, weights, layer = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], \\
        None if sys.argv[4] == "None" else sys.argv[4], sys.argv[5]
    torch.set_num_threads(2)
    net = aa.load_model(model, weights=weights, device="cpu")
    hues = torch.arange(n) * (360.0 / n)
    batches = (hue_disc(hues[i:i + 64], size=size) for i in range(0, n, 64))
    start = time.perf_counter()
    resp = aa.sweep(net, batches, [layer], reduce="foreground")
    seconds = time.perf_counter() - start
    rows = resp[layer].shape[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "rows": rows, "peak_mb": peak_mb, "seconds": seconds}))
""")


def _sweep_in_subprocess(n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n), str(SIZE), MODEL, str(WEIGHTS),
                          LAYER], capture_output=True, text=True, timeout=900,
                         env={**os.environ, "ACTASSERT_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


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
