"""The attention figure: each head's map for the class token over the patch grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actassert.drawing import attention_grid
from actassert.drawing.attention import attention_layout
from actassert.errors import DrawingError

RUN = ("--actassert-device=cpu", "-p", "no:cacheprovider")


def _one_hot_weights(prefix: int, side: int, heads: int) -> np.ndarray:
    """[1, heads, T, T]: head h's class token attends to patch h only."""
    tokens = prefix + side * side
    w = np.full((1, heads, tokens, tokens), 0.0)
    for h in range(heads):
        w[0, h, :, prefix + h] = 1.0
    return w


def test_each_heads_class_token_row_becomes_its_map_over_the_patch_grid():
    layout = attention_layout(_one_hot_weights(1, 14, 3))  # 197 tokens: the class token, 14x14
    assert (layout.prefix, layout.side, layout.query) == (1, 14, 0)
    assert layout.maps.shape == (3, 14, 14)
    assert [np.unravel_index(m.argmax(), m.shape) for m in layout.maps] == [(0, 0), (0, 1), (0, 2)]
    assert layout.labels == ["head 0", "head 1", "head 2"]


def test_register_tokens_are_found_and_left_out():
    w = torch.tensor(_one_hot_weights(5, 5, 2))  # the class token, 4 registers, 5x5 patches
    layout = attention_layout(w[0])  # one image [heads, T, S] reads too
    assert (layout.prefix, layout.side) == (5, 5)
    assert layout.maps[1, 0, 1] == 1.0 and layout.maps.sum() == 2.0


def test_a_grid_that_cannot_be_decided_is_refused_with_the_fix():
    with pytest.raises(DrawingError, match=r"(?s)17 tokens: the patch grid cannot be decided.*"
                       r"prefix=1 \(4x4\), prefix=8 \(3x3\).*Fix: pass prefix="):
        attention_layout(_one_hot_weights(1, 4, 2))
    assert attention_layout(_one_hot_weights(1, 4, 2), prefix=1).side == 4


@pytest.mark.parametrize(("weights", "kwargs", "message"), [
    (np.zeros((2, 5, 5)), {"image": 3}, "out of range"),
    (np.zeros((5, 5)), {}, r"not \[N, heads, T, S\]"),
    (np.zeros((1, 2, 5, 5)), {"prefix": 2}, "no square patch grid"),
])
def test_bad_arguments_are_clear_errors(weights, kwargs, message):
    with pytest.raises(DrawingError, match=message):
        attention_layout(weights, **kwargs)


def test_the_attended_patch_is_white_in_its_heads_cell(tmp_path):
    weights = _one_hot_weights(1, 5, 2)
    image = attention_grid(weights, title="blocks.0.attn:attn", path=tmp_path / "a.png")
    assert (tmp_path / "a.png").is_file()
    grey = np.asarray(image.convert("L"), dtype=float)
    assert grey.shape[1] > grey.shape[0] / 2  # two cells side by side under the header
    changed = []
    for head in (0, 1):  # move one head's attended patch to patch (1, 2): only its cell changes
        moved = weights.copy()
        moved[0, head, :, 1 + head], moved[0, head, :, 1 + 7] = 0.0, 1.0
        drawn = attention_grid(moved, title="blocks.0.attn:attn").convert("L")
        changed.append(np.nonzero((np.asarray(drawn, dtype=float) != grey).any(axis=0))[0])
    assert changed[0].size and changed[1].size, "the figure follows the weights"
    assert changed[0].max() < changed[1].min(), "head 0's cell, left of head 1's, changes alone"


FAILING_ATTENTION_TEST = """
    import torch
    from timm.models.vision_transformer import VisionTransformer
    from actassert import record

    def test_fails():
        net = VisionTransformer(img_size=40, patch_size=8, embed_dim=24, depth=1, num_heads=3,
                                num_classes=5).eval()
        with record(net, ["blocks.0.attn:attn"]) as acts:
            net(torch.rand(2, 3, 40, 40))
        assert acts["blocks.0.attn:attn"].shape[1] == 4
"""


def test_a_failing_test_that_recorded_attention_leaves_the_attention_figure(pytester):
    pytest.importorskip("timm")
    pytester.makepyfile(FAILING_ATTENTION_TEST)
    result = pytester.runpytest(*RUN)
    result.assert_outcomes(failed=1)
    files = [p.name for p in (pytester.path / "actassert-results").rglob("*.png")]
    assert "attention-VisionTransformer-blocks.0.attn-attn.png" in files, files
