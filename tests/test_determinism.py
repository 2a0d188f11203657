"""The deterministic() block and fixture: flags set and restored, seeds, generators, warnings."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from actassert.determinism import RandomStates, TorchFlags, deterministic
from actassert.errors import ActAssertWarning, DeterminismWarning


def test_flags_are_set_inside_and_restored_after() -> None:
    before = TorchFlags.capture()
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    torch.backends.cudnn.benchmark = True
    try:
        with deterministic() as state:
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == (workspace or ":4096:8")
            assert state.seed == 0 and state.flags.deterministic_algorithms
        assert torch.backends.cudnn.benchmark  # put back as it was
    finally:
        torch.backends.cudnn.benchmark = before.cudnn_benchmark
    assert TorchFlags.capture() == before
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == workspace


def test_seeds_repeat_draws_and_generators_continue_after() -> None:
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    with deterministic(seed=3) as state:
        first = (random.random(), float(np.random.rand()), torch.rand(4))
        state.reseed()
        again = (random.random(), float(np.random.rand()), torch.rand(4))
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_switching_benchmark_back_on_warns_and_is_undone() -> None:
    before = TorchFlags.capture()
    with pytest.warns(DeterminismWarning, match="cudnn.benchmark was switched back on"):
        with deterministic():
            torch.backends.cudnn.benchmark = True
    assert TorchFlags.capture() == before
    assert issubclass(DeterminismWarning, ActAssertWarning)


def test_an_error_inside_still_restores_everything() -> None:
    before, states = TorchFlags.capture(), RandomStates.capture()
    with pytest.raises(RuntimeError, match="boom"), deterministic(seed=1):
        torch.rand(3)
        raise RuntimeError("boom")
    assert TorchFlags.capture() == before
    assert torch.equal(torch.get_rng_state(), states.torch_cpu)
    with pytest.raises(ValueError, match="seed=-1 must be an int"):
        with deterministic(seed=-1):
            pass
    assert TorchFlags.capture() == before


def test_the_fixture_runs_the_test_deterministically(deterministic) -> None:
    assert torch.are_deterministic_algorithms_enabled() and deterministic.seed == 0
    first = torch.rand(2)
    deterministic.reseed()
    assert torch.equal(first, torch.rand(2))


def test_the_fixture_restores_flags_after_the_test(pytester) -> None:
    pytester.makepyfile("""
        import torch

        def test_inside(deterministic):
            assert torch.are_deterministic_algorithms_enabled()

        def test_after():
            assert not torch.are_deterministic_algorithms_enabled()
            assert not torch.backends.cudnn.deterministic
    """)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA GPU: deterministic cuDNN and cuBLAS kernels")
def test_cuda_convolutions_repeat_bit_for_bit() -> None:
    conv = torch.nn.Conv2d(3, 16, 3).cuda()
    x = torch.rand(8, 3, 64, 64, device="cuda")
    with deterministic():
        a = conv(x) @ torch.rand(62, 62, device="cuda")
    with deterministic():
        b = conv(x) @ torch.rand(62, 62, device="cuda")
    assert torch.equal(a, b)
