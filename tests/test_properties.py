"""Property-based tests of planted kernels: what the README's property examples look like at scale."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as hs
from torch import nn

from actassert import Network, assert_deterministic, assert_prefers, sweep
from actassert import strategies as st
from actassert.stimuli import hue_disc

OPPONENT = torch.tensor([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])


def opponent_net() -> Network:
    """Three 1x1 colour-opponent kernels: K=000 red, K=001 green, K=002 blue."""
    conv = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(OPPONENT.view(3, 3, 1, 1))
    return Network(nn.Sequential(conv, nn.ReLU()), name="opponent", device="cpu")


def centre_surround_net() -> Network:
    """One 5x5 ON-centre difference of Gaussians (sums to zero), rectified."""
    offsets = torch.arange(5.0) - 2
    d2 = offsets[:, None] ** 2 + offsets[None] ** 2
    centre, surround = torch.exp(-d2 / (2 * 0.7**2)), torch.exp(-d2 / (2 * 2.0**2))
    kernel = centre / centre.sum() - surround / surround.sum()
    conv = nn.Conv2d(3, 1, 5, padding=2, padding_mode="replicate", bias=False)
    with torch.no_grad():
        conv.weight.copy_((kernel / 3).expand(1, 3, 5, 5))
    return Network(nn.Sequential(conv, nn.ReLU()), name="centre-surround", device="cpu")


OPPONENT_NET, CENTRE_SURROUND_NET = opponent_net(), centre_surround_net()


@settings(max_examples=15, deadline=None)
@given(x=hs.floats(0.3, 0.7), y=hs.floats(0.3, 0.7))
def test_a_planted_kernels_preferred_hue_does_not_depend_on_position(x, y):
    discs = hue_disc(range(0, 360, 30), size=32, radius=0.15, center=(x, y))
    tuning = sweep(OPPONENT_NET, discs, ["1"], reduce="foreground").tuning("hue", "1")
    for kernel, hue in ((0, 0), (1, 120), (2, 240)):
        assert_prefers(tuning, kernel, hue, tolerance=15)


@settings(max_examples=25, deadline=None)
@given(radius=hs.floats(0.05, 0.35))
def test_a_centre_surround_kernel_responds_more_to_larger_discs(radius):
    discs = hue_disc([0], radius=[radius, radius + 1.5 / 64], size=64)  # 1.5 px larger
    response = sweep(CENTRE_SURROUND_NET, discs, ["1"], reduce="mean")["1"][:, 0]
    assert response[1] > response[0]


@settings(max_examples=5, deadline=None)
@given(disc=st.hue_discs(size=32))
def test_any_disc_gives_the_same_activations_on_every_run(actassert_model, disc):
    assert_deterministic(actassert_model("resnet18", weights=None), disc.images)
