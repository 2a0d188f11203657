"""Benchmark helpers: forwards with and without hooks for pytest-benchmark, and the overhead of
recording measured as a ratio of paired, interleaved runs, so drift on a busy machine cancels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from actassert._support.messages import fail
from actassert._support.paired import paired_ratio, timer_for
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
        low: the lower quartile of the per-round ratios (how much single rounds vary).
        high: the upper quartile.
        rounds: how many A/B pairs were timed.
        plain: the median plain forward time, seconds.
        recorded: the median recorded forward time, seconds.
        ci_low: the lower end of the 95% confidence interval of the median ratio (how well the
            median is known; it narrows as rounds are added).
        ci_high: the upper end.
    """

    ratio: float
    low: float
    high: float
    rounds: int
    plain: float
    recorded: float
    ci_low: float
    ci_high: float

    def __str__(self) -> str:
        return (f"{self.ratio:.3f}x (95% CI {self.ci_low:.3f}-{self.ci_high:.3f}, quartiles "
                f"{self.low:.3f}-{self.high:.3f}, {self.rounds} paired rounds; plain "
                f"{self.plain * 1e3:.1f} ms, recorded {self.recorded * 1e3:.1f} ms)")


def overhead(net: Any, images: Any, layers: Sequence[str], *, rounds: int = 20,
             warmup: int = 2, reduce: Callable[[Any], Any] | None = None,
             baseline: Callable[[], Any] | None = None, precision: float | None = None,
             max_rounds: int | None = None) -> Overhead:
    """Time recording ``layers`` against a plain forward in alternating pairs (A B A B ...).

    Each round times the plain forward and the recorded one back to back, in alternating order,
    and keeps their ratio; the median of those ratios, with its quartiles, is robust to the
    drift and noise of a shared machine, where absolute times are not. On CUDA, events time the
    work after a synchronise.

    Args:
        net: a :class:`~actassert.Network` or ``nn.Module``.
        images: the batch, moved to the network's device once.
        layers: what to record.
        rounds: timed pairs (with ``precision``, the minimum).
        warmup: untimed pairs first (allocator, cuDNN autotuning, caches).
        reduce: as in :func:`~actassert.record`.
        baseline: a zero-argument function to compare with instead of the plain forward (e.g.
            the network truncated by hand after the deepest layer).
        precision: keep timing pairs until the 95% confidence interval of the median ratio is
            within ``± precision`` (e.g. 0.01 to tell 1.02 from 1.03), or ``max_rounds`` is
            reached.
        max_rounds: the most pairs ``precision`` may take (default 10 times ``rounds``).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
        >>> o = overhead(net, torch.rand(2, 3, 16, 16), ["0"], rounds=5)
        >>> o.rounds, o.ratio > 0
        (5, True)
    """
    plain = baseline or forward_fn(net, images)
    recorded = forward_fn(net, images, layers=layers, reduce=reduce)
    r = paired_ratio(plain, recorded, rounds=rounds, warmup=warmup, precision=precision,
                     max_rounds=max_rounds, timer=timer_for(getattr(net, "device", None)))
    return Overhead(r.ratio, r.low, r.high, r.rounds, r.a_seconds, r.b_seconds, r.ci_low,
                    r.ci_high)


def assert_overhead_below(max_ratio: float, net: Any, images: Any, layers: Sequence[str], *,
                          rounds: int = 20, reduce: Callable[[Any], Any] | None = None,
                          precision: float | None = None,
                          max_rounds: int | None = None) -> Overhead:
    """Assert that recording ``layers`` costs less than ``max_ratio`` times a plain forward.

    The median of paired ratios is compared (see :func:`overhead`), so a CI job fails on a
    regression in overhead, not on a slow machine. Returns the measurement. For a quick CI
    job: few ``rounds`` (5) on a small batch, or ``rounds=5, precision=0.02`` to add rounds
    only while the confidence interval is wider than that (up to ``max_rounds``).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
        >>> assert_overhead_below(50.0, net, torch.rand(2, 3, 16, 16), ["0"], rounds=3).rounds
        3
    """
    __tracebackhide__ = True
    if not max_ratio > 0:
        raise ValueError(f"max_ratio={max_ratio!r} must be a positive number (e.g. 1.05)")
    measured = overhead(net, images, layers, rounds=rounds, reduce=reduce, precision=precision,
                        max_rounds=max_rounds)
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
