"""record(): shapes, faithfulness to hand-written hooks, clean-up and naming of reused modules."""

import pytest
import torch
from torch import nn

import actassert as aa
from actassert import evidence
from actassert.errors import ForwardStopped, RecordingError
from actassert.recording import record


def _hooks_left(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


@pytest.fixture(scope="module")
def resnet50():
    return aa.load_model("resnet50", weights=None, device="cpu")


def test_tutorial_shapes_and_values_match_a_hand_written_hook(resnet50):
    images = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with record(resnet50, ["maxpool", "layer2", "fc"]) as acts:
        resnet50(images)
    assert acts.shapes() == {"maxpool": (4, 64, 56, 56), "layer2": (4, 512, 28, 28),
                             "fc": (4, 1000)}
    by_hand = {}
    handles = [getattr(resnet50.module, name).register_forward_hook(
        lambda m, i, o, name=name: by_hand.__setitem__(name, o.detach().clone()))
        for name in ("maxpool", "layer2", "fc")]
    try:
        with torch.no_grad():
            resnet50.module(resnet50.preprocess(images))
    finally:
        for h in handles:
            h.remove()
    for name in by_hand:
        assert torch.equal(acts[name], by_hand[name]), name


def test_recording_leaves_output_bit_identical(resnet50):
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    plain = resnet50(images)
    with record(resnet50, ["layer1.*.relu", "layer3", "fc"]):
        hooked = resnet50(images)
    assert torch.equal(plain, hooked)


def test_every_call_of_a_reused_module_is_kept(resnet50):
    images = torch.rand(1, 3, 64, 64)
    with record(resnet50, ["layer1.0.relu", "layer1.0.bn1", "layer1.0.bn3"]) as acts:
        resnet50(images)
    assert list(k for k in acts if "relu" in k) == [f"layer1.0.relu#{i}" for i in range(3)]
    # the block's relu runs after bn1, after bn2, and after the residual sum (256 channels)
    assert torch.equal(acts["layer1.0.relu#0"], acts["layer1.0.bn1"].clamp(min=0))
    assert acts["layer1.0.relu#2"].shape[1] == 256
    with pytest.raises(KeyError, match="called 3 times.*layer1.0.relu#0"):
        acts["layer1.0.relu"]


def test_one_call_can_be_requested(resnet50):
    with record(resnet50, ["layer1.0.relu#1"]) as acts:
        resnet50(torch.rand(1, 3, 64, 64))
    assert list(acts) == ["layer1.0.relu#1"]


def test_in_place_relu_cannot_change_a_record(tiny):
    # conv1's output is modified in place by relu(inplace=True) right after the hook ran
    x = torch.randn(2, 3, 8, 8)
    with record(tiny, ["conv1"]) as acts:
        tiny(x)
    expected = tiny.conv1(x)
    assert (expected < 0).any(), "the test needs negative pre-activations"
    assert torch.equal(acts["conv1"], expected.detach())


def test_hooks_removed_and_mode_restored_when_forward_raises(tiny):
    tiny.train()
    tiny.block.eval()
    with pytest.raises(RuntimeError), record(tiny, ["conv1", "fc"]):
        tiny(torch.rand(1, 4, 8, 8))  # wrong channel count
    assert _hooks_left(tiny) == 0
    assert tiny.training and not tiny.block.training and tiny.conv1.training


def test_mode_changed_inside_block_is_restored(tiny):
    with record(tiny, ["fc"]):
        tiny.train()
    assert not any(m.training for m in tiny.modules())


def test_several_forwards_are_concatenated_along_the_batch(tiny):
    x = torch.rand(5, 3, 8, 8)
    with record(tiny, ["block", "fc"]) as acts:
        tiny(x[:2])
        tiny(x[2:])
    with record(tiny, ["block", "fc"]) as whole:
        tiny(x)
    assert acts.forwards == 2 and acts["fc"].shape == (5, 5)
    torch.testing.assert_close(acts["block"], whole["block"])


def test_reduce_runs_inside_the_hook_and_offload_moves(tiny):
    x = torch.rand(3, 3, 8, 8)
    with record(tiny, ["block"], reduce=lambda t: t.mean(dim=(2, 3)), offload="cpu") as acts:
        tiny(x)
    with record(tiny, ["block"]) as full:
        tiny(x)
    torch.testing.assert_close(acts["block"], full["block"].mean(dim=(2, 3)))
    assert acts.inputs == [] and len(full.inputs) == 1


def test_identity_reduce_still_clones(tiny):
    x = torch.randn(2, 3, 8, 8)
    with record(tiny, ["conv1"], reduce=lambda t: t) as acts:
        tiny(x)
    assert (acts["conv1"] < 0).any()


def test_stop_early_learns_from_the_first_forward_then_skips_later_layers(resnet50):
    images = torch.rand(4, 3, 96, 96)
    seen = []
    handle = resnet50.module.layer3.register_forward_hook(lambda *a: seen.append(1))
    try:
        with record(resnet50, ["layer1.0.relu", "layer2"], stop_early=True) as early:
            assert early.run(images[:2]) is None  # one image runs to the end, unrecorded, first
            assert early.run(images[2:]) is None  # then every forward stops after layer2
        assert seen == [1] and early.forwards == 2
        with record(resnet50, ["layer1.0.relu", "layer2"]) as full:
            resnet50(images)
    finally:
        handle.remove()
    assert set(early) == set(full) == {"layer1.0.relu#0", "layer1.0.relu#1", "layer1.0.relu#2",
                                       "layer2"}
    for key in full:
        assert torch.equal(early[key], full[key])


def test_stop_early_keeps_every_call_of_a_reused_module(resnet50):
    # the block's relu runs three times; stopping must wait for the third call of every forward
    with record(resnet50, ["layer1.0.relu"], stop_early=True) as acts:
        for _ in range(3):
            acts.run(torch.rand(1, 3, 64, 64))
    assert [acts[f"layer1.0.relu#{i}"].shape[0] for i in range(3)] == [3, 3, 3]


def test_stop_early_raises_through_a_direct_call(tiny):
    with record(tiny, ["conv1"], stop_early=True):
        tiny(torch.rand(1, 3, 8, 8))
        with pytest.raises(ForwardStopped):
            tiny(torch.rand(1, 3, 8, 8))
    assert _hooks_left(tiny) == 0


def test_non_tensor_output_is_a_clear_error():
    class Shape(nn.Module):
        def forward(self, x):
            return x.shape[0], None

    net = nn.Sequential(Shape())
    with pytest.raises(RecordingError, match=r"returned tuple \(no tensors inside\), not a "
                       "tensor or a container of tensors"), record(net, ["0"]):
        net(torch.rand(1, 3, 4, 4))


def test_record_registers_for_failure_reports(tiny):
    with record(tiny, ["fc"]) as acts:
        tiny(torch.rand(1, 3, 8, 8))
    label, registered = evidence.current().activations[-1]
    assert registered is acts and label == "Tiny"


def test_missing_key_message_lists_what_was_recorded(tiny):
    with record(tiny, ["fc"]) as acts:
        pass
    with pytest.raises(KeyError, match="the network was not called inside the record block"):
        acts["fc"]


def test_requested_call_that_never_ran_warns_and_explains(tiny):
    from actassert.errors import NeverRanWarning

    with pytest.warns(NeverRanWarning, match=r"relu#5 never ran \(relu was called 2 time"):
        with record(tiny, ["relu#5", "fc"]) as acts:
            tiny(torch.rand(1, 3, 8, 8))
    with pytest.raises(KeyError, match="never ran"):
        acts["relu#5"]


def test_non_tensor_outputs_can_be_skipped():
    class Described(nn.Module):
        def forward(self, x):
            return x, "described"

    net = nn.Sequential(Described(), nn.Identity())
    net.forward = lambda x: net[1](net[0](x)[0])
    with record(net, ["0", "1"], skip_non_tensors=True, reduce=lambda t: t.mean((2, 3))) as acts:
        net(torch.rand(1, 3, 4, 4))
    # a reduce applies to tensors, so a container is skipped rather than reduced field by field
    assert acts.skipped == {"0": "tuple (a reduce applies to tensors)"} and list(acts) == ["1"]


def test_a_failing_reduce_names_the_layer(tiny):
    with pytest.raises(RecordingError, match=r"reduce failed on layer 'fc' \(output of shape \[1, 5\]\)"):
        with record(tiny, ["fc"], reduce=lambda t: t.mean((2, 3))):
            tiny(torch.rand(1, 3, 8, 8))


def test_a_reduce_mapping_can_give_one_call_its_own_function(tiny):
    x = torch.rand(2, 3, 8, 8)
    mean, peak = (lambda t: t.mean((2, 3))), (lambda t: t.amax((2, 3)))
    with record(tiny, ["relu", "fc"], reduce={"relu": mean, "relu#1": peak, "fc": torch.sign}) as acts:
        tiny(x)
    with record(tiny, ["relu", "fc"]) as full:
        tiny(x)
    torch.testing.assert_close(acts["relu#0"], full["relu#0"].mean((2, 3)))  # the module's own
    torch.testing.assert_close(acts["relu#1"], full["relu#1"].amax((2, 3)))  # the call's override
    torch.testing.assert_close(acts["fc"], full["fc"].sign())
    with pytest.raises(ValueError, match="reduce has no function for fc"):
        with record(tiny, ["relu", "fc"], reduce={"relu": mean}):
            pass


def _recorded_relus(layers: int) -> aa.Activations:
    net = nn.Sequential(*[nn.ReLU() for _ in range(layers)])
    with record(net, "*", register=False, keep_inputs=False) as acts:
        net(torch.zeros(1, 2))
    return acts


def _seconds_of_a_pass(acts: aa.Activations) -> float:
    """One pass over every key, from an empty cache (a second pass would only read the cache)."""
    import time

    acts._cache.clear()
    begin = time.perf_counter()
    found = [acts[key] for key in acts]
    seconds = time.perf_counter() - begin
    assert len(found) == len(acts)
    return seconds


def test_a_pass_over_every_key_is_linear_in_the_number_of_layers():
    """The key index is kept as chunks arrive, not rebuilt per lookup: twice the layers take
    about twice the time (a rebuild per lookup, with a scan of every request per key, made it
    cubic: 500 layers took seconds). The fastest of 30 interleaved passes of each size."""
    import gc

    small, large = _recorded_relus(500), _recorded_relus(1000)
    times: dict[int, list[float]] = {500: [], 1000: []}
    gc.disable()
    try:
        for _ in range(30):
            for acts in (small, large):
                times[len(acts)].append(_seconds_of_a_pass(acts))
    finally:
        gc.enable()
    fast_small, fast_large = min(times[500]), min(times[1000])
    assert fast_large < 3 * fast_small, \
        f"1,000 layers: {fast_large * 1e3:.2f} ms, 500: {fast_small * 1e3:.2f} ms"
    assert fast_small < 0.05  # a lookup is microseconds, not a scan


def test_keys_of_a_module_called_twice_are_renamed_as_the_second_call_arrives():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Linear(2, 2), relu, nn.Linear(2, 2), relu)
    with record(net, ["0", "1"], register=False) as acts:
        net(torch.ones(1, 2))
        assert list(acts) == ["0", "1#0", "1#1"]
        first = acts["1#0"]
        net(torch.ones(1, 2))
    assert list(acts) == ["0", "1#0", "1#1"]
    assert acts["1#0"].shape == (2, 2) and first.shape == (1, 2)
    with pytest.raises(KeyError, match="called 2 times"):
        acts["1"]
