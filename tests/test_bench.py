"""Overhead measured as paired ratios, its assertion, pytest-benchmark integration, and one GPU per
xdist worker."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from actassert._support.device import resolve_device, worker_index
from actassert.bench import Overhead, assert_overhead_below, overhead


class Slow(nn.Module):
    """Two convolutions: something to record."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.out = nn.Conv2d(16, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.conv(x)))


def test_overhead_pairs_rounds_and_reports_quartiles():
    net = Slow().eval()
    images = torch.rand(2, 3, 32, 32)
    measured = overhead(net, images, ["conv", "out"], rounds=9, warmup=1)
    assert isinstance(measured, Overhead) and measured.rounds == 9
    assert measured.low <= measured.ratio <= measured.high
    assert measured.ci_low <= measured.ratio <= measured.ci_high
    assert measured.plain > 0 and measured.recorded > 0
    assert "paired rounds" in str(measured) and "95% CI" in str(measured)


def test_overhead_with_precision_times_more_rounds_until_the_median_is_known():
    net = Slow().eval()
    images = torch.rand(2, 3, 32, 32)
    measured = overhead(net, images, ["conv"], rounds=9, warmup=1, precision=1e-9, max_rounds=15)
    assert measured.rounds == 15  # a precision no timing reaches: bounded by max_rounds


def test_overhead_sees_a_costly_reduction():
    net = Slow().eval()
    images = torch.rand(4, 3, 64, 64)

    def costly(t: torch.Tensor) -> torch.Tensor:
        for _ in range(30):
            t = t.sin()
        return t

    measured = overhead(net, images, ["conv"], rounds=7, reduce=costly)
    assert measured.ratio > 1.5  # 30 extra elementwise passes over the largest map


def test_assert_overhead_below_fails_with_the_measurement():
    net = Slow().eval()
    with pytest.raises(AssertionError) as info:
        assert_overhead_below(0.01, net, torch.rand(2, 3, 32, 32), ["conv"], rounds=3)
    message = str(info.value)
    assert "recorded / plain forward time <= 0.01" in message and "paired rounds" in message
    assert "Fix:" in message
    with pytest.raises(ValueError, match="max_ratio"):
        assert_overhead_below(0, net, torch.rand(1, 3, 8, 8), ["conv"])


def test_assert_overhead_below_takes_a_precision_target():
    measured = assert_overhead_below(50.0, Slow().eval(), torch.rand(2, 3, 32, 32), ["conv"],
                                     rounds=3, precision=1e-9, max_rounds=6)
    assert measured.rounds == 6  # rounds added for the precision, bounded by max_rounds


def test_benchmark_fixture_gets_the_ratio_in_extra_info(pytester, monkeypatch):
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"):  # benchmark is off there
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile("""
        import json, torch
        from torch import nn
        from actassert.bench import benchmark_overhead

        def test_overhead(benchmark):
            net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval()
            measured = benchmark_overhead(benchmark, net, torch.rand(2, 3, 16, 16), ["0"], rounds=3)
            assert benchmark.extra_info["overhead_ratio"] == measured.ratio
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--benchmark-enable",
                                "--benchmark-json=out.json", "--benchmark-min-rounds=1")
    result.assert_outcomes(passed=1)
    import json
    saved = json.loads((pytester.path / "out.json").read_text())
    assert saved["benchmarks"][0]["extra_info"]["overhead_rounds"] == 3


@pytest.mark.parametrize("worker, count, expected", [
    ("gw0", 4, "cuda:0"), ("gw3", 4, "cuda:3"), ("gw5", 4, "cuda:1"), ("gw1", 1, "cuda:0"),
    (None, 2, "cuda:0"), ("master", 2, "cuda:0"),
])
def test_auto_gives_each_xdist_worker_its_own_gpu(monkeypatch, worker, count, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert str(resolve_device("auto", worker=worker)) == expected
    assert str(resolve_device("cpu", worker=worker)) == "cpu"  # only auto is spread


def test_without_cuda_every_worker_uses_the_cpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert str(resolve_device("auto", worker="gw3")) == "cpu"
    assert worker_index("gw12") == 12 and worker_index("gwx") is None


def test_xdist_workers_get_their_device_from_the_fixture(pytester, monkeypatch):
    pytest.importorskip("xdist")
    pytester.makeconftest("""
        import torch
        torch.cuda.is_available = lambda: True
        torch.cuda.device_count = lambda: 2
        torch.cuda.current_device = lambda: 0
    """)
    pytester.makepyfile("""
        import os, pytest

        @pytest.mark.parametrize("i", range(4))
        def test_device(actassert_device, i):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            assert str(actassert_device) == f"cuda:{int(worker[2:]) % 2}"
    """)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
