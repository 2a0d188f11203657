"""Benchmarks of stimulus generation: vectorised hue discs against the tutorial's PIL path."""

from __future__ import annotations

import pytest
import torch
from tests_support.tutorial_paths import pil_hue_discs

from actassert.stimuli import hue_disc

N_HUES, SIZE, RADIUS = 36, 224, 0.2
HUES = [i * 360.0 / N_HUES for i in range(N_HUES)]


@pytest.mark.benchmark(group="stimuli")
def test_bench_hue_disc_vectorised(benchmark) -> None:
    stimuli = benchmark(hue_disc, HUES, size=SIZE, radius=RADIUS)
    assert stimuli.images.shape == (N_HUES, 3, SIZE, SIZE)


@pytest.mark.benchmark(group="stimuli")
def test_bench_hue_disc_tutorial_pil(benchmark) -> None:
    images = benchmark(pil_hue_discs, HUES)
    assert images.shape == (N_HUES, 3, SIZE, SIZE)
    ours = hue_disc(HUES, size=SIZE, radius=RADIUS, background=128 / 255)
    pil_disc = (images != 128 / 255).any(dim=1)
    overlap = (pil_disc & ours.masks[:, 0]).sum() / (pil_disc | ours.masks[:, 0]).sum()
    assert float(overlap) > 0.97  # the same discs, up to PIL's rasterisation of the rim
    assert torch.allclose(images[:, :, 112, 112], ours.images[:, :, 112, 112], atol=1 / 255)
