"""Wilson intervals and Fisher's exact test against values computed by SciPy and by hand."""

import math

import pytest

from actassert.proportions import Share, fisher_exact, wilson


def test_wilson_interval_known_values():
    low, high = wilson(12, 32)
    assert (low, high) == pytest.approx((0.229339, 0.547456), abs=1e-6)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    assert wilson(0, 10)[1] == pytest.approx(0.277533, abs=1e-6)  # not empty at 0%
    assert wilson(0, 0) == (0.0, 1.0)


def test_fisher_exact_matches_scipy():
    # scipy.stats.fisher_exact([[3, 7], [9, 1]], alternative=...) gives these
    assert fisher_exact(3, 10, 9, 10) == pytest.approx(0.019767, abs=1e-6)
    assert fisher_exact(3, 10, 9, 10, "less") == pytest.approx(0.009883, abs=1e-6)
    assert fisher_exact(3, 10, 9, 10, "greater") == pytest.approx(0.999643, abs=1e-6)
    total = sum(math.comb(10, x) * math.comb(10, 12 - x) for x in range(2, 11))
    assert fisher_exact(3, 10, 9, 10, "less") == pytest.approx(
        sum(math.comb(10, x) * math.comb(10, 12 - x) for x in (2, 3)) / total)
    with pytest.raises(ValueError, match="alternative='bigger'"):
        fisher_exact(1, 2, 1, 2, "bigger")


def test_share_text_and_list():
    share = Share(12, 32)
    assert share.text() == "38% [23–55]"
    assert share.as_list() == pytest.approx([0.375, 0.229339, 0.547456], abs=1e-6)
