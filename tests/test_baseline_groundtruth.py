"""Ground truth for the baseline, responsiveness, colour-vs-grey, orientation and receptive fields.

Planted networks whose answers are known by construction:

- a colour layer of 1x1 kernels behind a ReLU: strong colour-opponent kernels, a weak sparse
  responder (a red-opponent kernel at 5% of their gain, above the old 1% silent floor) and a
  near-luminance kernel (weights close to Rec. 601 luma);
- a Gabor kernel of known orientation and spatial frequency;
- stacks of convolutions and poolings whose theoretical receptive field is computed by hand.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from actassert import Network, Responsiveness
from actassert.assertions import (
    assert_more_selective_than_control,
    assert_not_selective,
    assert_selective,
)
from actassert.errors import StimulusError, TuningError
from actassert.measures import sweep
from actassert.receptive_field import receptive_fields
from actassert.stimuli import gratings, hue_disc
from actassert.tuning import Tuning
from actassert.tutorial import Design
from actassert.tutorial.analysis import (
    best_frequency_tuning,
    orientation_by_frequency,
    phase_maximum,
)
from actassert.tutorial.measure import colour_selectivity

SIDE = 32
HUES = list(range(0, 360, 15))
OPPONENT = [[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]]
WEAK = 3  # 5% of a red-opponent kernel: answers weakly to red and not at all to other hues
NEAR_LUMA = 4  # luma with a red tilt: on matched discs a small hue ripple, on grey a big answer


class PlantedColour(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 1, bias=False)
        self.relu = nn.ReLU()
        with torch.no_grad():
            tilt = [0.299 + 0.2, 0.587 - 0.1, 0.114 - 0.1]  # luma + 20% of red-opponent
            weights = [*OPPONENT, [0.05 * w for w in OPPONENT[0]], tilt]
            self.conv.weight.copy_(torch.tensor(weights).view(5, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


@pytest.fixture(scope="module")
def planted():
    return Network(PlantedColour(), name="planted-colour", device="cpu")


@pytest.fixture(scope="module")
def matched(planted):
    discs = hue_disc(HUES, size=SIDE, radius=0.25, luminance="matched")
    return sweep(planted, discs, ["relu"], reduce="foreground", baseline=True).tuning("hue", "relu")


def test_weak_sparse_responder_is_not_selective(planted, matched):
    """Fails before the responsiveness criterion: the weak kernel's curve has the shape of the
    strong one, so its circular variance alone calls it just as selective."""
    assert_selective(matched, [0, 1, 2], min_index=0.3)
    assert_not_selective(matched, [WEAK], max_index=0.3)
    assert matched.responsive().tolist()[:4] == [True, True, True, False]


def test_weak_responder_is_still_found_without_the_criterion(matched):
    """The weak kernel's raw index is high: the criterion, not the index, rejects it."""
    hues = matched.values
    raw = Tuning(hues, matched.curves, circular=360.0, baseline=matched.baseline[0],
                 responsiveness=None)
    assert float(raw.selectivity()[WEAK]) > 0.3 and bool(raw.responsive()[WEAK])
    strict = Responsiveness(fraction=0.01)
    assert bool(matched.responsive(strict)[WEAK])


def test_blank_is_the_sets_own_background(planted, matched):
    discs = hue_disc(HUES, size=SIDE, radius=0.25, luminance="matched")
    assert discs.background == (0.5, 0.5, 0.5)
    grey = planted(discs.blank())
    assert torch.allclose(matched.baseline[0], grey.mean(dim=(2, 3))[0].double(), atol=1e-6)
    with pytest.raises(Exception, match="no known background"):
        sweep(planted, type(discs)(discs.images, discs.masks, discs.params), ["relu"],
              baseline=True)


def test_luminance_kernel_on_matched_discs_is_not_colour_selective(planted):
    design = Design(side=SIDE, hues=len(HUES), disc_radius=0.25)
    responses = sweep(planted, design.colour_set(), ["relu"], reduce="foreground",
                      baseline=True)
    tuning, versus, selective = colour_selectivity(responses, "relu", design)
    assert selective.tolist() == [True, True, True, False, False]
    # the near-luma kernel is responsive and hue-tuned on matched discs, yet grey drives it more
    assert bool(tuning.responsive()[NEAR_LUMA]) and float(tuning.selectivity()[NEAR_LUMA]) > 0.3
    assert float(versus[NEAR_LUMA]) < 0.5 and bool((versus[:3] > 0.9).all())


