"""The public names of the package: complete, importable, and lazily loaded."""

import actassert

EXPECTED = {
    "Activations", "ActAssertError", "LayerNotFoundError", "ModelNotFoundError", "Network",
    "Responses", "Stimuli", "Tuning", "WeightsUnavailableError", "__version__",
    "assert_deterministic", "assert_eval_mode", "assert_more_selective", "assert_not_selective",
    "assert_prefers", "assert_prefers_larger", "assert_selective", "assert_shape", "assertions", "errors", "layers",
    "list_layers", "load_model", "measures", "models", "record", "recording", "stimuli", "sweep",
    "tuning", "strategies", "bench",
    "assert_batch_invariant", "assert_hooks_transparent", "deterministic", "determinism",
    "invariance", "Responsiveness", "assert_more_selective_than_control",
}


def test_all_is_exactly_the_public_api():
    assert set(actassert.__all__) == EXPECTED


def test_every_public_name_resolves():
    for name in actassert.__all__:
        assert getattr(actassert, name) is not None, name


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        actassert.nope  # noqa: B018


def test_design_card_example_runs():
    import actassert as aa

    net = aa.load_model("resnet18", weights=None, device="cpu")
    hues = aa.stimuli.hue_disc(hues=range(0, 360, 30), size=64, radius=0.2)
    resp = aa.sweep(net, hues, ["maxpool", "layer4"], reduce="foreground")
    tun = aa.Tuning(hues.params["hue"], resp["maxpool"], circular=360)
    assert tun.kernels == 64 and resp["layer4"].shape == (12, 512)
