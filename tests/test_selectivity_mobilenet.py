"""The tutorial's colour and size questions on ImageNet MobileNetV2 (real, offline weights).

Colour: discs of 24 hues, each as bright as the grey background (so brightness cannot pass for colour),
are shown to the network; each kernel's response is its mean over the disc's foreground, and a
kernel counts as colour selective when 1 − circular variance of its hue curve is at least 0.3.
Layers are taken after a ReLU6 (block outputs of MobileNetV2 are linear bottlenecks).

Size: white circles, squares and triangles of 10 sizes from 8 to 181 px (half-octave steps) on
grey; the response is again the mean over the shape's foreground, and a kernel's preferred size
is the peak of its curve averaged over the three shapes.
"""

import pytest

from actassert.assertions import assert_more_selective, assert_prefers_larger, assert_selective
from actassert.measures import sweep

DEPTHS = ["features.0", "features.2.conv.0", "features.4.conv.1", "features.7.conv.1",
          "features.11.conv.1", "features.14.conv.1", "features.17.conv.1", "features.18"]
MIN_INDEX = 0.3


@pytest.fixture(scope="module")
def hue_tunings(actassert_model, stimuli):
    net = actassert_model("mobilenet_v2", weights="IMAGENET1K_V1")
    discs = stimuli.hue_disc(range(0, 360, 15), size=net.input_size, radius=0.25,
                             luminance="matched")
    responses = sweep(net, discs, DEPTHS, reduce="foreground")
    tunings = {layer: responses.tuning("hue", layer) for layer in DEPTHS}
    print("\nMobileNetV2: colour-selective kernels (index >= 0.3) by depth")
    for layer, tuning in tunings.items():
        print(f"  {tuning.summary(MIN_INDEX)}")
    return tunings


def test_colour_kernels_exist_early(hue_tunings):
    assert_selective(hue_tunings["features.0"], min_index=MIN_INDEX, min_fraction=0.25)
    assert_selective(hue_tunings["features.2.conv.0"], min_index=MIN_INDEX, min_fraction=0.25)


@pytest.mark.parametrize("early, late", [
    ("features.2.conv.0", "features.14.conv.1"),
    ("features.4.conv.1", "features.17.conv.1"),
    ("features.0", "features.17.conv.1"),
])
def test_colour_kernels_are_more_common_early_than_in_deep_blocks(hue_tunings, early, late):
    assert_more_selective(hue_tunings[early], hue_tunings[late], min_index=MIN_INDEX, margin=0.1)


def test_colour_tuning_returns_in_the_last_expansion_layer(hue_tunings):
    # The 1280-wide layer feeding the classifier holds many hue-tuned units again.
    assert_more_selective(hue_tunings["features.18"], hue_tunings["features.17.conv.1"],
                          min_index=MIN_INDEX, margin=0.2)


SIZES = [round(8 * 2 ** (i / 2)) for i in range(10)]  # 8, 11, 16, ..., 181


@pytest.fixture(scope="module")
def size_tunings(actassert_model, stimuli):
    net = actassert_model("mobilenet_v2", weights="IMAGENET1K_V1")
    shown = stimuli.shapes(["circle", "square", "triangle"], SIZES, colour=1.0, background=0.5,
                           size=net.input_size)
    responses = sweep(net, shown, DEPTHS, reduce="foreground")
    tunings = {layer: responses.tuning("size", layer, scale="log") for layer in DEPTHS}
    print("\nMobileNetV2: preferred size (px) of size-tuned kernels (peak index >= 0.3) by depth")
    for layer, tuning in tunings.items():
        tuned = (tuning.selectivity() >= MIN_INDEX) & ~tuning.silent()
        preferred = tuning.preferred()[tuned]
        median = f"{preferred.median().item():.0f}" if tuned.any() else "-"
        print(f"  {layer:20s} {int(tuned.sum()):4d} of {tuning.kernels:4d} tuned, "
              f"median preferred size {median}")
    return tunings


@pytest.mark.parametrize("early, late", [
    ("features.2.conv.0", "features.11.conv.1"),
    ("features.4.conv.1", "features.17.conv.1"),
])
def test_preferred_size_grows_with_depth(size_tunings, early, late):
    assert_prefers_larger(size_tunings[early], size_tunings[late], min_index=MIN_INDEX, factor=2)
