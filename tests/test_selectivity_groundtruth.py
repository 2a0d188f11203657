"""Ground truth: a network with hand-set filters whose colour and size preferences are known.

The colour layer has 1×1 kernels: red (R − (G+B)/2), green, blue, and an achromatic luma kernel
(0.299 R + 0.587 G + 0.114 B). The size layer has centre-surround kernels covering the whole
image: +1 spread over a disc of the planted diameter, −1 spread over the ring out to twice that
diameter, so a centred disc drives it most when its diameter equals the planted one.
"""

import pytest
import torch
from torch import nn

from actassert import Network
from actassert.assertions import (
    assert_more_selective,
    assert_not_selective,
    assert_prefers,
    assert_selective,
)
from actassert.measures import sweep
from actassert.stimuli import hue_disc, shapes

SIDE = 64
PLANTED_SIZES = (8.0, 20.0)
HUES = list(range(0, 360, 10))
LUMA = (0.299, 0.587, 0.114)


class Planted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.colour = nn.Conv2d(3, 4, 1, bias=False)
        self.size = nn.Conv2d(3, len(PLANTED_SIZES), SIDE, bias=False)
        with torch.no_grad():
            self.colour.weight.copy_(torch.tensor([
                [1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0], list(LUMA),
            ]).view(4, 3, 1, 1))
            for k, diameter in enumerate(PLANTED_SIZES):
                inner = shapes("circle", [diameter], size=SIDE).masks[0, 0].float()
                outer = shapes("circle", [2 * diameter], size=SIDE).masks[0, 0].float() - inner
                centre_surround = inner / inner.sum() - outer / outer.sum()
                self.size.weight[k] = centre_surround.expand(3, -1, -1) / 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.colour(x).mean(dim=(2, 3)), self.size(x).flatten(1)], dim=1)


@pytest.fixture(scope="module")
def planted():
    return Network(Planted(), name="planted", device="cpu")  # images go in unnormalised


def _hue_tuning(net, luminance):
    discs = hue_disc(HUES, size=SIDE, radius=0.25, luminance=luminance)
    return sweep(net, discs, ["colour"], reduce="foreground").tuning("hue", "colour")


@pytest.fixture(scope="module")
def hue_tuning(planted):
    """Fully saturated HSV discs: the planted opponent kernels peak at pure red, green, blue."""
    return _hue_tuning(planted, "free")


@pytest.fixture(scope="module")
def matched_tuning(planted):
    """Discs as bright as the background: only colour, not brightness, can drive a kernel."""
    return _hue_tuning(planted, "matched")


@pytest.mark.parametrize("kernel, hue", [(0, 0.0), (1, 120.0), (2, 240.0)])
def test_colour_kernels_prefer_their_planted_hue(hue_tuning, kernel, hue):
    assert_prefers(hue_tuning, kernel, hue, tolerance=10.0)  # one sweep step
    assert_selective(hue_tuning, [kernel], min_index=0.5)


def test_achromatic_kernel_is_not_colour_selective(matched_tuning):
    assert_not_selective(matched_tuning, [3], max_index=0.01)
    assert_selective(matched_tuning, [0, 1, 2], min_index=0.5)


def test_brightness_masquerades_as_colour_without_luminance_matching(hue_tuning):
    assert hue_tuning.selectivity()[3] > 0.1   # the luma kernel now "prefers" yellow
    assert_prefers(hue_tuning, 3, 60.0, tolerance=10.0)


def test_opponent_kernels_are_more_selective_than_the_luma_kernel(matched_tuning):
    assert_more_selective(matched_tuning.select([0, 1, 2]), matched_tuning.select([3]),
                          min_index=0.3)


@pytest.fixture(scope="module")
def size_tuning(planted):
    sizes = [float(s) for s in range(2, 42, 2)]
    discs = shapes("circle", sizes, colour=1.0, background=0.5, size=SIDE)
    return sweep(planted, discs, ["size"]).tuning("size", "size")


@pytest.mark.parametrize("kernel, diameter", list(enumerate(PLANTED_SIZES)))
def test_size_kernels_prefer_their_planted_size(size_tuning, kernel, diameter):
    assert_prefers(size_tuning, kernel, diameter, tolerance=0.0)
    assert_selective(size_tuning, [kernel], min_index=0.9)


def test_size_preference_fails_loudly_when_wrong(size_tuning):
    with pytest.raises(AssertionError) as info:
        assert_prefers(size_tuning, 0, 30.0, tolerance=2.0)
    message = str(info.value)
    assert "K=000" in message and "size" in message and "8" in message


class WeakResponder(nn.Module):
    """Behind a ReLU: three strong colour-opponent kernels and a weak, sparse responder (a
    red-opponent kernel at 5% of their gain: above the 1% silent floor, far under their peaks)."""

    def __init__(self) -> None:
        super().__init__()
        self.colour = nn.Conv2d(3, 4, 1, bias=False)
        self.relu = nn.ReLU()
        opponent = [[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]]
        with torch.no_grad():
            self.colour.weight.copy_(torch.tensor([*opponent, [0.05 * w for w in opponent[0]]])
                                     .view(4, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.colour(x))


def test_weak_sparse_responder_is_not_counted_as_selective():
    """Its curve has the strong red kernel's shape, so circular variance alone calls it just as
    selective; the responsiveness criterion (15% of the layer's median peak) leaves it out."""
    net = Network(WeakResponder(), name="weak-responder", device="cpu")
    discs = hue_disc(HUES, size=SIDE, radius=0.25, luminance="matched")
    tuning = sweep(net, discs, ["relu"], reduce="foreground").tuning("hue", "relu")
    assert_selective(tuning, [0, 1, 2], min_index=0.5)
    assert_not_selective(tuning, [3], max_index=0.3)
    assert tuning.fraction_selective(0.3) == 0.75
