"""A record is what the module returned, whatever the caller does afterwards (issue 18, item 3)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

import actassert as aa
from actassert.errors import RecordingError


def _model_output() -> type:
    transformers_utils = pytest.importorskip("transformers.utils")

    @dataclass
    class Output(transformers_utils.ModelOutput):  # type: ignore[misc,name-defined]
        logits: torch.Tensor | None = None
        features: torch.Tensor | None = None

    return Output


class _Returns(nn.Module):
    """conv -> flatten -> fc, returning fc's output (and the flat features) in a container."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(3, 4, 3)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 6 * 6, 5)
        self.wrap = _model_output() if kind == "ModelOutput" else None

    def forward(self, x: torch.Tensor) -> object:
        feats = self.flat(self.conv(x))
        logits = self.fc(feats)
        if self.kind == "tensor":
            return logits
        if self.kind == "tuple":
            return logits, feats
        if self.kind == "list":
            return [logits, feats]
        if self.kind == "dict":
            return {"logits": logits, "features": feats}
        assert self.wrap is not None
        return self.wrap(logits=logits, features=feats)


def _tensors(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    return list(out.values()) if isinstance(out, dict) else list(out)  # type: ignore[call-overload]


@pytest.mark.parametrize("kind", ["tensor", "tuple", "list", "dict", "ModelOutput"])
def test_changing_what_the_model_returned_leaves_every_block_alone(kind):
    model = _Returns(kind).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = {"fc": model.fc(model.flat(model.conv(x))), "flat": model.flat(model.conv(x))}
    for block in range(3):  # the first forward learns; later ones must hold up just as well
        with aa.record(model, ["flat", "fc"], register=False) as acts, torch.no_grad():
            out = model(x)
        for tensor in _tensors(out):
            tensor.mul_(-7.0).add_(3.0)  # the caller changes every returned tensor in place
        for name in ("flat", "fc"):
            assert torch.equal(acts[name], expected[name]), (kind, block, name)


@pytest.mark.parametrize("first", [nn.Flatten(), nn.Identity()], ids=["view", "identity"])
def test_a_first_layer_that_is_a_view_of_the_input_survives_the_caller_changing_the_input(first):
    model = nn.Sequential(first, nn.Linear(48, 3) if isinstance(first, nn.Flatten)
                          else nn.Conv2d(3, 2, 1)).eval()
    for block in range(3):
        x = torch.randn(2, 3, 4, 4)
        with torch.no_grad():
            expected = first(x).clone()
        with aa.record(model, ["0"], register=False) as acts, torch.no_grad():
            model(x)
        x.fill_(123.0)  # e.g. the next batch written into the same buffer
        assert torch.equal(acts["0"], expected), block


class _Embedding(nn.Module):
    """Returns its parameter itself (as a positional embedding module does)."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.randn(1, 4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pos


def test_a_returned_parameter_is_copied_so_an_optimizer_step_leaves_the_record_alone():
    model = nn.Sequential(_Embedding(), nn.Linear(3, 2))
    expected = model[0].pos.detach().clone()
    for block in range(2):
        with aa.record(model, ["0"], register=False) as acts, torch.no_grad():
            model(torch.zeros(1))
        with torch.no_grad():
            model[0].pos.add_(1.0)  # what optimizer.step() does
        assert torch.equal(acts["0"], expected), block
        expected = model[0].pos.detach().clone()


class _Stash(nn.Module):
    """Keeps a reference to its conv's output, which code outside the forward may change."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.kept: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.kept = self.conv(x)
        return self.kept * 2


def test_a_record_changed_after_the_forward_is_refused_when_read():
    model = _Stash().eval()
    x = torch.randn(1, 3, 4, 4)
    for _ in range(2):  # learn that conv's output is left alone by the forward
        with aa.record(model, ["conv"], register=False), torch.no_grad():
            model(x)
    with aa.record(model, ["conv"], register=False) as acts, torch.no_grad():
        model(x)
    assert model.kept is not None
    model.kept.zero_()  # behind actassert's back
    with pytest.raises(RecordingError, match=r"record of 'conv' was changed in place after the "
                       "forward.*run the forward again"):
        acts["conv"]
    with aa.record(model, ["conv"], register=False) as acts, torch.no_grad():
        model(x)
    model.kept.zero_()
    assert acts["conv"].abs().sum() > 0  # copied from then on
