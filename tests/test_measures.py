"""sweep() and the tutorial's reductions: whole map, foreground, threshold, centre."""

import pytest
import torch
from torch import nn

import actassert as aa
from actassert import evidence
from actassert.measures import SweepError, reduce_maps, sweep
from actassert.recording import record
from actassert.stimuli import hue_disc, shapes


@pytest.fixture(scope="module")
def resnet():
    return aa.load_model("resnet18", weights=None, device="cpu")


@pytest.fixture(scope="module")
def discs():
    return hue_disc(range(0, 360, 45), size=64, radius=0.25)


def test_sweep_equals_reducing_a_full_recording(resnet, discs):
    resp = sweep(resnet, discs, ["layer1", "layer2.0.relu", "fc"], batch_size=3)
    with record(resnet, ["layer1", "layer2.0.relu", "fc"]) as acts:
        resnet(discs.images)
    torch.testing.assert_close(resp["layer1"], acts["layer1"].mean(dim=(2, 3)))
    torch.testing.assert_close(resp["layer2.0.relu#1"], acts["layer2.0.relu#1"].mean(dim=(2, 3)))
    torch.testing.assert_close(resp["fc"], acts["fc"])
    assert resp["layer1"].device.type == "cpu" and resp["layer1"].shape == (8, 64)
    assert torch.equal(resp.params["hue"], discs.params["hue"])


@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_batching_does_not_change_the_result(resnet, discs, batch_size):
    ref = sweep(resnet, discs, ["layer2"], reduce="median", batch_size=8)
    got = sweep(resnet, discs, ["layer2"], reduce="median", batch_size=batch_size)
    torch.testing.assert_close(got["layer2"], ref["layer2"])


def test_median_and_threshold_by_hand():
    maps = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    assert torch.equal(reduce_maps(maps, None, "median"), maps.flatten(2).median(2).values)
    share = reduce_maps(maps, None, "threshold", level=20.0)
    assert share[0, 1].item() == pytest.approx(11 / 16)  # values 16..31, above 20: 21..31
    per_kernel = reduce_maps(maps, None, "threshold", level=torch.tensor([0.0, 100.0, 40.0]))
    assert per_kernel[0].tolist() == [15 / 16, 0.0, 7 / 16]  # kernel 2 holds 32..47


def test_foreground_mean_uses_the_mask_resized_by_area():
    maps = torch.zeros(1, 1, 4, 4)
    maps[0, 0, :2, :2] = 1.0          # the map is 1 exactly where the stimulus is
    masks = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    masks[0, 0, :4, :4] = True
    assert reduce_maps(maps, masks, "foreground").item() == pytest.approx(1.0)
    assert reduce_maps(maps, masks, "mean").item() == pytest.approx(0.25)
    half = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    half[0, 0, :4, :2] = True          # covers half of each of the top-left cells' patches
    assert reduce_maps(maps, half, "foreground").item() == pytest.approx(1.0)
    with pytest.raises(SweepError, match="empty mask"):
        reduce_maps(maps, torch.zeros_like(masks), "foreground")


def test_relative_threshold_uses_each_kernels_maximum_over_the_sweep(resnet, discs):
    resp = sweep(resnet, discs, ["layer1"], reduce="threshold", threshold="100%")
    with record(resnet, ["layer1"]) as acts:
        resnet(discs.images)
    peak = acts["layer1"].amax(dim=(0, 2, 3))
    assert torch.all(resp["layer1"] == 0)  # nothing lies above the maximum itself
    half = sweep(resnet, discs, ["layer1"], reduce="threshold", threshold="50%", batch_size=3)
    expected = (acts["layer1"] > 0.5 * peak.view(1, -1, 1, 1)).float().mean(dim=(2, 3))
    torch.testing.assert_close(half["layer1"], expected)


def test_streamed_batches_and_custom_reduction(resnet):
    batches = (hue_disc([h, h + 30], size=32) for h in range(0, 360, 60))
    resp = sweep(resnet, batches, "layer3", reduce=lambda maps, masks: maps.amax(dim=(2, 3)))
    assert resp["layer3"].shape == (12, 256)
    assert resp.params["hue"].tolist() == [float(h) for h in range(0, 360, 30)]


def test_sweep_stops_after_the_deepest_layer(resnet, discs):
    from actassert import recording

    recording._QUOTAS.pop(resnet.module, None)  # as if this network had never been swept
    calls = []
    handle = resnet.module.fc.register_forward_hook(lambda *a: calls.append(1))
    try:
        sweep(resnet, discs, ["layer1"], batch_size=2)
        assert calls == [1]  # only a one-image probe before the first batch runs to the end
        sweep(resnet, discs, ["layer1"], batch_size=2)
        assert calls == [1]  # the next sweep remembers where to stop: no probe at all
        sweep(resnet, discs, ["layer1", "layer2"], batch_size=2)
        assert calls == [1, 1]  # other layers: probed once more
    finally:
        handle.remove()


