"""Attention weights as a recordable output, ``name:attn`` (issue 18, item 6)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

import actassert as aa
from actassert.errors import RecordingError
from actassert.invariance import reference_run
from actassert.probe import probe

_TV_ATTN = "encoder.layers.encoder_layer_3.self_attention"


def _torchvision_vit() -> nn.Module:
    torch.manual_seed(0)
    return VisionTransformer(image_size=40, patch_size=8, num_layers=4, num_heads=3,
                             hidden_dim=24, mlp_dim=32, num_classes=5).eval()


def _timm_vit(**kwargs: object) -> nn.Module:
    timm_vit = pytest.importorskip("timm.models.vision_transformer")  # only the timm tests need it
    torch.manual_seed(0)
    return timm_vit.VisionTransformer(img_size=40, patch_size=8, embed_dim=24, depth=2,
                                      num_heads=3, num_classes=5, **kwargs).eval()


def _images() -> torch.Tensor:
    return torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1))


def test_torchvision_vit_attention_weights_match_pytorchs_and_leave_the_outputs_alone():
    model, x = _torchvision_vit(), _images()
    with torch.no_grad():
        plain = model(x)
    with aa.record(model, [f"{_TV_ATTN}:attn", "encoder.layers.encoder_layer_3.ln_1"],
                   register=False) as acts, torch.no_grad():
        hooked = model(x)
    assert torch.equal(plain, hooked)  # bit-equal: the module's own forward is untouched
    weights = acts[f"{_TV_ATTN}:attn"]
    assert weights.shape == (2, 3, 26, 26)  # [N, heads, T, T]: 5x5 patches + the class token
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 26))
    y = acts["encoder.layers.encoder_layer_3.ln_1"]
    with torch.no_grad():  # PyTorch's own weights, asked for per head on the recorded input
        _, reference = model.get_submodule(_TV_ATTN)(y, y, y, need_weights=True,
                                                     average_attn_weights=False)
    torch.testing.assert_close(weights, reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"reg_tokens": 4, "qk_norm": True}],
                         ids=["plain", "registers-qk-norm"])
def test_timm_vit_attention_weights_match_its_unfused_path_and_leave_the_outputs_alone(kwargs):
    model, x = _timm_vit(**kwargs), _images()
    attn = model.blocks[1].attn
    assert attn.fused_attn  # the weights never exist in the model's own forward
    with torch.no_grad():
        plain = model(x)
    with aa.record(model, ["blocks.*.attn:attn", "blocks.1.attn.qkv"],
                   register=False) as acts, torch.no_grad():
        hooked = model(x)
    assert torch.equal(plain, hooked)
    assert list(acts) == ["blocks.0.attn:attn", "blocks.1.attn.qkv", "blocks.1.attn:attn"]
    assert acts["blocks.1.attn.qkv"].shape[0] == 2  # its hook saw one call, not two
    tokens = 25 + (1 + kwargs.get("reg_tokens", 0))
    assert acts["blocks.1.attn:attn"].shape == (2, 3, tokens, tokens)
    seen: list[torch.Tensor] = []  # the reference: timm's own softmax, before attn_drop
    handle = attn.attn_drop.register_forward_hook(lambda m, a, o: seen.append(a[0].clone()))
    attn.fused_attn = False
    try:
        with torch.no_grad():
            model(x)
    finally:
        attn.fused_attn = True
        handle.remove()
    torch.testing.assert_close(acts["blocks.1.attn:attn"], seen[0], rtol=0, atol=1e-6)


def test_attention_weights_of_a_module_that_is_not_attention_are_refused_before_the_forward():
    model = _timm_vit()
    with pytest.raises(RecordingError, match=r"(?s)'blocks.0.mlp:attn' asks for attention weights, "
                       r"but 'blocks.0.mlp' is a Mlp.*Fix: name the attention module"):
        with aa.record(model, ["blocks.0.mlp:attn"], register=False):
            pytest.fail("the block must not start")
    assert not model.blocks[0].mlp._forward_hooks


def test_a_glob_keeps_the_attention_modules_and_lists_the_others_as_skipped():
    model, x = _timm_vit(), _images()
    with aa.record(model, ["blocks.0.**:attn"], register=False) as acts, torch.no_grad():
        model(x)
    assert list(acts) == ["blocks.0.attn:attn"]
    assert acts.skipped["blocks.0.mlp:attn"] == "Mlp (not an attention module)"
    assert acts.never_ran() == []


def test_an_unknown_output_after_a_colon_names_the_ones_there_are():
    with pytest.raises(ValueError, match=r"'weights' after ':' is not an output actassert "
                       r"records. Expected one of: attn"):
        aa.record(_timm_vit(), ["blocks.0.attn:weights"]).__enter__()


def test_attention_weights_can_be_reduced_and_stop_early():
    model, x = _timm_vit(), _images()
    with aa.record(model, ["blocks.0.attn:attn"], register=False, stop_early=True,
                   reduce=lambda w: w[:, :, 0]) as acts:
        assert acts.run(x) is None  # stopped after the first block's attention
    assert acts["blocks.0.attn:attn"].shape == (2, 3, 26)  # the class token's row


def test_attention_weights_reach_a_streamed_run_as_every_layer_does():
    """The determinism checks read a run as it streams by (``probe(sink=...)``): the weights must
    be handed over like any output, or those checks would skip attention layers in silence."""
    model, x = _torchvision_vit(), _images()
    seen: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        probe(model, [f"{_TV_ATTN}:attn", "heads"], x,
              sink=lambda name, call, tensor: seen.setdefault(name, tensor.clone()))
        with aa.record(model, [f"{_TV_ATTN}:attn"], register=False) as acts:
            model(x)
        kept = reference_run(model, x, [f"{_TV_ATTN}:attn"]).tensors
    assert set(seen) == {f"{_TV_ATTN}:attn", "heads"}
    torch.testing.assert_close(seen[f"{_TV_ATTN}:attn"], acts[f"{_TV_ATTN}:attn"])
    assert f"{_TV_ATTN}:attn" in kept
