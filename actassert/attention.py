"""Attention weights as a recordable output: ``record(net, ["blocks.3.attn:attn"])``.

torchvision's and timm's ViTs compute attention with fused kernels
(``scaled_dot_product_attention``, or ``nn.MultiheadAttention`` called with
``need_weights=False``), so no module ever returns the weights. A ``name:attn`` request hooks the
attention module and, inside the hook, computes ``softmax(q kᵀ / √d)`` per head from the
module's own projections of the input it was called with: ``[N, heads, T, S]`` (``S = T`` for
self-attention), before dropout. The module's forward itself is left as it is, so the model's
outputs are bit-identical with and without the request. The projections are called through
their ``forward`` methods, so their own hooks (a recorded ``attn.qkv``) see no extra call.

Supported: ``torch.nn.MultiheadAttention`` (torchvision's ViT ``encoder.layers.*.
self_attention``; masks, ``batch_first``, ``add_bias_kv`` and separate projection weights as
PyTorch handles them) and timm's ``Attention`` (``blocks.*.attn``: a ``qkv`` linear, ``q_norm``
and ``k_norm``, ``scale``; an ``attn_mask``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from actassert.errors import RecordingError

__all__ = ["attention_weights", "check_attention", "is_attention"]


@functools.lru_cache(maxsize=64)
def _signature(function: Callable[..., object]) -> inspect.Signature:
    """``inspect.signature`` of a forward method, computed once (it is asked for at every call
    of a recorded attention module)."""
    return inspect.signature(function)

_TIMM_PARTS = ("qkv", "num_heads", "head_dim", "scale", "q_norm", "k_norm")


def _is_timm(module: nn.Module) -> bool:
    return all(hasattr(module, a) for a in _TIMM_PARTS) and isinstance(module.qkv, nn.Linear)


def is_attention(module: nn.Module) -> bool:
    """Whether ``name:attn`` can record ``module``'s attention weights."""
    return isinstance(module, nn.MultiheadAttention) or _is_timm(module)


def check_attention(name: str, module: nn.Module) -> None:
    """Refuse, before any forward, a ``name:attn`` request on a module that is not supported.

    Raises:
        RecordingError: ``module`` is neither an ``nn.MultiheadAttention`` nor a timm-style
            ``Attention``; the message names the module and how to find one.
    """
    if is_attention(module):
        return
    raise RecordingError(
        f"record: '{name}:attn' asks for attention weights, but {name!r} is a "
        f"{type(module).__name__}.\n"
        "Expected: a torch.nn.MultiheadAttention (torchvision ViT: encoder.layers."
        "encoder_layer_0.self_attention) or a timm Attention with qkv, q_norm, k_norm, "
        "num_heads, head_dim and scale (timm ViT: blocks.0.attn).\n"
        f"Obtained: {type(module).__module__}.{type(module).__qualname__}\n"
        "Fix: name the attention module itself (actassert.list_layers lists the modules), or "
        "record its output without ':attn'.")


def attention_weights(module: nn.Module, args: tuple[object, ...],
                      kwargs: Mapping[str, object]) -> torch.Tensor:
    """The softmax attention weights ``[N, heads, T, S]`` of one call of ``module``.

    Args:
        module: an attention module accepted by :func:`check_attention`.
        args: the positional arguments it was called with.
        kwargs: its keyword arguments.
    """
    forward = module.forward
    function = getattr(forward, "__func__", None)  # a method: its signature, once per class
    bound = (_signature(function).bind(module, *args, **kwargs) if function is not None
             else inspect.signature(forward).bind(*args, **kwargs))
    bound.apply_defaults()
    given = bound.arguments
    with torch.no_grad():
        if isinstance(module, nn.MultiheadAttention):
            return _mha_weights(module, given)
        return _timm_weights(module, given)


def _mha_weights(m: nn.MultiheadAttention, given: dict[str, object]) -> torch.Tensor:
    """PyTorch's own reference path, asked for the weights of every head, without dropout."""
    query, key, value = (given[k] for k in ("query", "key", "value"))
    assert isinstance(query, torch.Tensor) and isinstance(key, torch.Tensor) \
        and isinstance(value, torch.Tensor)
    if m.batch_first and query.dim() == 3:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    _, weights = F.multi_head_attention_forward(
        query, key, value, m.embed_dim, m.num_heads, m.in_proj_weight, m.in_proj_bias,
        m.bias_k, m.bias_v, m.add_zero_attn, 0.0, m.out_proj.weight, m.out_proj.bias,
        training=False, key_padding_mask=given.get("key_padding_mask"),  # type: ignore[arg-type]
        need_weights=True, attn_mask=given.get("attn_mask"),  # type: ignore[arg-type]
        use_separate_proj_weight=not m._qkv_same_embed_dim, q_proj_weight=m.q_proj_weight,
        k_proj_weight=m.k_proj_weight, v_proj_weight=m.v_proj_weight,
        average_attn_weights=False, is_causal=bool(given.get("is_causal", False)))
    assert weights is not None
    return weights


def _timm_weights(m: nn.Module, given: dict[str, object]) -> torch.Tensor:
    """timm's non-fused path up to the softmax: ``(q · scale) kᵀ`` plus the mask."""
    x = given["x"]
    assert isinstance(x, torch.Tensor)
    b, n, _ = x.shape
    qkv_proj, q_norm, k_norm = (cast(nn.Module, getattr(m, a)) for a in ("qkv", "q_norm",
                                                                         "k_norm"))
    heads, dim = int(cast(int, m.num_heads)), int(cast(int, m.head_dim))
    qkv = qkv_proj.forward(x).reshape(b, n, 3, heads, dim).permute(2, 0, 3, 1, 4)
    q, k = q_norm.forward(qkv[0]), k_norm.forward(qkv[1])
    scores = (q * m.scale) @ k.transpose(-2, -1)
    mask = given.get("attn_mask")
    if given.get("is_causal"):
        mask = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
    if isinstance(mask, torch.Tensor):
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool \
            else scores + mask
    return scores.softmax(dim=-1)