def test_trained_layer_beats_its_control_by_fishers_exact_test(matched):
    control = Tuning(matched.values, matched.curves[:, [3, 4, 3, 4, 3]], circular=360.0,
                     parameter="hue", layer="relu", baseline=matched.baseline[0, [3, 4, 3, 4, 3]])
    big = Tuning(matched.values, matched.curves[:, [0, 1, 2] * 6], circular=360.0,
                 parameter="hue", layer="relu")
    small = Tuning(matched.values, torch.ones(len(matched.values), 18), circular=360.0,
                   parameter="hue", layer="relu")
    assert_more_selective_than_control(big, small, min_index=0.3)
    with pytest.raises(AssertionError, match="one-sided Fisher's exact test") as info:
        assert_more_selective_than_control(control, big, min_index=0.3)
    assert "untrained" in str(info.value) and "%" in str(info.value)


PLANTED_ORIENTATION, PLANTED_FREQUENCY = 45.0, 8.0  # degrees; cycles per 64-px image


class PlantedGabor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 25, padding=12, bias=False)
        self.relu = nn.ReLU()
        half = torch.arange(25.0) - 12
        y, x = torch.meshgrid(half, half, indexing="ij")
        with torch.no_grad():
            for k, angle in enumerate((PLANTED_ORIENTATION, PLANTED_ORIENTATION + 90)):
                theta = torch.deg2rad(torch.tensor(angle))
                u = x * torch.cos(theta) - y * torch.sin(theta)
                wave = torch.cos(2 * torch.pi * PLANTED_FREQUENCY * u / 64)
                gabor = wave * torch.exp(-(x ** 2 + y ** 2) / (2 * 5.0 ** 2))
                self.conv.weight[k] = (gabor - gabor.mean()).expand(3, -1, -1) / 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


@pytest.fixture(scope="module")
def grating_responses():
    net = Network(PlantedGabor(), name="planted-gabor", device="cpu")
    shown = gratings(range(0, 180, 15), [2.0, 8.0, 31.0], [0, 90, 180, 270], size=64)
    return sweep(net, shown, ["relu"], reduce="centre", baseline=True)


def test_oriented_kernel_is_selective_at_its_frequency_only(grating_responses):
    by_frequency = orientation_by_frequency(grating_responses, "relu")
    at_planted = by_frequency[PLANTED_FREQUENCY]
    assert float(at_planted.selectivity()[0]) > 0.5
    assert float(at_planted.preferred()[0]) == PLANTED_ORIENTATION
    for other in (2.0, 31.0):  # a faint, still oriented answer: unresponsive, so not selective
        assert not bool(by_frequency[other].responsive()[0])
        assert float(by_frequency[other].selectivity()[0]) == 0.0
    tuning, frequency = best_frequency_tuning(grating_responses, "relu")
    assert frequency.tolist() == [PLANTED_FREQUENCY, PLANTED_FREQUENCY]
    assert tuning.preferred().tolist() == [PLANTED_ORIENTATION, PLANTED_ORIENTATION + 90]


def test_phase_maximum_keeps_a_simple_cell_that_averaging_loses(grating_responses):
    """At the centre a simple-cell-like kernel answers one phase: the mean over the four phases
    is a quarter to a half of the maximum, so averaging them would shrink its tuning."""
    freqs, oris, best, _ = phase_maximum(grating_responses, "relu")
    at = (freqs == PLANTED_FREQUENCY) & (oris == PLANTED_ORIENTATION)
    params = grating_responses.params
    rows = (params["spatial_frequency"] == PLANTED_FREQUENCY) & \
        (params["orientation"] == PLANTED_ORIENTATION)
    mean = grating_responses["relu"][rows, 0].double().mean()
    assert float(best[at, 0]) > 1.9 * float(mean)


