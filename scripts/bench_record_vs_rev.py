"""record of 4 layers in this checkout against the same in another git revision, paired.

Usage: .venv/bin/python scripts/bench_record_vs_rev.py [REV] [--size 160] [--batch 4] [--rounds 30]

Each side runs in its own process (ResNet-50, random weights, one thread), loaded once; the
parent asks them for one forward each, in an order flipped every round, so the drift of a shared
machine scales both and cancels. Prints the median ratio of record (this checkout) / record (REV,
default ``main``) and of record / plain forward in this checkout, with the 95% interval of each
median (``actassert._support.paired.median_interval``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from actassert._support.paired import summarise  # noqa: E402

WORKER = """
import sys, time, torch
torch.set_num_threads(1)
import actassert as aa
from actassert.bench import forward_fn
net = aa.load_model("resnet50", weights=None, device="cpu")
x = torch.rand(int(sys.argv[2]), 3, int(sys.argv[1]), int(sys.argv[1]),
               generator=torch.Generator().manual_seed(0))
fns = {"plain": forward_fn(net, x),
       "record": forward_fn(net, x, layers=["maxpool", "layer1", "layer2", "layer3"])}
for f in fns.values():
    f(); f()
print("ready", flush=True)
for line in sys.stdin:
    t = time.perf_counter(); fns[line.strip()](); print(time.perf_counter() - t, flush=True)
"""


def _start(path: Path, size: int, batch: int) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(path), OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-c", WORKER, str(size), str(batch)], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def _run(p: subprocess.Popen[str], what: str) -> float:
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(what + "\n")
    p.stdin.flush()
    return float(p.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", nargs="?", default="main")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "rev.tar"
        subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), args.rev,
                        "actassert"], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        new, old = _start(ROOT, args.size, args.batch), _start(Path(tmp), args.size, args.batch)
        times: dict[str, list[float]] = {"old": [], "new": [], "plain": []}
        for i in range(args.rounds):
            if i % 2:
                a, b, c = _run(old, "record"), _run(new, "record"), _run(new, "plain")
            else:
                c, b, a = _run(new, "plain"), _run(new, "record"), _run(old, "record")
            for what, seconds in (("old", a), ("new", b), ("plain", c)):
                times[what].append(seconds)
        for p in (new, old):
            assert p.stdin is not None
            p.stdin.close()
            p.wait()
    print(f"ResNet-50, batch {args.batch} of {args.size} px, 1 thread")
    new_t, old_t, plain_t = times["new"], times["old"], times["plain"]
    ratios = [b / a for a, b in zip(old_t, new_t, strict=True)]
    print(f"record (this checkout) / record ({args.rev}): {summarise(ratios, old_t, new_t)}")
    ratios = [b / c for c, b in zip(plain_t, new_t, strict=True)]
    print(f"record / plain forward (this checkout): {summarise(ratios, plain_t, new_t)}")


if __name__ == "__main__":
    main()
