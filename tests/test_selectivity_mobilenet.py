"""The tutorial's colour question on ImageNet MobileNetV2 (real, offline weights).

Discs of 24 hues, each as bright as the grey background (so brightness cannot pass for colour),
are shown to the network; each kernel's response is its mean over the disc's foreground, and a
kernel counts as colour selective when 1 − circular variance of its hue curve is at least 0.3.
Layers are taken after a ReLU6 (block outputs of MobileNetV2 are linear bottlenecks).
"""

import pytest

from actassert.assertions import assert_more_selective, assert_selective
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
