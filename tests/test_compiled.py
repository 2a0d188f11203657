"""``torch.compile`` models: names through ``_orig_mod``, hooks that run after the first compiled
call (pytorch#117758), records equal to eager, sweeps, the battery, and the error before 2.6.

Compiling costs seconds on the CPU, so the models are tiny and most tests use the ``eager`` or
``aot_eager`` backends (dynamo traces the model, no C++ is compiled); one test uses the default
``inductor`` backend, which compiles C++ with the system compiler.
"""

import shutil

import pytest
import torch
from torch import nn

import actassert as aa
from actassert.errors import LayerNotFoundError, RecordingError

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3)).eval()


def _pair(backend: str) -> tuple[aa.Network, aa.Network]:
    """The same weights eager and compiled, both wrapped in a Network."""
    module = _cnn()
    eager = aa.Network(module, mean=MEAN, std=STD, input_size=16, device="cpu")
    return eager, aa.Network(torch.compile(module, backend=backend), mean=MEAN, std=STD,
                             input_size=16, device="cpu")


def test_names_resolve_through_orig_mod():
    eager, net = _pair("eager")
    assert [n for n, _ in net.module.named_modules()][:3] == ["", "_orig_mod", "_orig_mod.0"]
    assert aa.list_layers(net) == aa.list_layers(eager) == ["0", "1", "2", "3", "4", "5", "6"]
    with aa.record(net, ["2", "_orig_mod.4"]) as acts:  # the wrapper's spelling is read too
        net(torch.rand(2, 3, 16, 16))
    assert set(acts) == {"2", "4"}
    with pytest.raises(LayerNotFoundError, match=r"no layer 'conv9' in Sequential"):
        aa.record(net, ["conv9"]).__enter__()


def test_hooks_run_after_the_first_compiled_call_and_match_eager():
    eager, net = _pair("eager")
    images = torch.rand(3, 3, 16, 16)
    torch.testing.assert_close(net(images), eager(images))  # compiled before any hook
    for _ in range(2):  # a second block too: nothing stale is left behind
        with aa.record(net, ["0", "3"]) as acts:
            out = net(images)
        with aa.record(eager, ["0", "3"]) as expected:
            eager(images)
        assert acts.forwards == 1 and acts.shapes() == expected.shapes()
        torch.testing.assert_close(acts["3"], expected["3"])
        torch.testing.assert_close(out, eager(images))
    assert net.problems() == [] and not net.module._orig_mod[0]._forward_hooks


def test_a_module_compiled_in_place_records_too():
    module = _cnn()
    reference = _cnn()
    module.compile(backend="eager")
    images = torch.rand(2, 3, 16, 16)
    module(images)  # compiled, with no hooks
    with aa.record(module, ["2"]) as acts:
        module(images)
    torch.testing.assert_close(acts["2"], reference[:3](images))


def test_sweep_on_a_compiled_network_equals_eager():
    eager, net = _pair("aot_eager")
    discs = aa.stimuli.hue_disc(range(0, 360, 90), size=16)
    net(discs.images)
    got = aa.sweep(net, discs, ["0", "2"], reduce="foreground")
    expected = aa.sweep(eager, discs, ["0", "2"], reduce="foreground")
    for layer in ("0", "2"):
        torch.testing.assert_close(got[layer], expected[layer])


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                    reason="torch.compile's inductor backend needs a C compiler on the CPU")
def test_the_inductor_backend_records_within_tolerance_of_eager():
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3)).eval()
    eager = aa.Network(module, mean=MEAN, std=STD, input_size=16, device="cpu")
    net = aa.Network(torch.compile(module), mean=MEAN, std=STD, input_size=16, device="cpu")
    images = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(net(images), eager(images), rtol=1e-4, atol=1e-5)
    with aa.record(net, ["2"]) as acts:
        net(images)
    with aa.record(eager, ["2"]) as expected:
        eager(images)
    torch.testing.assert_close(acts["2"], expected["2"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(net(images), eager(images), rtol=1e-4, atol=1e-5)  # compiled again
    aa.assert_hooks_transparent(net, images, ["0", "2"])  # eager in both forwards


def test_without_set_stance_recording_a_compiled_model_is_refused_with_the_fix(monkeypatch):
    _, net = _pair("eager")
    monkeypatch.delattr(torch.compiler, "set_stance")
    with pytest.raises(RecordingError, match=r"(?s)compiled with torch.compile.*pytorch#117758"
                                             r".*Fix: record the original module"):
        with aa.record(net, ["0"]):
            pass
    assert not net.module._orig_mod[0]._forward_hooks


def test_the_battery_runs_on_a_compiled_factory(pytester):
    from actassert.battery.names import CHECKS

    spec = "tests_support.models:tiny_compiled"
    result = pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider", "-p",
                                "no:randomly", "-rA", "--actassert-model", spec)
    result.assert_outcomes(passed=len(CHECKS))
    result.stdout.fnmatch_lines([f"PASSED {spec}::{check}" for check in CHECKS],
                                consecutive=False)
