"""Tests of actassert.assertions: each helper passes on good input and fails with its fixed layout."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn

from actassert import evidence
from actassert.assertions import (
    assert_deterministic,
    assert_eval_mode,
    assert_more_selective,
    assert_not_selective,
    assert_prefers,
    assert_prefers_larger,
    assert_selective,
    assert_shape,
)
from actassert.tuning import Tuning, TuningError

HUES = torch.arange(0.0, 360.0, 10.0, dtype=torch.float64)


def bump(preferred: float, kappa: float) -> torch.Tensor:
    return torch.exp(kappa * (torch.cos(torch.deg2rad(HUES - preferred)) - 1))


@pytest.fixture(autouse=True)
def fresh_record() -> Iterator[evidence.TestRecord]:
    yield evidence.begin()
    evidence.end()


@pytest.fixture
def tun() -> Tuning:
    """K=000..004: strongly tuned to 90, tuned to 200, flat, weakly tuned to 45, silent."""
    resp = torch.stack([bump(90, 4.0), bump(200, 2.0), torch.ones(36), bump(45, 1.0),
                        -torch.ones(36)], dim=1)
    return Tuning(HUES, resp, circular=360, parameter="hue", layer="features.2")


def failure(check: Callable[[], None]) -> list[str]:
    """The lines of the AssertionError ``check`` raises, after checking the fixed layout."""
    with pytest.raises(AssertionError) as info:
        check()
    lines = str(info.value).splitlines()
    assert " check failed for " in lines[0] or " comparison failed for " in lines[0]
    assert lines[1].startswith("Expected: ") and lines[2].startswith("Obtained: ")
    assert lines[-1].startswith("Fix: ") and len(lines) >= 5
    hidden = [tb.tb_frame.f_code.co_name for tb in _walk(info.value.__traceback__)
              if tb.tb_frame.f_locals.get("__tracebackhide__") is True]
    assert hidden and hidden[0].startswith("assert_"), hidden
    return lines


def _walk(tb: object) -> Iterator[object]:
    while tb is not None:
        yield tb
        tb = tb.tb_next  # type: ignore[attr-defined]


def line(lines: list[str], prefix: str) -> str:
    found = [x for x in lines if x.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return found[0]


# -- assert_selective ------------------------------------------------------------------------------

def test_selective_passes_and_registers_the_tuning(tun: Tuning) -> None:
    assert_selective(tun, [0, 1], min_index=0.6)
    assert_selective(tun, min_index=0.3, min_fraction=0.6)  # 3 of 5
    record = evidence.current()
    assert list(record.tunings) == [tun]
    assert record.notes == ["assert_selective: layer 'features.2', hue, kernels K=000, K=001"]
    assert tun.focus == [0, 1]


def test_selective_every_kernel_fails_with_the_layout(tun: Tuning) -> None:
    lines = failure(lambda: assert_selective(tun, [0, 2, 4], min_index=0.3))
    assert lines[0] == "colour selectivity check failed for layer 'features.2', parameter 'hue'"
    assert lines[1] == ("Expected: every one of 3 kernels (K=000, K=002, K=004) with selectivity "
                        "index >= 0.30")
    assert lines[2] == "Obtained: 2 of 3 below 0.30"
    assert line(lines, "Least selective kernels: ") == (
        "Least selective kernels: K=004 unresponsive, K=002 0.00, K=000 0.86")
    note = line(lines, "Unresponsive: 1 kernel ")
    assert "K=004" in note and "rectify='shift'" in lines[4]
    assert "> 15% of the layer's median peak modulation" in note and "1 of them silent" in note
    assert line(lines, "Index: ").startswith("Index: 1 - circular variance (Ringach")
    assert "hue 0..350 (circular, period 360), 36 values" in lines[-1]
    assert list(evidence.current().tunings) == [tun]


def test_selective_fraction_fails_with_shares(tun: Tuning) -> None:
    with pytest.raises(AssertionError, match=r"Obtained: 60% \(3 of 5\)"):
        assert_selective(tun, min_index=0.3, min_fraction=0.8)
    lines = failure(lambda: assert_selective(tun, min_index=0.3, min_fraction=0.8))
    assert lines[1] == "Expected: at least 80% of 5 kernels with selectivity index >= 0.30"
    assert line(lines, "Distribution: ").endswith("max 0.86 (K=000)")
    assert list(evidence.current().tunings) == [tun]


def test_selective_shows_enough_decimals_near_the_threshold(tun: Tuning) -> None:
    index = float(tun.selectivity()[0])  # 0.8635...
    lines = failure(lambda: assert_selective(tun, [0], min_index=0.864))
    assert lines[1].endswith(">= 0.864")
    assert line(lines, "Least selective kernels: ") == f"Least selective kernels: K=000 {index:.4f}"


def test_selective_lists_at_most_eight_offenders() -> None:
    tun = Tuning(HUES, torch.ones(36, 20), circular=360, parameter="hue", layer="conv1")
    worst = line(failure(lambda: assert_selective(tun, min_index=0.1)), "Least selective")
    assert worst.count("K=") == 8 and worst.endswith("(+12 more)")


def test_selective_names_original_ids_after_select(tun: Tuning) -> None:
    lines = failure(lambda: assert_selective(tun.select([3, 2]), min_index=0.9))
    assert line(lines, "Least selective kernels: ").startswith("Least selective kernels: K=002 ")


def test_selective_rejects_unknown_kernels_and_bad_thresholds(tun: Tuning) -> None:
    with pytest.raises(TuningError, match="kernel 9 is not in layer 'features.2'"):
        assert_selective(tun, [9], min_index=0.3)
    with pytest.raises(TuningError, match=r"min_fraction=2 is outside \[0, 1\]"):
        assert_selective(tun, min_index=0.3, min_fraction=2)


# -- assert_not_selective --------------------------------------------------------------------------

def test_not_selective_passes_for_flat_and_silent_kernels(tun: Tuning) -> None:
    assert_not_selective(tun, [2, 4], max_index=0.05)
    assert list(evidence.current().tunings) == [tun] and tun.focus == [2, 4]


def test_not_selective_fails_listing_the_most_selective(tun: Tuning) -> None:
    lines = failure(lambda: assert_not_selective(tun, max_index=0.5))
    assert lines[0] == ("colour non-selectivity check failed for layer 'features.2', "
                        "parameter 'hue'")
    assert lines[1] == "Expected: every one of 5 kernels with selectivity index <= 0.50"
    assert lines[2] == "Obtained: 2 of 5 above 0.50"
    assert line(lines, "Most selective kernels: ") == (
        "Most selective kernels: K=000 0.86, K=001 0.70")


# -- assert_prefers --------------------------------------------------------------------------------

def test_prefers_passes_with_circular_distance(tun: Tuning) -> None:
    assert_prefers(tun, 0, 95, tolerance=5)
    assert_prefers(tun, 1, 200, tolerance=0)
    wrap = Tuning(HUES, bump(0, 3.0)[:, None], circular=360, parameter="hue")
    assert_prefers(wrap, 0, 355, tolerance=5)
    assert evidence.current().notes[-1] == "assert_prefers: layer None, hue, kernels K=000"


def test_prefers_fails_with_top_responses(tun: Tuning) -> None:
    lines = failure(lambda: assert_prefers(tun, 1, 120, tolerance=20))
    assert lines[0] == "preferred hue check failed for layer 'features.2', parameter 'hue'"
    assert lines[1] == "Expected: K=001 prefers hue 120 +/- 20 (circular distance, period 360)"
    assert lines[2] == "Obtained: K=001 prefers hue 200, 80 away"
    assert line(lines, "Top responses: ").startswith("Top responses: hue 200 1, hue 190 0.97")
    assert line(lines, "Kernel: ").startswith("Kernel: K=001 has selectivity index 0.70")
    assert "grid" not in lines[-1]
    assert tun.focus == [1]


def test_prefers_warns_about_a_tolerance_finer_than_the_grid(tun: Tuning) -> None:
    lines = failure(lambda: assert_prefers(tun, 0, 95, tolerance=2))
    assert "samples hue only every 10, so tolerance=2 can fail on the grid alone" in lines[-1]


def test_prefers_uses_octaves_on_a_log_scale() -> None:
    freqs = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0])
    tun = Tuning(freqs, torch.tensor([[0.1], [0.5], [2.0], [1.0], [0.2]]), scale="log",
                 parameter="sf", layer="layer1")
    assert_prefers(tun, 0, 2.5, tolerance=0.5)
    lines = failure(lambda: assert_prefers(tun, 0, 8.0, tolerance=1))
    assert lines[1] == "Expected: K=000 prefers sf 8 +/- 1 octaves (log scale)"
    assert lines[2] == "Obtained: K=000 prefers sf 2, 2 octaves away"


def test_prefers_reports_a_silent_kernel(tun: Tuning) -> None:
    lines = failure(lambda: assert_prefers(tun, 4, 180, tolerance=10))
    assert line(lines, "Kernel: ") == "Kernel: K=004 is silent: no positive response"


def test_prefers_rejects_bad_tolerance(tun: Tuning) -> None:
    with pytest.raises(TuningError, match=r"tolerance=-1 is not a number >= 0"):
        assert_prefers(tun, 0, 90, tolerance=-1)


# -- assert_more_selective -------------------------------------------------------------------------

@pytest.fixture
def layers() -> tuple[Tuning, Tuning]:
    early = torch.stack([bump(90, 4.0), bump(0, 3.0), bump(180, 2.0), torch.ones(36)], dim=1)
    late = torch.stack([bump(90, 0.3), torch.ones(36), torch.ones(36), bump(10, 3.0),
                        -torch.ones(36)], dim=1)
    return (Tuning(HUES, early, circular=360, parameter="hue", layer="conv1"),
            Tuning(HUES, late, circular=360, parameter="hue", layer="layer4"))


def test_more_selective_passes_and_registers_both(layers: tuple[Tuning, Tuning]) -> None:
    early, late = layers
    assert_more_selective(early, late, min_index=0.5, margin=0.3)  # 75% vs 20%
    assert_more_selective(early, late, by="median")
    assert list(evidence.current().tunings) == [early, late]


def test_more_selective_fails_side_by_side(layers: tuple[Tuning, Tuning]) -> None:
    early, late = layers
    lines = failure(lambda: assert_more_selective(late, early, min_index=0.5))
    assert lines[0] == ("colour selectivity comparison failed for layers 'layer4' (early) and "
                        "'conv1' (late), parameter 'hue'")
    assert lines[1] == ("Expected: share of kernels with selectivity index >= 0.50 in 'layer4' > "
                        "in 'conv1' + margin 0%")
    assert lines[2] == "Obtained: 'layer4' 20% vs 'conv1' 75%: difference -55%, needs more than 0%"
    header, kernels, selective, median, silent, best = lines[3:9]
    assert header.split() == ["early", "'layer4'", "late", "'conv1'"]
    assert kernels.split() == ["Kernels", "5", "4"]
    assert selective.split() == ["Selective", ">=", "0.50", "20%", "(1)", "75%", "(3)"]
    assert median.split()[:2] == ["Median", "index"] and silent.split() == ["Unresponsive", "1", "0"]
    assert best.startswith("Most selective") and "K=003 0.81" in best and "K=002 0.70" in best
    col = header.index("late")
    assert kernels[col] == "4" and selective[col:].startswith("75%")  # columns line up
    assert list(evidence.current().tunings) == [late, early]


def test_more_selective_margin_and_median(layers: tuple[Tuning, Tuning]) -> None:
    early, late = layers
    with pytest.raises(AssertionError, match=r"difference 55%, needs more than 60%"):
        assert_more_selective(early, late, min_index=0.5, margin=0.6)
    lines = failure(lambda: assert_more_selective(late, early, by="median"))
    assert lines[1] == "Expected: median selectivity index in 'layer4' > in 'conv1' + margin 0.00"


def test_more_selective_argument_errors(layers: tuple[Tuning, Tuning]) -> None:
    early, late = layers
    with pytest.raises(TuningError, match="by='fraction' needs min_index"):
        assert_more_selective(early, late)
    with pytest.raises(TuningError, match="by='mean' is not 'fraction' or 'median'"):
        assert_more_selective(early, late, by="mean", min_index=0.3)
    sizes = Tuning([4, 8, 16], torch.ones(3, 2), parameter="size")
    with pytest.raises(TuningError, match="cannot compare parameter 'hue'"):
        assert_more_selective(early, sizes, min_index=0.3)


# -- assert_shape ----------------------------------------------------------------------------------

def test_shape_passes_with_wildcards() -> None:
    maps = torch.zeros(4, 64, 28, 28)
    assert_shape(maps, (4, 64, 28, 28))
    assert_shape(maps, (4, None, None, 28))
    assert_shape(maps, (4, ...))
    assert_shape(maps, (..., 28, 28))
    assert_shape(maps, (4, 64, ..., 28, 28))
    assert_shape(torch.zeros(3), (...,))
    assert_shape(maps.numpy(), torch.Size([4, 64, 28, 28]))


def test_shape_fails_naming_the_dims_that_differ() -> None:
    lines = failure(lambda: assert_shape(torch.zeros(4, 64, 28, 28), (4, 128, None, 27),
                                         name="layer2"))
    assert lines[0] == "shape check failed for 'layer2'"
    assert lines[1].startswith("Expected: (4, 128, None, 27)  (None = any size")
    assert lines[2] == "Obtained: (4, 64, 28, 28)"
    assert lines[3:5] == ["Differs: dim 1: expected 128, obtained 64",
                          "Differs: dim 3: expected 27, obtained 28"]


def test_shape_fails_on_rank() -> None:
    lines = failure(lambda: assert_shape(torch.zeros(4, 64), (4, ..., 28, 28)))
    assert lines[0] == "shape check failed for tensor"
    assert lines[3] == "Differs: rank: expected at least 3 dims, obtained 2"
    lines = failure(lambda: assert_shape(torch.zeros(4, 64), (4,)))
    assert lines[1].startswith("Expected: (4,)  ") and "expected 1 dims, obtained 2" in lines[3]
    with pytest.raises(AssertionError, match=r"Differs: dim 2: expected 7, obtained 28"):
        assert_shape(torch.zeros(4, 64, 28, 28), (..., 7, 28))


def test_shape_rejects_a_bad_expectation() -> None:
    with pytest.raises(TypeError, match="at most one"):
        assert_shape(torch.zeros(2, 2), (..., ...))
    with pytest.raises(TypeError, match=r"expected=\(2, '2'\)"):
        assert_shape(torch.zeros(2, 2), (2, "2"))


# -- assert_eval_mode ------------------------------------------------------------------------------

def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5))


def test_eval_mode_passes_after_eval() -> None:
    assert_eval_mode(small_net().eval())

    class Wrapper:
        module = small_net().eval()
        name = "tiny"

    assert_eval_mode(Wrapper())


def test_eval_mode_lists_modules_in_train_mode() -> None:
    net = small_net().eval()
    net[1].train()
    net[3].train()
    lines = failure(lambda: assert_eval_mode(net))
    assert lines[0] == "eval mode check failed for model Sequential"
    assert lines[2] == ("Obtained: 2 of 5 modules in train mode, 2 of them mode-dependent "
                        "(Dropout, BatchNorm, ...)")
    assert lines[3] == "Mode-dependent in train mode: '1' (BatchNorm2d), '3' (Dropout)"
    assert "model.eval()" in lines[-1]
    lines = failure(lambda: assert_eval_mode(small_net()))
    assert lines[3] == "Mode-dependent in train mode: '1' (BatchNorm2d), '3' (Dropout)"
    assert lines[4] == "Also in train mode: (root) (Sequential), '0' (Conv2d), '2' (ReLU)"
    with pytest.raises(TypeError, match="needs an nn.Module; got int"):
        assert_eval_mode(3)


# -- assert_deterministic --------------------------------------------------------------------------

def test_deterministic_passes_for_an_eval_network() -> None:
    net = small_net().eval()
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert_deterministic(net, x, runs=3)
    assert_deterministic(lambda: {"a": torch.tensor([math.nan, 1.0]), "b": x})  # NaN == NaN


def test_deterministic_catches_random_noise() -> None:
    gen = torch.Generator().manual_seed(0)

    def noisy(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"clean": x * 2, "noisy": x + 1e-3 * torch.randn(x.shape, generator=gen)}

    lines = failure(lambda: assert_deterministic(noisy, torch.ones(2, 3), runs=3))
    assert lines[0] == "determinism check failed for test_deterministic_catches_random_noise." \
                       "<locals>.noisy (3 runs)"
    assert lines[1] == "Expected: the same outputs on every run (bit-identical)"
    assert lines[2].startswith("Obtained: 'noisy' run ")
    assert "max |difference| " in lines[2] and "6 of 6 elements differ" in lines[2]
    assert lines[3].startswith("Differences: 'noisy' run ") and "'clean'" not in lines[3]
    assert_deterministic(noisy, torch.ones(2, 3), runs=3, atol=0.1)


def test_deterministic_sees_through_a_reused_buffer() -> None:
    buffer = torch.zeros(3)
    calls = iter(range(10))

    def in_place() -> torch.Tensor:
        buffer[1] = next(calls)
        return buffer

    lines = failure(lambda: assert_deterministic(in_place))
    assert "max |difference| 1 at (1,) (run 1 0, run 2 1), 1 of 3 elements differ" in lines[2]


def test_deterministic_reports_shape_changes_and_bad_runs() -> None:
    sizes = iter([2, 3])
    with pytest.raises(AssertionError, match=r"'output' run 2: \(3,\) torch.float32, run 1 \(2,\)"):
        assert_deterministic(lambda: torch.zeros(next(sizes)))
    with pytest.raises(ValueError, match="runs=1 must be an int >= 2"):
        assert_deterministic(lambda: torch.zeros(1), runs=1)
    with pytest.raises(TypeError, match="got str"):
        assert_deterministic(lambda: "x")


# -- assert_prefers_larger ---------------------------------------------------------------------

def _size_tuning(peaks, layer):
    sizes = torch.tensor([4.0, 8, 16, 32, 64, 128])
    curves = torch.stack([torch.exp(-((sizes.log2() - math.log2(p)) ** 2)) for p in peaks], 1)
    return Tuning(sizes, curves, scale="log", parameter="size", layer=layer)


def test_prefers_larger_passes_and_fails_with_the_medians():
    early = _size_tuning([8, 8, 16], "conv1")
    late = _size_tuning([32, 64, 32], "layer4")
    assert_prefers_larger(early, late, factor=2)
    with pytest.raises(AssertionError) as info:
        assert_prefers_larger(late, early)
    lines = str(info.value).splitlines()
    assert lines[0] == "size preference comparison failed for layers 'layer4' (early) and 'conv1' (late)"
    assert lines[2].startswith("Obtained: 'layer4' 32 (3 of 3 kernels) vs 'conv1' 8 (3 of 3")
    assert lines[-1].startswith("Fix: ")


def test_prefers_larger_refuses_circular_parameters():
    hue = Tuning(torch.arange(0.0, 360, 60), torch.rand(6, 2), circular=360, parameter="hue")
    with pytest.raises(TuningError, match="circular"):
        assert_prefers_larger(hue, hue)