class Branches(nn.Module):
    """conv 5 -> max pool 2/2 -> (conv 3 dilation 2) + identity -> functional avg pool 3/2."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.b = nn.Conv2d(4, 4, 3, padding=2, dilation=2)
        self.c = nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.a(x))
        x = x + self.b(x)
        return self.c(F.avg_pool2d(x, 3, 2, padding=1))


def test_planted_receptive_fields_are_exact():
    # by hand: a 5 (jump 1); pool +1 = 6 (jump 2); b +2*2*2 = 14; avg pool +2*2 = 18 (jump 4);
    # c +2*4 = 26 (jump 8)
    fields = receptive_fields(Branches(), ["a", "pool", "b", "c"], side=64)
    assert fields == {"a": 5.0, "pool": 6.0, "b": 14.0, "c": 26.0}


def test_receptive_field_matches_the_gradient_support():
    """A purely linear stack (positive weights): the input pixels reaching the centre unit are
    exactly the theoretical field."""
    net = nn.Sequential(nn.Conv2d(1, 1, 5, bias=False), nn.AvgPool2d(2),
                        nn.Conv2d(1, 1, 3, dilation=3, bias=False))
    for m in net:
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 1.0)
    image = torch.ones(1, 1, 64, 64, requires_grad=True)
    out = net(image)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (image.grad[0, 0].abs().sum(dim=1) > 0).nonzero().flatten()
    support = int(rows.max() - rows.min() + 1)
    wrapped = nn.Sequential(nn.Conv2d(3, 1, 1), *net)  # the 1x1 conv adds nothing
    assert receptive_fields(wrapped, ["3"], side=64)["3"] == support == 18


def test_mobilenet_v2_receptive_fields_match_the_hand_computation():
    import actassert as aa

    net = aa.load_model("mobilenet_v2", weights=None, device="cpu")
    blocks = [f"features.{i}" for i in (0, 1, 2, 3, 4, 5, 6, 7, 10, 13, 14, 16, 17, 18)]
    expected = [3, 7, 11, 19, 27, 43, 59, 75, 171, 267, 299, 427, 491, 491]
    assert list(receptive_fields(net, blocks).values()) == expected
    assert receptive_fields(net, ["classifier.1"])["classifier.1"] is None


def test_blank_arguments_are_checked(planted):
    discs = hue_disc(HUES[:4], size=SIDE, radius=0.25, luminance="matched")
    with pytest.raises(Exception, match="one-shot generator"):
        sweep(planted, (b for b in [discs]), ["relu"], baseline=True)
    with pytest.raises(Exception, match="baseline=2 is not True"):
        sweep(planted, discs, ["relu"], baseline=2)
    listed = sweep(planted, [discs[:2], discs[2:]], ["relu"], baseline=True)
    assert listed.baseline["relu"].shape == (4, 5)
    dark = sweep(planted, discs, ["relu"], baseline=0.2).baseline["relu"]
    assert torch.allclose(dark[0], planted(torch.full((1, 3, SIDE, SIDE), 0.2)).mean((2, 3))[0])


def test_a_set_without_background_is_refused_before_any_forward(planted):
    discs = hue_disc(HUES, size=SIDE, radius=0.25, luminance="matched")
    bare = type(discs)(discs.images, discs.masks, discs.params)
    forwards: list[int] = []
    handle = planted.module.register_forward_pre_hook(lambda module, args: forwards.append(1))
    try:
        for stimuli in (bare, [bare[:2], bare[2:]]):
            with pytest.raises(StimulusError, match="no known background"):
                sweep(planted, stimuli, ["relu"], baseline=True)
    finally:
        handle.remove()
    assert forwards == [], "the missing background is found before the sweep runs the network"


def test_control_check_refuses_a_bad_alpha_and_a_different_parameter(matched):
    trained = Tuning(matched.values, matched.curves, circular=360.0, parameter="hue",
                     layer="relu")
    for alpha in (0, 1, 1.5, True):
        with pytest.raises(TuningError, match=r"is not a significance level in \(0, 1\)"):
            assert_more_selective_than_control(trained, trained, min_index=0.3, alpha=alpha)
    sizes = Tuning([8.0, 16.0, 32.0], torch.rand(3, trained.kernels), parameter="size",
                   layer="relu")
    with pytest.raises(TuningError, match="sweep the same stimuli through both networks"):
        assert_more_selective_than_control(trained, sizes, min_index=0.3)