def test_a_remembered_stop_is_forgotten_when_a_module_is_replaced(discs):
    import copy

    base = aa.load_model("resnet18", weights=None, device="cpu")
    net = aa.Network(copy.deepcopy(base.module), mean=base.mean, std=base.std, device="cpu")
    sweep(net, discs, ["layer1"], batch_size=2)
    net.module.layer1 = nn.Sequential(net.module.layer1, net.module.layer1)  # called twice now
    resp = sweep(net, discs, ["layer1.0"], batch_size=2)  # a stale quota would stop at call 1
    assert set(resp) == {"layer1.0#0", "layer1.0#1"}


def test_sweep_registers_responses_and_stimuli(resnet, discs):
    resp = sweep(resnet, discs, ["layer1"])
    assert evidence.current().responses[-1][1] is resp
    assert resp.shown is discs and resp.net is resnet and resp.layers == ("layer1",)


def test_responses_make_tunings(resnet):
    s = hue_disc(range(0, 360, 30), size=32, radius=[0.2, 0.3])
    resp = sweep(resnet, s, ["layer1"])
    tuning = resp.tuning("hue", "layer1")
    assert tuning.circular == 360 and tuning.values.numel() == 12 and tuning.layer == "layer1"
    size = sweep(resnet, shapes("square", [4, 8, 16], size=32), ["layer1"])
    assert size.tuning("size", "layer1", scale="log").circular is None
    with pytest.raises(KeyError, match="no stimulus parameter 'colour'"):
        resp.tuning("colour", "layer1")


@pytest.mark.parametrize("kwargs, message", [
    (dict(reduce="max"), "reduce='max' is not one of"),
    (dict(reduce="threshold"), "needs threshold"),
    (dict(reduce="threshold", threshold="half"), "percentage"),
    (dict(reduce="threshold", threshold="150%"), "between 0% and 100%"),
    (dict(reduce="mean", threshold=0.5), "only applies"),
    (dict(batch_size=0), "batch_size=0"),
])
def test_bad_arguments_name_themselves(resnet, discs, kwargs, message):
    with pytest.raises(SweepError, match=message):
        sweep(resnet, discs, ["layer1"], **kwargs)


def test_relative_threshold_refuses_one_shot_generators(resnet):
    once = (hue_disc([h], size=32) for h in (0, 90))
    with pytest.raises(SweepError, match="two passes"):
        sweep(resnet, once, ["layer1"], reduce="threshold", threshold="50%")


def test_stimuli_must_be_stimuli(resnet):
    with pytest.raises(SweepError, match="iterable of Stimuli"):
        sweep(resnet, torch.rand(2, 3, 32, 32), ["layer1"])
    with pytest.raises(SweepError, match="got str"):
        sweep(resnet, "images/", ["layer1"])


def test_sweep_raises_the_sweep_error_of_actassert_errors(resnet):
    from actassert import errors

    assert SweepError is errors.SweepError  # one class, importable from both modules
    with pytest.raises(errors.SweepError, match="got str"):
        sweep(resnet, "images/", ["layer1"])


def test_plain_module_sweeps_too():
    net = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU())
    resp = sweep(net, hue_disc([0, 120, 240], size=16), ["0"], reduce="foreground")
    assert resp["0"].shape == (3, 2)


def test_progress_goes_to_stderr_only_when_asked(resnet, discs, capsys):
    sweep(resnet, discs, ["layer1"], batch_size=4, progress=True)
    err = capsys.readouterr().err
    assert "sweep resnet18: 4/8 stimuli" in err and err.rstrip().endswith("8/8 stimuli")
    sweep(resnet, discs, ["layer1"], batch_size=4)  # under pytest: silent by default
    assert capsys.readouterr().err == ""


def test_relative_threshold_has_one_level_per_call_of_a_reused_module():
    net = aa.load_model("resnet50", weights=None, device="cpu")
    discs = hue_disc(range(0, 360, 90), size=64)
    resp = sweep(net, discs, ["layer1.0.relu"], reduce="threshold", threshold="50%")
    with record(net, ["layer1.0.relu"]) as acts:
        net(discs.images)
    for call in range(3):
        maps = acts[f"layer1.0.relu#{call}"]
        level = 0.5 * maps.amax(dim=(0, 2, 3)).view(1, -1, 1, 1)
        torch.testing.assert_close(resp[f"layer1.0.relu#{call}"], (maps > level).float().mean((2, 3)))
        # the first stimulus' maps, kept for failure figures, belong to the same call
        torch.testing.assert_close(resp.maps[0][f"layer1.0.relu#{call}"], maps[0])


