"""Layer names: list_layers, dotted names, call indices and glob patterns."""

import pytest
import torchvision

from actassert import LayerNotFoundError, list_layers
from actassert.layers import resolve_layers


@pytest.fixture(scope="module")
def resnet():
    return torchvision.models.resnet18(weights=None)


def test_list_layers_includes_nested_names_in_order(resnet):
    names = list_layers(resnet)
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert "layer1.0.conv2" in names and names[-1] == "fc"
    leaves = list_layers(resnet, leaves_only=True)
    assert "layer1" not in leaves and "layer1.0.conv2" in leaves


def test_glob_star_stays_in_one_component(resnet):
    got = [str(r) for r in resolve_layers(resnet, ["layer*.0.conv*"])]
    assert got == [f"layer{i}.0.conv{j}" for i in range(1, 5) for j in (1, 2)]
    assert [str(r) for r in resolve_layers(resnet, "layer*")] == [f"layer{i}" for i in range(1, 5)]


def test_double_star_spans_components(resnet):
    got = [str(r) for r in resolve_layers(resnet, "layer4.**.bn2")]
    assert got == ["layer4.0.bn2", "layer4.1.bn2"]


def test_call_index_and_duplicates(resnet):
    got = resolve_layers(resnet, ["layer1.0.relu#2", "fc", "fc"])
    assert [str(r) for r in got] == ["layer1.0.relu#2", "fc"]
    assert got[0].call == 2


def test_unknown_layer_suggests_closest_names(resnet):
    with pytest.raises(LayerNotFoundError) as info:
        resolve_layers(resnet, ["layer1.0.con2"])
    message = str(info.value)
    assert "'layer1.0.conv2'" in message and "list_layers" in message
    assert isinstance(info.value, KeyError)


def test_bad_requests_are_explained(resnet):
    with pytest.raises(ValueError, match="call index"):
        resolve_layers(resnet, ["fc#x"])
    with pytest.raises(ValueError, match="empty"):
        resolve_layers(resnet, [])
    with pytest.raises(TypeError, match="Network or a torch.nn.Module"):
        list_layers(object())
