"""Paired, interleaved timing (actassert._support.paired): ratios, confidence of the median, precision."""

from __future__ import annotations

import itertools
import random

import pytest

from actassert._support.paired import median_interval, paired_ratio


def _scripted_timer(times: dict[str, list[float]]):
    """A timer that returns preset durations per function, and a log of the call order."""
    order: list[str] = []
    feeds = {name: iter(values) for name, values in times.items()}

    def timer(fn) -> float:
        name = fn()
        order.append(name)
        return next(feeds[name])
    return timer, order


def test_rounds_alternate_their_order_so_drift_cancels():
    # The machine slows down by 1% every call; B costs exactly 1.1 A. Pairs in a fixed order would
    # overstate B; alternated, the median ratio is the true one to within the drift of one call.
    drift = (1.01 ** i for i in itertools.count())
    log: list[str] = []

    def timer(fn) -> float:
        name = fn()
        log.append(name)
        return (1.1 if name == "b" else 1.0) * next(drift)

    result = paired_ratio(lambda: "a", lambda: "b", rounds=10, warmup=0, timer=timer)
    assert log[:4] == ["a", "b", "b", "a"]
    assert result.rounds == 10
    assert result.ratio == pytest.approx(1.1, abs=0.012)


def test_the_median_interval_is_the_order_statistics_of_the_binomial():
    values = [float(v) for v in range(1, 11)]
    assert median_interval(values) == (2.0, 9.0)  # exact binomial: ranks 2 and 9 of 10 (97.9%)
    assert median_interval(values[:8]) == (1.0, 8.0)  # too few for 95%: the whole range
    assert median_interval([3.0]) == (3.0, 3.0)
    with pytest.raises(ValueError, match="at least one"):
        median_interval([])


def test_the_interval_covers_the_true_median_about_95_percent_of_the_time():
    rng = random.Random(0)
    hits = sum(lo <= 0.0 <= hi for lo, hi in
               (median_interval([rng.gauss(0, 1) for _ in range(41)]) for _ in range(2000)))
    assert 0.93 <= hits / 2000 <= 0.99


def test_precision_adds_rounds_until_the_median_is_known_well_enough():
    rng = random.Random(1)
    noisy = {"a": [1.0] * 1000, "b": [1.05 + rng.gauss(0, 0.05) for _ in range(1000)]}
    timer, _ = _scripted_timer(noisy)
    coarse = paired_ratio(lambda: "a", lambda: "b", rounds=10, warmup=0, timer=timer)
    timer, _ = _scripted_timer(noisy)
    fine = paired_ratio(lambda: "a", lambda: "b", rounds=10, warmup=0, timer=timer,
                        precision=0.01, max_rounds=400)
    assert coarse.rounds == 10 and coarse.ci_half_width > 0.01
    assert 10 < fine.rounds < 400 and fine.ci_half_width <= 0.01
    assert fine.ci_low <= 1.05 <= fine.ci_high
    assert "95% CI" in str(fine)


def test_max_rounds_bounds_a_precision_that_cannot_be_reached():
    rng = random.Random(2)
    timer, _ = _scripted_timer({"a": [1.0] * 100, "b": [rng.uniform(0.5, 1.5) for _ in range(100)]})
    result = paired_ratio(lambda: "a", lambda: "b", rounds=5, warmup=0, timer=timer,
                          precision=0.001, max_rounds=30)
    assert result.rounds == 30


@pytest.mark.parametrize("kwargs, message", [({"rounds": 0}, "rounds=0"),
                                             ({"rounds": True}, "rounds=True"),
                                             ({"precision": 0}, "precision=0")])
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        paired_ratio(lambda: None, lambda: None, **kwargs)
