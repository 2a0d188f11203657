"""Sensitivity of activation regression checks on ImageNet MobileNetV2 (offline weights).

One weight of one convolution in features.5 moved by 1e-2 must fail the check naming a features.5
module first; the unchanged model must pass ten runs in a row; ``actassert diff`` must name the
same first layer; random init against trained weights differs from the first layer on.
"""

import copy
import re

import pytest
import torch

from actassert import Network, cli, list_layers, load_model, record, stimuli
from actassert.golden.files import read_golden, write_golden

SIZE = 112


def _layers(net):
    """The leaf layers of features.0 to features.7 (56 layers; features.5 in the middle)."""
    return [name for name in list_layers(net, leaves_only=True)
            if name.startswith("features.") and int(name.split(".")[1]) <= 7]


@pytest.fixture(scope="module")
def trained():
    return load_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu")


@pytest.fixture(scope="module")
def shifted(trained):
    """A copy of the trained model with 1e-2 added to one weight of features.5's first conv."""
    module = copy.deepcopy(trained.module)
    with torch.no_grad():
        module.features[5].conv[0][0].weight[7, 3, 0, 0] += 1e-2
    return Network(module, mean=trained.mean, std=trained.std, name=trained.name,
                   weights=trained.weights, device="cpu")


def _recorded(net):
    images = stimuli.hue_disc(range(0, 360, 90), size=SIZE, radius=0.25).images
    with record(net, _layers(net), register=False) as acts:
        net(images)
    return acts


def _first_changed(message):
    return re.search(r"first changed layer \(forward order\): '([^']+)'", message).group(1)


@pytest.fixture(scope="module")
def golden_path(tmp_path_factory):
    return tmp_path_factory.mktemp("goldens") / "mobilenet_v2.npz"


def test_missing_golden_is_written(trained, golden_path, activation_regression):
    with pytest.raises(pytest.fail.Exception, match="File not found in data directory, created"):
        activation_regression.check(_recorded(trained), fullpath=golden_path)
    assert read_golden(golden_path).layers[0] == "features.0.0"


def test_unchanged_model_passes_ten_runs(trained, golden_path, activation_regression):
    for _ in range(10):
        activation_regression.check(_recorded(trained), fullpath=golden_path)


def test_one_weight_in_features_5_fails_naming_features_5(shifted, golden_path,
                                                          activation_regression):
    with pytest.raises(AssertionError) as info:
        activation_regression.check(_recorded(shifted), fullpath=golden_path)
    message = str(info.value)
    assert _first_changed(message) == "features.5.conv.0.0"
    assert "Metadata: same as the golden's" in message
    assert "Fix: if the change is intended, rerun with --force-regen" in message


def test_diff_names_the_same_first_layer(trained, shifted, tmp_path, capsys):
    path = tmp_path / "shifted.pt"
    torch.save(shifted.module.state_dict(), path)
    status = cli.main(["diff", "mobilenet_v2", "--weights", "IMAGENET1K_V1", "--state-dict",
                       str(path), "--device", "cpu", "--offline", "--size", str(SIZE),
                       "--layers", *_layers(trained)])
    out = capsys.readouterr().out
    assert status == 1
    assert "first layer beyond tolerance: features.5.conv.0.0 " in out
    unchanged = [line for line in out.splitlines() if line.startswith("features.4.")]
    assert unchanged and all(line.endswith(" ok") for line in unchanged)


def test_random_init_differs_from_the_first_layer_on(golden_path, activation_regression):
    random = load_model("mobilenet_v2", weights=None, device="cpu")
    with pytest.raises(AssertionError) as info:
        activation_regression.check(_recorded(random), fullpath=golden_path)
    message = str(info.value)
    assert _first_changed(message) == "features.0.0"
    assert "golden made with weights IMAGENET1K_V1; now weights None" in message


def _faked(golden_path, tmp_path, factor, **meta):
    """The golden with its value statistics scaled by ``factor`` and its metadata changed."""
    golden = read_golden(golden_path)
    for stats in golden.stats.values():
        stats[:4] *= factor  # mean, std, min, max; the positive share is left alone
    golden.meta.update(meta)
    return write_golden(golden, tmp_path / f"faked-{factor}-{len(meta)}.npz")


def test_golden_from_another_device_uses_the_looser_pair(trained, golden_path, tmp_path,
                                                         activation_regression):
    # 1e-3 of every layer's range: beyond cpu/float32's rtol 1e-4 ...
    on_cpu = _faked(golden_path, tmp_path, 1.001)
    with pytest.raises(AssertionError, match="rtol=0.0001, atol=1e-06 \\(default for cpu/float32"):
        activation_regression.check(_recorded(trained), fullpath=on_cpu)
    # ... within the looser pair used when the golden comes from a GPU (cuda/float32: 1e-2)
    on_cuda = _faked(golden_path, tmp_path, 1.001, device="cuda:0", torch="2.13.0")
    activation_regression.check(_recorded(trained), fullpath=on_cuda)

    far = _faked(golden_path, tmp_path, 1.05, device="cuda:0", torch="2.13.0")
    with pytest.raises(AssertionError) as info:
        activation_regression.check(_recorded(trained), fullpath=far)
    message = str(info.value)
    assert _first_changed(message) == "features.0.0"
    assert (f"Metadata: golden made with torch 2.13.0 on cuda:0; now torch {torch.__version__} "
            "on cpu") in message
    assert ("Tolerance: rtol=0.01, atol=1e-05: the golden was made on cuda/float32 and this run "
            "is on cpu/float32, so the looser of their defaults is used") in message
