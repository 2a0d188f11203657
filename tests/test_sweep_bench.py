"""Benchmarks of sweep against a plain forward of the same images, and of hook overhead.

Run the timings with ``bash scripts/bench.sh`` (pytest-benchmark enabled); in the default test
run they execute once each, as plain tests.
"""

import pytest
import torch

from actassert.bench import forward_fn, sweep_fn

LAYERS = ["features.1", "features.4.conv.1", "features.7.conv.1"]


@pytest.fixture(scope="module")
def mobilenet(actassert_model):
    return actassert_model("mobilenet_v2", weights="IMAGENET1K_V1")


@pytest.fixture(scope="module")
def discs(mobilenet, stimuli):
    return stimuli.hue_disc(range(0, 360, 10), size=mobilenet.input_size)


@pytest.mark.benchmark(group="sweep-36-hues")
def test_plain_forward(benchmark, mobilenet, discs):
    out = benchmark(forward_fn(mobilenet, discs.images))
    assert out.shape == (36, 1000)


@pytest.mark.benchmark(group="sweep-36-hues")
def test_sweep_three_early_layers_foreground(benchmark, mobilenet, discs):
    resp = benchmark(sweep_fn(mobilenet, discs, LAYERS, reduce="foreground", batch_size=36))
    assert resp["features.7.conv.1"].shape == (36, 192)


@pytest.mark.benchmark(group="sweep-36-hues")
def test_sweep_classifier_mean(benchmark, mobilenet, discs):
    resp = benchmark(sweep_fn(mobilenet, discs, ["classifier"], batch_size=36))
    assert resp["classifier"].shape == (36, 1000)


@pytest.mark.benchmark(group="hook-overhead")
@pytest.mark.parametrize("layers", [None, ["features.18"], "all"], ids=["none", "one", "all"])
def test_hook_overhead(benchmark, mobilenet, layers):
    from actassert import list_layers

    chosen = list_layers(mobilenet) if layers == "all" else layers
    images = torch.rand(8, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    benchmark(forward_fn(mobilenet, images, layers=chosen))
