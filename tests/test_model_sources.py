"""Models by name: the three spellings, user factories (tests_support.models) and their errors."""

import pytest
import torch

import actassert as aa
from actassert.errors import ModelNotFoundError, ModelSourceError
from actassert.models import clear_model_cache, evict
from actassert.models.built import IMAGENET_MEAN, IMAGENET_STD
from actassert.models.names import ModelSpec, parse_model_name


@pytest.mark.parametrize(("text", "spec"), [
    ("resnet50", ModelSpec("torchvision", "resnet50")),
    ("torchvision:resnet50", ModelSpec("torchvision", "resnet50")),
    ("timm:convnext_tiny.fb_in1k", ModelSpec("timm", "convnext_tiny.fb_in1k")),
    ("tests_support.models:tiny", ModelSpec("factory", "tests_support.models:tiny")),
])
def test_model_names_are_parsed_into_source_and_name(text, spec):
    assert parse_model_name(text) == spec


@pytest.mark.parametrize(("text", "match"), [
    ("tfhub:resnet50", r"unknown source 'tfhub' \(known: torchvision, timm, hf\).*Fix: write"),
    ("timm:", "is not 'NAME', 'SOURCE:NAME'"),
    (":resnet", "is not 'NAME', 'SOURCE:NAME'"),
    ("a.b:c:d", "is not 'NAME', 'SOURCE:NAME'"),
])
def test_malformed_names_and_unknown_prefixes_are_refused(text, match):
    with pytest.raises(ModelSourceError, match=match):
        aa.load_model(text, weights=None, device="cpu")


def test_torchvision_prefix_is_the_bare_name_and_shares_its_copy():
    bare = aa.load_model("resnet18", weights=None, device="cpu")
    assert aa.load_model("torchvision:resnet18", weights=None, device="cpu") is bare
    with pytest.raises(ModelNotFoundError, match="no torchvision classification model"):
        aa.load_model("torchvision:resnet_18", weights=None, device="cpu")


def test_a_factory_module_gets_imagenet_preprocessing_eval_mode_and_frozen_weights():
    net = aa.load_model("tests_support.models:tiny", device="cpu")
    assert net.name == "tests_support.models:tiny" and net.weights is None
    assert (net.mean, net.std, net.input_size) == (IMAGENET_MEAN, IMAGENET_STD, 224)
    assert not any(m.training for m in net.module.modules())
    assert not any(p.requires_grad for p in net.module.parameters())
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 5)
    # weights=None and "DEFAULT" both call the factory as it is: one copy
    assert aa.load_model("tests_support.models:tiny", weights=None, device="cpu") is net


def test_a_factory_returning_a_network_keeps_its_preprocessing():
    net = aa.load_model("tests_support.models:tiny_network", device="cpu")
    assert (net.mean, net.std, net.input_size, net.name) == ((0.5,) * 3, (0.25,) * 3, 32,
                                                              "tiny-network")
    assert net.device == torch.device("cpu")


def test_a_factory_runs_under_the_seed_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    clear_model_cache()
    first = aa.load_model("tests_support.models:tiny", device="cpu").module.conv1.weight.clone()
    clear_model_cache()
    again = aa.load_model("tests_support.models:tiny", device="cpu").module.conv1.weight
    other = aa.load_model("tests_support.models:tiny", device="cpu", seed=1).module.conv1.weight
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_the_guard_restores_a_factory_models_weights():
    net = aa.load_model("tests_support.models:tiny", device="cpu")
    before = net.module.conv1.weight.clone()
    net.module.conv1.weight.mul_(0)
    net.module.train()
    found = net.restore()
    assert any("modified" in f for f in found) and any("train mode" in f for f in found)
    assert torch.equal(net.module.conv1.weight, before)
    assert net.problems() == []


@pytest.mark.parametrize(("spec", "match"), [
    ("nopkg_xyz.models:build", r"no module 'nopkg_xyz' on sys.path\. Fix: make the module "
                               r"importable .*pythonpath"),
    ("tests_support.models:tinny", r"has no 'tinny'\. Did you mean: tiny"),
    ("tests_support.models:broken", r"raised RuntimeError: no GPU here \(it is called with no "
                                    r"argument\)"),
    ("tests_support.models:not_a_model", r"returned a int \(42\); it must return a "
                                         r"torch.nn.Module or an actassert.Network"),
    ("tests_support.models:NOT_CALLABLE", r"NOT_CALLABLE is a int, not a function"),
])
def test_factory_errors_name_the_problem_and_the_fix(spec, match):
    with pytest.raises(ModelSourceError, match=match):
        aa.load_model(spec, device="cpu")


def test_a_factory_refuses_a_weights_name():
    with pytest.raises(ValueError, match="builds its own weights; use weights='DEFAULT' or None"):
        aa.load_model("tests_support.models:tiny", weights="IMAGENET1K_V1", device="cpu")


def test_a_factory_model_records_and_sweeps_like_any_other():
    net = aa.load_model("tests_support.models:tiny", device="cpu")
    with aa.record(net, ["conv2", "fc"]) as acts:
        net(torch.rand(2, 3, 32, 32))
    assert acts["conv2"].shape == (2, 8, 32, 32) and acts["fc"].shape == (2, 5)
    resp = aa.sweep(net, aa.stimuli.hue_disc(range(0, 360, 90), size=32), ["conv1"])
    assert resp["conv1"].shape == (4, 8)
    evict(net)
