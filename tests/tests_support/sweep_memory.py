"""Peak resident memory of one sweep, measured in a fresh Python process.

Shared by ``tests/test_sweep_memory.py`` and ``scripts/bench_targets.py``: a sweep streams its
stimuli in batches of 64, so its peak should not depend on how many there are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

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


def sweep_in_subprocess(n: int, size: int, model: str, weights: str | None,
                        layer: str) -> dict[str, float]:
    """Sweep ``n`` hue discs of ``size`` px through ``model`` up to ``layer`` in a new process.

    Returns:
        ``{"n", "rows", "peak_mb", "seconds"}`` as the child printed them.
    """
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n), str(size), model, str(weights),
                          layer], capture_output=True, text=True, timeout=900,
                         env={**os.environ, "ACTASSERT_OFFLINE": "1"})
    if out.returncode != 0:
        raise RuntimeError(f"the sweep of {n} stimuli failed:\n{out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
