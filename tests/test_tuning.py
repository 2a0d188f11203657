"""Tests of actassert.tuning: tuning curves and selectivity indices against synthetic ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from actassert.errors import ActAssertError
from actassert.tuning import Tuning, TuningError

HUES = torch.arange(0.0, 360.0, 10.0)


def von_mises(values: torch.Tensor, preferred: float, kappa: float, period: float = 360.0
              ) -> torch.Tensor:
    """exp(kappa (cos(2 pi (v - preferred) / period) - 1)): 1 at the peak."""
    angle = (values.double() - preferred) * (2 * math.pi / period)
    return torch.exp(kappa * (torch.cos(angle) - 1))


def resultant(kappa: float) -> float:
    """1 - circular variance of a von Mises curve: I1(kappa) / I0(kappa)."""
    k = torch.tensor(kappa, dtype=torch.float64)
    return float(torch.special.i1(k) / torch.special.i0(k))


def ringach(values: torch.Tensor, curve: torch.Tensor, period: float) -> float:
    """The textbook formula, written independently: |sum r exp(i 2 pi v / P)| / sum r."""
    z = (curve.double() * torch.exp(1j * 2 * math.pi * values.double() / period)).sum()
    return float(z.abs() / curve.double().sum())


# -- circular parameters -------------------------------------------------------------------------

def test_von_mises_hue_kernel_prefers_its_peak_and_is_selective() -> None:
    resp = torch.stack([von_mises(HUES, 90, 4.0), von_mises(HUES, 200, 1.0)], dim=1)
    tun = Tuning(HUES, resp, circular=360, parameter="hue", layer="features.2")
    assert tun.preferred().tolist() == [90.0, 200.0]
    index = tun.selectivity()
    assert index[0] == pytest.approx(resultant(4.0), abs=1e-9)
    assert index[1] == pytest.approx(resultant(1.0), abs=1e-9)
    assert index[0] > 0.85 > index[1]


def test_evenly_spaced_index_is_exactly_ringachs_sum() -> None:
    curve = torch.rand(36, generator=torch.Generator().manual_seed(0)) ** 3
    tun = Tuning(HUES, curve[:, None], circular=360)
    assert float(tun.selectivity()[0]) == pytest.approx(ringach(HUES, curve, 360), rel=1e-12)


def test_flat_curve_has_index_zero_and_is_not_silent() -> None:
    tun = Tuning(HUES, torch.full((36, 1), 2.5), circular=360)
    assert tun.selectivity().tolist() == [0.0]
    assert tun.silent().tolist() == [False]


def test_negative_only_kernel_is_silent_with_index_zero_not_nan() -> None:
    resp = -1 - von_mises(HUES, 90, 2.0)[:, None]
    tun = Tuning(HUES, resp, circular=360)
    assert tun.silent().tolist() == [True]
    assert tun.selectivity().tolist() == [0.0]
    assert not torch.isnan(tun.selectivity()).any()
    assert tun.fraction_selective(0.0) == 0.0  # silent kernels never count


def test_zero_and_360_are_one_point_and_negative_values_wrap() -> None:
    values = torch.tensor([0.0, 90, 180, 270, 360, -90])
    resp = torch.tensor([[1.0], [2], [3], [4], [5], [6]])
    tun = Tuning(values, resp, circular=360)
    assert tun.values.tolist() == [0.0, 90.0, 180.0, 270.0]
    assert tun.counts.tolist() == [2, 1, 1, 2]
    assert tun.curves[:, 0].tolist() == [3.0, 2.0, 3.0, 5.0]


def test_float_noise_in_values_does_not_split_a_point() -> None:
    values = torch.tensor([0.0, 120.0, 120.0 + 1e-12, 240.0, 360.0 - 1e-10], dtype=torch.float64)
    tun = Tuning(values, torch.ones(5, 1), circular=360)
    assert tun.values.tolist() == [0.0, 120.0, 240.0]
    assert tun.counts.tolist() == [2, 2, 1]


def test_repeated_values_of_a_product_sweep_are_averaged() -> None:
    hues = HUES.repeat(3)  # hue x radius: 3 radii per hue
    gain = torch.tensor([1.0, 2.0, 3.0]).repeat_interleave(36)
    resp = (von_mises(hues, 60, 3.0) * gain)[:, None]
    tun = Tuning(hues, resp, circular=360)
    assert len(tun.values) == 36 and tun.counts.unique().tolist() == [3]
    assert torch.allclose(tun.curves[:, 0], 2 * von_mises(HUES, 60, 3.0).double())
    assert tun.n_stimuli == 108 and tun.kernels == 1


def test_orientation_period_180_doubles_the_angle() -> None:
    directions = torch.arange(0.0, 360.0, 10.0)
    bimodal = (von_mises(directions, 0, 2.0, period=180))[:, None]  # peaks at 0 and 180
    as_orientation = Tuning(directions, bimodal, circular=180, parameter="orientation")
    assert as_orientation.values.tolist() == torch.arange(0.0, 180.0, 10.0).tolist()
    assert float(as_orientation.selectivity()[0]) == pytest.approx(resultant(2.0), abs=1e-9)
    as_hue = Tuning(directions, bimodal, circular=360)  # opposite peaks cancel on a 360 circle
    assert float(as_hue.selectivity()[0]) == pytest.approx(0.0, abs=1e-9)


def test_orientation_preference_near_the_wrap_and_circular_distance() -> None:
    ori = torch.arange(0.0, 180.0, 10.0)
    tun = Tuning(ori, von_mises(ori, 170, 3.0, period=180)[:, None], circular=180)
    assert tun.preferred().tolist() == [170.0]
    assert float(tun.distance(170, 5)) == pytest.approx(15.0)
    assert float(Tuning(HUES, torch.ones(36, 1), circular=360).distance(350, 10)) == 20.0


def test_uneven_sampling_is_weighted_by_arc() -> None:
    values = torch.tensor([0.0, 10, 20, 30, 40, 180])
    flat = torch.ones(6, 1)
    weighted = float(Tuning(values, flat, circular=360).selectivity()[0])
    assert weighted < 0.5 * ringach(values, flat[:, 0], 360)


# -- non-circular parameters ---------------------------------------------------------------------

SIZES = torch.tensor([4.0, 8, 16, 32, 64, 128])


def test_size_curve_peaked_inside_has_a_high_peak_index() -> None:
    curve = torch.tensor([0.5, 2.0, 4.0, 3.0, 1.0, 1.0])
    tun = Tuning(SIZES, curve[:, None], parameter="size")
    assert tun.preferred().tolist() == [16.0]
    assert float(tun.selectivity()[0]) == pytest.approx(1 - 1.0 / 4.0)
    assert float(tun.selectivity("suppression")[0]) == pytest.approx((4.0 - 1.0) / 4.0)


def test_monotonic_curve_has_peak_index_zero_and_silent_ends_give_one() -> None:
    rising = torch.tensor([1.0, 2, 3, 4, 5, 6])
    bump = torch.tensor([0.0, 1, 3, 1, 0, 0])
    tun = Tuning(SIZES, torch.stack([rising, bump], 1))
    assert tun.selectivity("peak").tolist() == [0.0, 1.0]
    assert tun.selectivity("suppression").tolist() == [0.0, 1.0]
    assert tun.preferred().tolist() == [128.0, 16.0]


def test_peak_index_uses_both_ends_and_suppression_only_the_last() -> None:
    falling = torch.tensor([6.0, 5, 4, 3, 2, 1])
    tun = Tuning(SIZES, falling[:, None], parameter="size")
    assert tun.selectivity().tolist() == [0.0]
    assert tun.selectivity("suppression").tolist() == pytest.approx([5 / 6])


def test_method_must_fit_the_parameter() -> None:
    with pytest.raises(TuningError, match="method='peak' does not fit the circular"):
        Tuning(HUES, torch.ones(36, 1), circular=360).selectivity("peak")
    with pytest.raises(TuningError, match="'peak', 'suppression'"):
        Tuning(SIZES, torch.ones(6, 1)).selectivity("circular_variance")


# -- rectification ---------------------------------------------------------------------------------

def test_relu_and_shift_rectification() -> None:
    bump = von_mises(HUES, 120, 3.0)
    resp = torch.stack([bump - 2.0, bump + 10.0, bump], dim=1)  # negative; on a baseline; plain
    relu = Tuning(HUES, resp, circular=360)
    shift = Tuning(HUES, resp, circular=360, rectify="shift")
    assert relu.silent().tolist() == [True, False, False]
    assert relu.selectivity()[1] < 0.1 < relu.selectivity()[2]
    assert shift.silent().tolist() == [False, False, False]
    shifted = ringach(HUES, bump - bump.min(), 360)
    assert shift.selectivity().tolist() == pytest.approx([shifted] * 3, abs=1e-9)
    assert shift.preferred().tolist() == [120.0] * 3
    assert shift.rectified().amin(dim=0).tolist() == [0.0, 0.0, 0.0]


def test_shift_makes_a_flat_curve_silent() -> None:
    tun = Tuning(HUES, torch.full((36, 1), -3.0), circular=360, rectify="shift")
    assert tun.silent().tolist() == [True] and tun.selectivity().tolist() == [0.0]


# -- shares, subsets, descriptions -----------------------------------------------------------------

def test_fraction_selective_and_median_index() -> None:
    resp = torch.stack([von_mises(HUES, 0, 4.0), von_mises(HUES, 0, 2.0),
                        torch.ones(36), -torch.ones(36)], dim=1)
    tun = Tuning(HUES, resp, circular=360)
    assert tun.fraction_selective(0.5) == 0.5
    assert tun.fraction_selective(0.8) == 0.25
    assert tun.fraction_selective(0.0) == 0.75  # the silent kernel does not count
    assert tun.median_index() == pytest.approx(resultant(2.0) / 2)
    with pytest.raises(TuningError, match=r"min_index=1\.5 is outside \[0, 1\]"):
        tun.fraction_selective(1.5)


def test_select_keeps_kernel_ids() -> None:
    resp = torch.arange(36 * 10, dtype=torch.float32).reshape(36, 10)
    tun = Tuning(HUES, resp, circular=360, layer="conv1")
    sub = tun.select([7, 3])
    assert sub.kernel_ids.tolist() == [7, 3] and sub.kernels == 2
    assert torch.equal(sub.curves, tun.curves[:, [7, 3]])
    values, curve = sub.curve(3)
    assert torch.equal(curve, tun.curves[:, 3]) and torch.equal(values, tun.values)
    assert sub.select(torch.tensor([False, True])).kernel_ids.tolist() == [3]
    assert sub.select(torch.tensor([3])).kernel_ids.tolist() == [3]
    assert tun.kernels == 10  # the original is untouched
    with pytest.raises(TuningError, match=r"kernel 0 is not in layer 'conv1' \(kernel ids 3\.\.7"):
        sub.curve(0)
    with pytest.raises(TuningError, match="twice"):
        tun.select([1, 1])
    with pytest.raises(TuningError, match="chose no kernel"):
        tun.select(torch.zeros(10, dtype=torch.bool))


def test_summary_and_repr() -> None:
    resp = torch.stack([von_mises(HUES, 0, 4.0), torch.ones(36), -torch.ones(36)], dim=1)
    tun = Tuning(HUES, resp, circular=360, parameter="hue", layer="features.2")
    line = tun.summary(0.3)
    assert "\n" not in line
    assert line == ("layer 'features.2', hue: 3 kernels, 33% selective (index >= 0.30), "
                    "median index 0.00, 1 silent")
    assert repr(tun) == ("Tuning(layer='features.2', parameter='hue', kernels=3, values=36, "
                         "circular=360)")
    assert tun.describe_sweep() == "hue 0..350 (circular, period 360), 36 values, 36 stimuli"
    assert "Ringach" in tun.describe_index() and "relu" in tun.describe_index()
    assert "Cavanaugh" in Tuning(SIZES, torch.ones(6, 1)).describe_index("suppression")


def test_accepts_lists_and_numpy_and_returns_cpu_float64() -> None:
    tun = Tuning([1, 2, 3], np.array([[1.0, 0.0], [2.0, 1.0], [0.5, 0.0]], dtype=np.float32))
    assert tun.values.dtype == torch.float64 and tun.curves.dtype == torch.float64
    assert tun.preferred().tolist() == [2.0, 2.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_responses_give_cpu_results() -> None:
    resp = von_mises(HUES, 90, 4.0)[:, None].repeat(2, 3).cuda()
    tun = Tuning(HUES.repeat(2).cuda(), resp, circular=360)
    assert tun.curves.device.type == "cpu" and tun.selectivity().device.type == "cpu"
    assert tun.preferred().tolist() == [90.0] * 3


def test_vectorised_over_a_large_layer() -> None:
    gen = torch.Generator().manual_seed(1)
    values = torch.arange(360.0).repeat(2)
    tun = Tuning(values, torch.randn(720, 1280, generator=gen), circular=360)
    index = tun.selectivity()
    assert index.shape == (1280,) and bool(((index >= 0) & (index <= 1)).all())
    assert tun.preferred().shape == (1280,) and 0 < tun.fraction_selective(0.05) < 1


@settings(max_examples=40, deadline=None)
# Subnormal responses (5e-324) underflow to 0 when scaled by a gain below 1: a float limit, not
# a property of the index.
@given(st.lists(st.floats(-5, 5, allow_nan=False, allow_subnormal=False), min_size=36, max_size=36),
       st.floats(0.1, 100), st.sampled_from(["relu", "shift"]))
def test_index_lies_in_unit_interval_and_ignores_gain(curve: list[float], gain: float,
                                                      rectify: str) -> None:
    resp = torch.tensor(curve, dtype=torch.float64)[:, None]
    index = Tuning(HUES, resp, circular=360, rectify=rectify).selectivity()
    assert 0.0 <= float(index[0]) <= 1.0
    scaled = Tuning(HUES, resp * gain, circular=360, rectify=rectify).selectivity()
    assert float(scaled[0]) == pytest.approx(float(index[0]), abs=1e-9)


# -- validation ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"values": HUES[:35]}, r"values has 35 entries but responses has 36 rows"),
    ({"responses": torch.ones(36)}, r"got shape \(36,\): for one kernel use responses\[:, None\]"),
    ({"responses": torch.ones(36, 4, 5, 5)}, r"shape \(36, 4, 5, 5\).*actassert\.sweep"),
    ({"values": HUES[:, None]}, r"shape \[N\]; got shape \(36, 1\)"),
    ({"scale": "logarithmic"}, r"scale='logarithmic' is not 'linear' or 'log'"),
    ({"rectify": "abs"}, r"rectify='abs' is not 'relu' or 'shift'"),
    ({"circular": 0}, r"circular=0 is not a positive period"),
    ({"circular": -180.0}, r"circular=-180\.0 is not a positive period"),
    ({"circular": 360, "scale": "log"}, r"scale='log' with circular=360"),
    ({"scale": "log"}, r"scale='log' needs positive values; got value 0 at stimulus 0"),
    ({"responses": torch.ones(0, 3), "values": []}, r"shape \(0, 3\) hold no stimulus"),
])
def test_bad_arguments_are_quoted(kwargs: dict, message: str) -> None:
    args = {"values": HUES, "responses": torch.ones(36, 2)} | kwargs
    values, responses = args.pop("values"), args.pop("responses")
    with pytest.raises(TuningError, match=message):
        Tuning(values, responses, **args)


def test_non_finite_inputs_name_the_stimulus_and_kernel() -> None:
    resp = torch.ones(36, 2)
    resp[3, 1] = float("nan")
    with pytest.raises(TuningError, match=r"nan at stimulus 3, kernel K=001 \(1 non-finite"):
        Tuning(HUES, resp)
    values = HUES.clone()
    values[5] = float("inf")
    with pytest.raises(TuningError, match=r"values hold inf at stimulus 5"):
        Tuning(values, torch.ones(36, 2))


def test_selectivity_needs_three_distinct_values() -> None:
    tun = Tuning([0.0, 180.0, 360.0], torch.ones(3, 1), circular=360, parameter="hue")
    assert tun.preferred().tolist() == [0.0]  # a preference needs no third value
    with pytest.raises(TuningError, match=r"at least 3 distinct hue values; got 2 \(0, 180\)"):
        tun.selectivity()


def test_tuning_error_is_a_value_error_and_an_actassert_error() -> None:
    assert issubclass(TuningError, ValueError) and issubclass(TuningError, ActAssertError)


def test_log_scale_distances_are_octaves() -> None:
    freqs = torch.tensor([0.5, 1, 2, 4, 8])
    tun = Tuning(freqs, torch.ones(5, 1), scale="log", parameter="sf")
    assert float(tun.distance(1.0, 4.0)) == pytest.approx(2.0)
    assert tun.describe_sweep() == "sf 0.5..8 (log scale), 5 values, 5 stimuli"


def test_barely_responding_kernel_is_silent_not_perfectly_selective():
    # kernels 0-3 answer in units; kernel 4 peaks at 1e-4 at one hue and is negative elsewhere
    hues = torch.arange(0.0, 360.0, 30.0)
    tuned = 1.0 + torch.cos(torch.deg2rad(hues))
    curves = torch.stack([tuned, tuned, tuned, tuned, -torch.ones(12)], dim=1)
    curves[3, 4] = 1e-4
    tuning = Tuning(hues, curves, circular=360)
    assert tuning.silent().tolist() == [False, False, False, False, True]
    assert tuning.selectivity()[4].item() == 0.0
    alone = Tuning(hues, curves[:, 4:], circular=360)  # no layer to compare with: not silent
    assert alone.selectivity()[0].item() > 0.99


def test_silence_is_decided_for_the_whole_layer_and_kept_by_select():
    hues = torch.arange(0.0, 360.0, 30.0)
    tuned = 1.0 + torch.cos(torch.deg2rad(hues))
    curves = torch.stack([tuned, tuned, tuned, 1e-3 * tuned], dim=1)
    tuning = Tuning(hues, curves, circular=360)
    assert tuning.silent().tolist() == [False, False, False, True]
    assert tuning.select([3]).silent().tolist() == [True]
    assert tuning.select([3]).selectivity().tolist() == [0.0]


def test_baseline_makes_curves_modulation_above_the_blank() -> None:
    resp = torch.tensor([[2.0, 1.0], [5.0, 1.0], [3.0, 1.2]])
    tun = Tuning([0, 1, 2], resp, baseline=torch.tensor([2.0, 1.0]))
    assert tun.modulation()[:, 0].tolist() == [0.0, 3.0, 1.0]
    assert tun.peak_modulation().tolist() == pytest.approx([3.0, 0.2])
    # one baseline row per stimulus is averaged per value, like the responses
    per_stimulus = Tuning([0, 0, 1, 2], torch.tensor([[1.0], [3.0], [4.0], [1.0]]),
                          baseline=torch.tensor([[0.0], [2.0], [1.0], [1.0]]))
    assert per_stimulus.baseline[:, 0].tolist() == [1.0, 1.0, 1.0]
    assert per_stimulus.select([0]).baseline.shape == (3, 1)
    with pytest.raises(TuningError, match=r"baseline of shape \(2, 2\) does not fit"):
        Tuning([0, 1, 2], resp, baseline=torch.zeros(2, 2))


def test_responsive_is_relative_to_the_layer_and_fixed_when_built() -> None:
    from actassert import Responsiveness

    peaks = torch.tensor([10.0, 8.0, 9.0, 1.0, 0.5])
    resp = torch.stack([torch.zeros(5), peaks, torch.zeros(5)])
    tun = Tuning([0, 1, 2], resp)
    assert tun.responsive().tolist() == [True, True, True, False, False]
    assert tun.select([3, 4]).responsive().tolist() == [False, False]  # layer kept
    assert tun.responsive(Responsiveness(fraction=0.1)).tolist() == [True] * 4 + [False]
    assert Tuning([0, 1, 2], resp, responsiveness=None).responsive().all()
    assert tun.selectivity()[3] == 0.0 and tun.fraction_selective(0.5) == 0.6
    with pytest.raises(TuningError, match=r"Responsiveness\(fraction=1.5\)"):
        Responsiveness(fraction=1.5)
