"""record copies only the outputs that the rest of the forward changes in place (_inplace.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import actassert as aa
from actassert.errors import RecordingError


def _reference(module: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """Every output copied the moment it is produced: what a recording must hold, keyed as
    ``record`` keys them (``name``, or ``name#k`` for a module called several times)."""
    found: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    modules = dict(module.named_modules())
    handles = [modules[n].register_forward_hook(
        lambda m, a, o, n=n: found[n].append(o.detach().clone())) for n in names]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in handles:
            h.remove()
    return {(n if len(outs) == 1 else f"{n}#{k}"): out
            for n, outs in found.items() for k, out in enumerate(outs)}


def _recorded(module: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    with aa.record(module, names, register=False) as acts, torch.no_grad():
        module(x)
    return dict(acts.items())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_every_leaf_recorded_again_equals_a_copy_taken_at_once(name):
    net = aa.load_model(name, weights=None, device="cpu")
    module = net.module
    names = aa.list_layers(net, leaves_only=True)
    x = net.preprocess(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    expected = _reference(module, x, names)
    for _ in range(3):  # the first forward learns, later ones skip copies: all must be exact
        got = _recorded(module, x, names)
        assert sorted(got) == sorted(expected)
        assert [n for n in expected if not torch.equal(got[n], expected[n])] == []


class _ConvThenInplace(nn.Module):
    """conv -> bn -> in-place ReLU, then a residual ``+=`` into conv2's output."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn(self.conv(x)))
        out = self.conv2(y)
        out += y
        return out


def test_outputs_changed_in_place_are_copied_and_the_others_kept_as_they_are():
    model = _ConvThenInplace().eval()
    x = torch.randn(2, 3, 8, 8)
    names = ["conv", "bn", "relu", "conv2"]
    expected = _reference(model, x, names)
    _recorded(model, x, names)  # learns
    seen: dict[str, torch.Tensor] = {}
    hooks = [getattr(model, n).register_forward_hook(
        lambda m, a, o, n=n: seen.__setitem__(n, o)) for n in names]
    with aa.record(model, names, register=False) as acts, torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for n in names:
        assert torch.equal(acts[n], expected[n]), n
    shares = {n: acts[n].untyped_storage().data_ptr() == seen[n].untyped_storage().data_ptr()
              for n in names}
    # bn's output is changed by the in-place ReLU, conv2's by "+=" (and returned); conv's and
    # relu's are left alone afterwards
    assert shares == {"conv": True, "bn": False, "relu": True, "conv2": False}


def test_the_returned_output_is_copied_so_changing_it_leaves_the_recording_alone():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()
    x = torch.randn(2, 3, 8, 8)
    for _ in range(2):
        with aa.record(model, ["2"], register=False) as acts, torch.no_grad():
            out = model(x)
        kept = acts["2"].clone()
        out.zero_()
        assert torch.equal(acts["2"], kept)


class _SometimesInplace(nn.Module):
    """Adds one in place to its conv's output only when the input's mean is positive."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if x.mean() > 0:
            y.add_(1.0)
        return y * 2


def test_a_change_in_place_that_depends_on_the_input_is_an_error_then_copied():
    model = _SometimesInplace().eval()
    calm, loud = -torch.ones(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    _recorded(model, calm, ["conv"])  # learns: conv's output is left alone
    _recorded(model, calm, ["conv"])  # kept without a copy
    with pytest.raises(RecordingError, match=r"conv was changed in place.*run the forward again"):
        _recorded(model, loud, ["conv"])
    expected = _reference(model, loud, ["conv"])["conv"]
    assert torch.equal(_recorded(model, loud, ["conv"])["conv"], expected)


def test_replacing_a_module_relearns_instead_of_failing():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=False), nn.Conv2d(4, 2, 1)).eval()
    x = torch.randn(2, 3, 8, 8)
    _recorded(model, x, ["0"])
    _recorded(model, x, ["0"])
    model[1] = nn.ReLU(inplace=True)  # now changes "0"'s output in place
    expected = _reference(model, x, ["0"])["0"]
    for _ in range(2):
        assert torch.equal(_recorded(model, x, ["0"])["0"], expected)


def test_inference_mode_outputs_are_always_copied():
    model = _ConvThenInplace().eval()
    x = torch.randn(2, 3, 8, 8)
    expected = _reference(model, x, ["bn", "conv"])
    for _ in range(2):
        with aa.record(model, ["bn", "conv"], register=False) as acts, torch.inference_mode():
            model(x)
        assert torch.equal(acts["bn"], expected["bn"])
        assert torch.equal(acts["conv"], expected["conv"])
