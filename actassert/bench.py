"""Benchmark helpers: forwards with and without hooks for pytest-benchmark, and the overhead of
recording measured as a ratio of paired, interleaved runs, so drift on a busy machine cancels."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from actassert._messages import fail
from actassert.measures import sweep
from actassert.recording import record

__all__ = ["forward_fn", "sweep_fn", "Overhead", "overhead", "assert_overhead_below",
           "benchmark_overhead"]


def _synchronise(device: Any) -> Callable[[], None]:
    if getattr(device, "type", str(device)).startswith("cuda"):
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def forward_fn(net: Any, images: Any, *, layers: Sequence[str] | None = None,
               reduce: Callable[[Any], Any] | None = None) -> Callable[[], Any]:
    """A zero-argument function running one forward, optionally recording ``layers``.

    Pass it to pytest-benchmark's fixture: ``benchmark(forward_fn(net, images, layers=["layer2"]))``.
    Images are moved to the network's device once, outside the timed function, and CUDA work is
    synchronised before the function returns, so the timing covers the whole forward.

    Example:
        >>> import torch, actassert
        >>> net = actassert.load_model("resnet18", weights=None, device="cpu")
        >>> run = forward_fn(net, torch.rand(2, 3, 64, 64), layers=["layer1"])
        >>> sorted(run())
        ['layer1']
    """
    device = getattr(net, "device", None)
    x = images.to(device) if device is not None else images
    sync = _synchronise(device)

    if layers is None:
        def plain() -> Any:
            with torch.no_grad():
                out = net(x)
            sync()
            return out
        return plain

    def hooked() -> Any:
        with record(net, layers, reduce=reduce, register=False, keep_inputs=False) as acts, \
                torch.no_grad():
            net(x)
        sync()
        return acts
    return hooked


def sweep_fn(net: Any, stimuli: Any, layers: Sequence[str], **kwargs: Any) -> Callable[[], Any]:
    """A zero-argument function running :func:`actassert.sweep` (CUDA-synchronised)."""
    sync = _synchronise(getattr(net, "device", None))

    def run() -> Any:
        out = sweep(net, stimuli, layers, **kwargs)
        sync()
        return out
    return run


@dataclass(frozen=True)
class Overhead:
    """Recorded over plain forward time, from paired rounds.

    Attributes:
        ratio: the median of the per-round ratios (recorded / plain).
        low: the lower quartile of the per-round ratios.
        high: the upper quartile.
        rounds: how many A/B pairs were timed.
        plain: the median plain forward time, seconds.
        recorded: the median recorded forward time, seconds.
    """

    ratio: float
    low: float
    high: float
    rounds: int
    plain: float
    recorded: float

    def __str__(self) -> str:
        return (f"{self.ratio:.3f}x (quartiles {self.low:.3f}-{self.high:.3f}, {self.rounds} "
                f"paired rounds; plain {self.plain * 1e3:.1f} ms, recorded "
                f"{self.recorded * 1e3:.1f} ms)")


def _timer(device: Any) -> Callable[[Callable[[], Any]], float]:
    """Seconds one call takes: CUDA events on a GPU (after a synchronise), else perf_counter."""
    if getattr(device, "type", str(device)).startswith("cuda"):
        def on_gpu(fn: Callable[[], Any]) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            return start.elapsed_time(end) / 1e3
        return on_gpu

    def on_cpu(fn: Callable[[], Any]) -> float:
        begin = time.perf_counter()
        fn()
        return time.perf_counter() - begin
    return on_cpu


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def overhead(net: Any, images: Any, layers: Sequence[str], *, rounds: int = 20,
             warmup: int = 2, reduce: Callable[[Any], Any] | None = None,
             baseline: Callable[[], Any] | None = None) -> Overhead:
    """Time recording ``layers`` against a plain forward in alternating pairs (A B A B ...).

    Each round times the plain forward and the recorded one back to back, in alternating order,
    and keeps their ratio; the median of those ratios, with its quartiles, is robust to the
    drift and noise of a shared machine, where absolute times are not. On CUDA, events time the
    work after a synchronise.

    Args:
        net: a :class:`~actassert.Network` or ``nn.Module``.
        images: the batch, moved to the network's device once.
        layers: what to record.
        rounds: timed pairs (more rounds, narrower quartiles).
        warmup: untimed pairs first (allocator, cuDNN autotuning, caches).
        reduce: as in :func:`~actassert.record`.
        baseline: a zero-argument function to compare with instead of the plain forward (e.g.
            the network truncated by hand after the deepest layer).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
        >>> o = overhead(net, torch.rand(2, 3, 16, 16), ["0"], rounds=5)
        >>> o.rounds, o.ratio > 0
        (5, True)
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r} must be a positive int")
    plain = baseline or forward_fn(net, images)
    recorded = forward_fn(net, images, layers=layers, reduce=reduce)
    timed = _timer(getattr(net, "device", None))
    for _ in range(warmup):
        plain(), recorded()
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        first, second = (plain, recorded) if i % 2 == 0 else (recorded, plain)
        t1, t2 = timed(first), timed(second)
        a.append(t1 if i % 2 == 0 else t2)
        b.append(t2 if i % 2 == 0 else t1)
    low, ratio, high = _quartiles([y / x for x, y in zip(a, b, strict=True)])
    return Overhead(ratio, low, high, rounds, statistics.median(a), statistics.median(b))


def assert_overhead_below(max_ratio: float, net: Any, images: Any, layers: Sequence[str], *,
                          rounds: int = 20, reduce: Callable[[Any], Any] | None = None) -> Overhead:
    """Assert that recording ``layers`` costs less than ``max_ratio`` times a plain forward.

    The median of paired ratios is compared (see :func:`overhead`), so a CI job fails on a
    regression in overhead, not on a slow machine. Returns the measurement.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
        >>> assert_overhead_below(50.0, net, torch.rand(2, 3, 16, 16), ["0"], rounds=3).rounds
        3
    """
    __tracebackhide__ = True
    if not max_ratio > 0:
        raise ValueError(f"max_ratio={max_ratio!r} must be a positive number (e.g. 1.05)")
    measured = overhead(net, images, layers, rounds=rounds, reduce=reduce)
    if measured.ratio <= max_ratio:
        return measured
    name = getattr(net, "name", None) or type(net).__name__
    fail(f"hook overhead check failed for {name} ({len(layers)} layers recorded, batch "
         f"{len(images)})",
         f"recorded / plain forward time <= {max_ratio:g}",
         str(measured),
         [f"Layers: {', '.join(layers[:8])}{' ...' if len(layers) > 8 else ''}"],
         "record fewer layers, reduce inside the hook (reduce=...) or offload less; if the "
         "quartiles are wide, the machine is busy: raise rounds=")


def benchmark_overhead(benchmark: Any, net: Any, images: Any, layers: Sequence[str], *,
                       rounds: int = 10) -> Overhead:
    """pytest-benchmark integration: time the recorded forward with ``benchmark`` and put the
    paired overhead ratio in its ``extra_info`` (``overhead_ratio``, ``overhead_low``,
    ``overhead_high``), so the saved JSON and ``--benchmark-compare`` carry the ratio, which
    stays meaningful across machines where absolute times do not."""
    measured = overhead(net, images, layers, rounds=rounds)
    benchmark.extra_info.update(overhead_ratio=measured.ratio, overhead_low=measured.low,
                                overhead_high=measured.high, overhead_rounds=measured.rounds)
    benchmark(forward_fn(net, images, layers=layers))
    return measured