def test_a_call_that_never_runs_is_named(resnet, discs):
    with pytest.raises(SweepError, match=r"layer1.0.relu#2 never ran \(layer1.0.relu was called 2"):
        sweep(resnet, discs, "layer1.0.relu#2")


def test_channels_last_outputs_are_read_from_the_layernorm_that_made_them():
    net = aa.load_model("convnext_tiny", weights=None, device="cpu")
    discs = hue_disc([0, 120, 240], size=64)
    layer = "features.1.0.block.2"  # LayerNorm on [N, H, W, C]
    resp = sweep(net, discs, [layer], reduce="foreground")  # the default decides from the module
    assert "normalized_shape=(96,)" in resp.layouts[layer].why
    torch.testing.assert_close(sweep(net, discs, [layer], channels="last",
                                     reduce="foreground")[layer], resp[layer])
    with record(net, [layer]) as acts:
        net(discs.images)
    maps = acts[layer].permute(0, 3, 1, 2)
    torch.testing.assert_close(resp[layer], reduce_maps(maps, discs.masks, "foreground"))
    assert resp[layer].shape == (3, 96)


def test_token_outputs_reduce_over_tokens():
    net = aa.load_model("vit_b_16", weights=None, device="cpu")
    discs = hue_disc([0, 180], size=224)
    layer = "encoder.layers.encoder_layer_0.mlp"
    resp = sweep(net, discs, [layer], reduce="median")  # 197 = 1 class token + 14x14 tokens
    assert resp.layouts[layer].grid == (14, 14) and resp.layouts[layer].prefix == 1
    with record(net, [layer]) as acts:
        net(discs.images)
    torch.testing.assert_close(resp[layer], acts[layer].median(dim=1).values)


def test_centre_reads_the_position_under_the_stimulus_centre():
    maps = torch.arange(25, dtype=torch.float32).reshape(1, 1, 5, 5)
    centred = shapes("circle", [9], size=20)             # centre (10, 10): position (2, 2) of 5x5
    assert reduce_maps(maps, centred.masks, "centre").item() == pytest.approx(12.0)
    corner = shapes("square", [4], size=20, center=(0.1, 0.1))  # centre (2, 2): position (0, 0)
    assert reduce_maps(maps, corner.masks, "centre").item() == pytest.approx(0.0)


def test_centre_on_a_border_between_positions_averages_them():
    maps = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    centred = shapes("circle", [6], size=16)             # centre (8, 8): between rows/cols 1 and 2
    assert reduce_maps(maps, centred.masks, "centre").item() == pytest.approx((5 + 6 + 9 + 10) / 4)
    with pytest.raises(SweepError, match="empty mask, so it has no centre"):
        reduce_maps(maps, torch.zeros_like(centred.masks), "centre")


def test_sweep_with_centre_equals_the_recorded_centre_position(resnet):
    forms = shapes(["circle", "square"], [8, 24], size=64)
    resp = sweep(resnet, forms, ["layer1"], reduce="centre")
    with record(resnet, ["layer1"]) as acts:
        resnet(forms.images)
    centre = acts["layer1"][:, :, 7:9, 7:9].mean(dim=(2, 3))  # 16x16 map, centre at 8: rows 7, 8
    torch.testing.assert_close(resp["layer1"], centre)
    assert resp.reduce == "centre"


class Shuffled(nn.Module):
    """Registers its modules in one order and calls them in another (c, then a, then b)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 4, 1)
        self.c = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.a(torch.relu(self.c(x))))
        return self.head(self.b(x).mean((2, 3)))


@pytest.mark.parametrize("model, layers", [
    ("resnet18", ["maxpool", "layer1.0.relu", "layer2"]),
    ("mobilenet_v2", ["features.1", "features.4.conv.1", "features.7"]),
    ("shuffled", ["a", "c"]),
])
def test_early_exit_records_equal_a_full_forward(model, layers):
    net = (aa.Network(Shuffled(), device="cpu", name="shuffled") if model == "shuffled"
           else aa.load_model(model, weights=None, device="cpu"))
    discs = hue_disc(range(0, 360, 40), size=48)
    swept = sweep(net, discs, layers, reduce="mean", batch_size=4)
    with record(net, layers, register=False) as full:  # no early stop: the whole forward
        net(discs.images)
    assert set(swept) == set(full)
    for key in full:
        expected = full[key].mean((2, 3)) if full[key].dim() == 4 else full[key]
        torch.testing.assert_close(swept[key], expected, rtol=1e-6, atol=1e-6)
