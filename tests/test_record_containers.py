"""``"**"`` records every module that returns a tensor; containers by field (issue 18, item 4)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import actassert as aa
from actassert.errors import NeverRanWarning, RecordingError


class _Block(nn.Module):
    """A transformer-ish block whose attention returns a tuple ``(out, None)``."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(x)
        out, _ = self.attn(y, y, y, need_weights=False)
        return x + out


class _Heads(nn.Module):
    """Returns a dict, and (called twice by its parent) a tensor per call."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.fc(x), "pooled": x}


class _Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = _Block()
        self.head = _Heads()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.block(x)
        return self.head(t[:, 0])["logits"] + self.head(t[:, 1])["logits"]


def _record_all(model: nn.Module, x: torch.Tensor, layers: object = "**") -> aa.Activations:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeverRanWarning)  # attn.out_proj is never called
        with aa.record(model, layers, register=False) as acts, torch.no_grad():  # type: ignore[arg-type]
            model(x)
    return acts


def test_everything_records_a_tuple_and_a_dict_by_field_with_no_error():
    model = _Model().eval()
    x = torch.randn(2, 4, 8)
    acts = _record_all(model, x)
    assert list(acts) == ["block.norm", "block.attn.0", "block", "head.fc#0", "head.logits#0",
                          "head.pooled#0", "head.fc#1", "head.logits#1", "head.pooled#1"]
    assert acts.skipped == {}
    with torch.no_grad():
        y = model.block.norm(x)
        expected, _ = model.block.attn(y, y, y, need_weights=False)
        pooled = model.block(x)[:, 1]
    assert torch.equal(acts["block.attn.0"], expected)
    assert torch.equal(acts["head.pooled#1"], pooled)
    assert acts.module_of("head.logits#1") == "head" and acts.module_of("block.attn.0") == \
        "block.attn"
    with pytest.raises(KeyError, match=r"'block.attn' returned a container, not a tensor; its "
                       r"tensors are recorded as block.attn.0"):
        acts["block.attn"]


def test_a_named_container_layer_keeps_its_call_in_the_field_names():
    acts = _record_all(_Model().eval(), torch.randn(2, 4, 8), ["head#1"])
    assert list(acts) == ["head.logits#1", "head.pooled#1"]
    assert acts.never_ran() == []


class _Pair(nn.Sequential):
    """A Sequential that returns a tuple: its fields would be named like its children."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        return self[0](x), self[1](x)


def test_an_ambiguous_container_is_skipped_and_listed_by_a_glob_and_refused_by_name():
    model = nn.Sequential(_Pair(nn.Linear(3, 3), nn.Linear(3, 3)))
    acts = _record_all(model, torch.randn(2, 3))
    assert acts.skipped == {"0": "tuple (its field '0.0' would be named like the submodule "
                                 "'0.0')"}
    assert list(acts) == ["0.0", "0.1"]  # the submodules themselves
    with pytest.raises(RecordingError, match=r"layer '0' returned tuple \(its field '0.0' "
                       r"would be named like the submodule '0.0'\).*skip_non_tensors=True"):
        _record_all(model, torch.randn(2, 3), ["0"])


def test_a_hugging_face_vit_records_everything_without_an_error():
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(image_size=16, patch_size=8, hidden_size=16,
                                    num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=16, num_labels=3)
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config).eval()
    x = torch.rand(2, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeverRanWarning)  # modules the forward bypasses
        with aa.record(model, "**", register=False) as acts, torch.no_grad():
            out = model(pixel_values=x)
    assert acts.skipped == {}
    # the root's submodule vit returns a ModelOutput; its fields are named by key
    with torch.no_grad():
        hidden = model.vit(x).last_hidden_state
    assert torch.equal(acts["vit.last_hidden_state"], hidden)
    assert torch.equal(acts["classifier"], out.logits)
    assert len(acts) > 10
