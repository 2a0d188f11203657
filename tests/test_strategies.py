"""Hypothesis strategies over stimulus parameters, and a property-based selectivity test."""

import pytest
import torch
from hypothesis import assume, given, settings
from torch import nn

from actassert import Network, record
from actassert import strategies as st
from actassert.errors import StimulusError


@settings(max_examples=25, deadline=None)
@given(disc=st.hue_discs(size=32))
def test_hue_discs_are_one_valid_disc_on_grey(disc):
    assert len(disc) == 1 and 0 <= disc.params["hue"].item() < 360
    outside = disc.images[~disc.masks.expand_as(disc.images)]
    assert torch.all(outside == 0.5) and disc.masks.any()


@settings(max_examples=25, deadline=None)
@given(shape=st.shape_stimuli(kinds=["square"], min_size=4, max_size=20, image_size=32))
def test_shape_stimuli_respect_their_bounds(shape):
    assert 4 <= shape.params["size"].item() <= 20
    assert shape.categories["kind"][int(shape.params["kind"])] == "square"


@settings(max_examples=15, deadline=None)
@given(grating=st.grating_stimuli(size=32))
def test_gratings_stay_within_their_contrast(grating):
    assert 0 <= grating.params["orientation"].item() < 180
    assert 1 <= grating.params["spatial_frequency"].item() <= 8
    assert grating.images.min() >= 0.0 and grating.images.max() <= 1.0 and grating.masks.all()


OPPONENT = torch.tensor([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])


@pytest.fixture(scope="module")
def opponent_net():
    conv = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(OPPONENT.view(3, 3, 1, 1))
    return Network(nn.Sequential(conv), name="opponent", device="cpu")


@settings(max_examples=30, deadline=None)
@given(disc=st.hue_discs(size=32, luminance=["free"]))
def test_the_winning_opponent_kernel_names_the_discs_hue_sector(opponent_net, disc):
    with record(opponent_net, ["0"]) as acts:
        opponent_net(disc.images)
    inside = acts["0"][0][:, disc.masks[0, 0]].mean(dim=1)
    hue = disc.params["hue"].item()
    assume(min(abs(hue % 120 - 60), 60) > 0.5)  # halfway between two primaries both kernels tie
    nearest = min(range(3), key=lambda k: min(abs(hue - 120 * k), 360 - abs(hue - 120 * k)))
    assert int(inside.argmax()) == nearest


@settings(max_examples=5, deadline=None)
@given(disc=st.hue_discs(size=32, luminance="matched"))
def test_one_luminance_mode_is_a_string_as_hue_disc_takes_it(disc):
    from actassert.stimuli import hue_disc

    hue, radius = disc.params["hue"].item(), disc.params["radius"].item()
    same = hue_disc([hue], size=32, radius=radius, luminance="matched")
    assert torch.equal(disc.images, same.images)


@pytest.mark.parametrize("call, message", [
    (lambda: st.hue_discs(min_radius=0.4, max_radius=0.2), "min_radius=0.4 is larger than max_radius=0.2"),
    (lambda: st.hue_discs(max_radius=0.7), "max_radius=0.7 is outside"),
    (lambda: st.hue_discs(luminance=["bright"]), "luminance=('bright',)"),
    (lambda: st.hue_discs(luminance="bright"), "luminance='bright' must name"),
    (lambda: st.shape_stimuli(kinds=["hexagon"]), "kinds=('hexagon',)"),
    (lambda: st.shape_stimuli(min_size=70, image_size=64), "min_size=70 is outside"),
    (lambda: st.grating_stimuli(min_frequency=float("nan")), "min_frequency=nan must be a number"),
])
def test_bad_bounds_are_quoted(call, message):
    with pytest.raises(StimulusError, match=__import__("re").escape(message)):
        call()


# -- failing properties: the shrunk example's figures and a readable example ------------------------

FALSE_PROPERTY = """
import torch
from hypothesis import given, settings
from torch import nn

from actassert import Network, record
from actassert import strategies as st

conv = nn.Conv2d(3, 1, 1)
with torch.no_grad():
    conv.weight.copy_(torch.tensor([1.0, -0.5, -0.5]).view(1, 3, 1, 1))  # red minus the rest
    conv.bias.zero_()
net = Network(nn.Sequential(conv, nn.ReLU()), name="planted", device="cpu")


@settings(max_examples=40, deadline=None, database=None)
@given(disc=st.hue_discs(size=32, luminance=["free"]))
def test_red_kernel_never_responds(disc):
    with record(net, ["1"]) as acts:
        net(disc.images)
    assert acts["1"].max() <= 0, "the red kernel responded"
"""


def test_a_false_property_leaves_only_the_shrunk_examples_figures(pytester):
    pytester.makepyfile(test_false=FALSE_PROPERTY)
    result = pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider",
                                "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_red_kernel_never_responds(",  # Hypothesis' example
                                 "*disc=Stimuli(n=1, 32x32 px, hue=[[]*[]], radius=[[]*[]], *"])
    folders = [p for p in (pytester.path / "actassert-results").iterdir() if p.is_dir()]
    assert len(folders) == 1
    figures = sorted(p.name for p in folders[0].glob("*.png"))
    assert figures == ["grid-planted-1.png", "input-planted.png"]  # one example, not 16 figures


def test_small_stimulus_sets_show_their_parameters():
    from hypothesis.vendor.pretty import pretty

    from actassert.stimuli import hue_disc, shapes

    disc = hue_disc([210.5], radius=0.31, size=16)
    assert repr(disc).startswith("Stimuli(n=1, 16x16 px, hue=[210.5], radius=[0.31], ")
    assert pretty(disc) == repr(disc)
    assert repr(shapes(["circle", "square"], [8], size=16)) == \
        "Stimuli(n=2, 16x16 px, kind=[circle, square], size=[8, 8], device=cpu)"


def test_the_actassert_profile_is_selectable(pytester):
    pytester.makepyfile("""
        from hypothesis import settings

        def test_profile():
            assert settings.get_current_profile_name() == "actassert"
            assert settings.default.deadline is None and settings.default.max_examples == 25
    """)
    result = pytester.runpytest_subprocess("--hypothesis-profile=actassert", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
