"""Where a sweep finds the kernels: from the module that produced a map, the image's aspect ratio
and the model's prefix tokens (actassert.layout); non-square Swin, ConvNeXt, MaxViT windows, ViT
and DeiT tokens with class, distillation and register tokens, against hand-computed oracles."""

import pytest
import torch
import torchvision
from torch import nn

import actassert as aa
from actassert import Network, record, sweep
from actassert.errors import SweepError
from actassert.layout import Context, decide, declared_prefix, fits_grid, token_grids
from actassert.stimuli import Stimuli, hue_disc
from actassert.tutorial.layer_figures import layer_figures


def wide(hues, height=64, width=96, radius=0.25):
    """Hue discs on ``height x width`` images (a centred crop of square ones)."""
    square = hue_disc(hues, size=width, radius=radius)
    top = (width - height) // 2
    return Stimuli(square.images[..., top:top + height, :].contiguous(),
                   square.masks[..., top:top + height, :].contiguous(), square.params)


def net_of(module):
    torch.manual_seed(0)
    return Network(module.eval(), mean=(0.5,) * 3, std=(0.25,) * 3, device="cpu")


def patch_cover(masks, rows, cols):
    """By hand: the share of each patch of a ``rows x cols`` grid that the mask covers."""
    _, _, h, w = masks.shape
    cover = torch.zeros(len(masks), rows, cols)
    for i in range(rows):
        for j in range(cols):
            patch = masks[:, 0, i * h // rows:(i + 1) * h // rows, j * w // cols:(j + 1) * w // cols]
            cover[:, i, j] = patch.float().mean(dim=(1, 2))
    return cover


def test_a_non_square_swin_map_is_read_channels_last_never_as_its_height():
    net = aa.load_model("swin_t", weights=None, device="cpu")
    discs = wide([0, 120, 240])
    layer = "features.1.0.mlp.0"
    resp = sweep(net, discs, [layer, "features.1.0.mlp.1", "features.1.0"], reduce="foreground")
    with record(net, [layer]) as acts:
        net(discs.images)
    assert acts[layer].shape == (3, 16, 24, 384)
    assert resp[layer].shape == (3, 384)  # today's main gave [3, 16]: rows read as kernels
    assert resp["features.1.0.mlp.1"].shape == (3, 384) and resp["features.1.0"].shape == (3, 96)
    cover = patch_cover(discs.masks, 16, 24)
    oracle = torch.einsum("nhwk,nhw->nk", acts[layer], cover) / cover.sum(dim=(1, 2))[:, None]
    torch.testing.assert_close(resp[layer], oracle)
    assert "out_features=384" in resp.layouts[layer].why


def test_a_non_square_convnext_mixes_both_layouts_each_read_from_its_module():
    net = aa.load_model("convnext_tiny", weights=None, device="cpu")
    discs = wide([0, 180])
    layers = ["features.1.0.block.2", "features.1.0.block.4", "features.1.0", "features.0"]
    resp = sweep(net, discs, layers, reduce="mean")
    with record(net, layers) as acts:
        net(discs.images)
    assert acts[layers[0]].shape == (2, 16, 24, 96) and acts[layers[2]].shape == (2, 96, 16, 24)
    torch.testing.assert_close(resp[layers[0]], acts[layers[0]].mean(dim=(1, 2)))
    torch.testing.assert_close(resp[layers[1]], acts[layers[1]].mean(dim=(1, 2)))  # GELU
    torch.testing.assert_close(resp[layers[2]], acts[layers[2]].mean(dim=(2, 3)))
    assert [resp.layouts[k].kernels for k in layers] == ["last", "last", "first", "first"]


def small_maxvit():
    return net_of(torchvision.models.MaxVit(
        input_size=(64, 64), stem_channels=8, partition_size=4, block_channels=[16, 32],
        block_layers=[1, 1], head_dim=8, stochastic_depth_prob=0.0))


@pytest.mark.parametrize("kind", ["window_attention", "grid_attention"])
def test_maxvit_windows_are_folded_back_into_the_map(kind):
    net = small_maxvit()
    discs = hue_disc([0, 120, 240], size=64, radius=0.3)
    owner_name = f"blocks.1.layers.0.layers.{kind}"
    layer = f"{owner_name}.mlp_layer.3"  # [B, windows, tokens, C] = [3, 4, 16, 32]
    resp = sweep(net, discs, [layer], reduce="foreground")
    with record(net, [layer]) as acts:
        net(discs.images)
    assert acts[layer].shape == (3, 4, 16, 32) and resp[layer].shape == (3, 32)  # main: [3, 4]
    owner = dict(net.module.named_modules())[owner_name]  # the model's own departition
    maps = owner.departition_op(owner.partition_swap(acts[layer]), owner.p,
                                *(s // owner.p for s in owner.grid_size))
    assert maps.shape == (3, 32, 8, 8)
    cover = patch_cover(discs.masks, 8, 8)
    oracle = torch.einsum("nkhw,nhw->nk", maps, cover) / cover.sum(dim=(1, 2))[:, None]
    torch.testing.assert_close(resp[layer], oracle)


def test_a_non_square_timm_maxvit_is_read_or_its_batch_folded_windows_refused():
    timm = pytest.importorskip("timm")
    net = net_of(timm.create_model("maxvit_nano_rw_256", pretrained=False, img_size=(64, 96)))
    discs = wide([0, 120])
    block = "stages.1.blocks.0.attn_grid"
    layers = [f"{block}.mlp.fc1", f"{block}.mlp.act", f"{block}.norm1"]
    resp = sweep(net, discs, layers, reduce="foreground")
    with record(net, layers) as acts:
        net(discs.images)
    cover = patch_cover(discs.masks, 8, 12)
    for layer in layers:
        assert acts[layer].shape[1:3] == (8, 12)  # [N, H, W, K]
        oracle = torch.einsum("nhwk,nhw->nk", acts[layer], cover) / cover.sum(dim=(1, 2))[:, None]
        torch.testing.assert_close(resp[layer], oracle)
    with pytest.raises(SweepError, match=r"(?s)attn.qkv' does not give one row per image.*"
                                         r"dim 0 of size 2.*\[32, 2, 3, 384\]"):
        sweep(net, discs, [f"{block}.attn.qkv"])


class Folded(nn.Module):
    """A block folding windows into the batch dim, as window attention does inside."""

    def forward(self, x):
        n, c, h, w = x.shape
        return x.reshape(n, c, 2, h // 2, 2, w // 2).permute(0, 2, 4, 3, 5, 1).reshape(
            n * 4, h // 2, w // 2, c)


class Cube(nn.Module):
    """Gives [N, 8, 8, 8] on 64 px images: either reading fits."""

    def forward(self, x):
        return nn.functional.adaptive_avg_pool2d(x[:, :1].expand(-1, 8, -1, -1), 8)


class Scale(nn.Module):
    """An elementwise op of no known kind."""

    def forward(self, x):
        return 2 * x


def test_a_probe_at_a_larger_size_decides_what_kind_and_aspect_ratio_cannot():
    net = net_of(nn.Sequential(nn.Conv2d(3, 8, 8, stride=8), Scale()))  # [N, 8, 8, 8] at 64 px
    discs = hue_disc([0, 90], size=64, radius=0.3)
    resp = sweep(net, discs, ["1"], reduce="foreground")
    assert "probe" in resp.layouts["1"].why and resp.layouts["1"].kernels == "first"
    with record(net, ["1"]) as acts:
        net(discs.images)
    cover = patch_cover(discs.masks, 8, 8)
    oracle = torch.einsum("nkhw,nhw->nk", acts["1"], cover) / cover.sum(dim=(1, 2))[:, None]
    torch.testing.assert_close(resp["1"], oracle)
    assert net.module[1]._forward_hooks == {}  # the probe's hooks are gone
    again = sweep(net, discs, ["0", "1"], reduce="mean")  # a second layer recorded once
    torch.testing.assert_close(again["1"], acts["1"].mean(dim=(2, 3)))
    assert again["0"].shape == (2, 8)


def test_outputs_with_windows_in_the_batch_dim_are_refused():
    net = net_of(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Folded()))
    with pytest.raises(SweepError, match=r"(?s)layer '1' does not give one row per image.*"
                                         r"dim 0 of size 2.*\[8, 32, 32, 8\].*Fix: sweep"):
        sweep(net, hue_disc([0, 90], size=64), ["1"])


def test_an_undecidable_map_is_refused_naming_layer_shape_candidates_and_the_fix():
    net = net_of(nn.Sequential(nn.Conv2d(3, 3, 1), Cube()))
    discs = hue_disc([0, 90], size=64)
    with pytest.raises(SweepError) as info:
        sweep(net, discs, ["1"])
    message = str(info.value)
    for part in ("layer '1'", "[2, 8, 8, 8]", "both readings tile the image", "Cube",
                 "channels='first'", "channels='last'", "Fix:"):
        assert part in message
    assert sweep(net, discs, ["1"], channels="first")["1"].shape == (2, 8)


def tiny_vit(size=64):
    return net_of(torchvision.models.VisionTransformer(
        image_size=size, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64))


def token_oracles(tokens, masks, prefix, rows, cols, level):
    """Foreground, threshold and centre on tokens [N, T, K] by hand: patch grid after ``prefix``."""
    grid = tokens[:, prefix:].reshape(len(tokens), rows, cols, -1)
    cover = patch_cover(masks, rows, cols)
    foreground = torch.einsum("nhwk,nhw->nk", grid, cover) / cover.sum(dim=(1, 2))[:, None]
    threshold = (grid > level).float().mean(dim=(1, 2))
    # a centred disc on an even grid: its centre is the corner shared by the 4 middle tokens
    centre = grid[:, rows // 2 - 1:rows // 2 + 1, cols // 2 - 1:cols // 2 + 1].mean(dim=(1, 2))
    return foreground, threshold, centre


def check_token_reductions(net, discs, layers, prefix, rows, cols):
    with record(net, layers) as acts:
        net(discs.images)
    for layer in layers:
        expected = token_oracles(acts[layer], discs.masks, prefix, rows, cols, 0.1)
        got = [sweep(net, discs, [layer], reduce=how, **extra)[layer] for how, extra in
               (("foreground", {}), ("threshold", {"threshold": 0.1}), ("centre", {}))]
        for obtained, oracle in zip(got, expected):
            torch.testing.assert_close(obtained, oracle)
    # mean and median stay over all tokens, the prefix tokens included
    torch.testing.assert_close(sweep(net, discs, layers[:1])[layers[0]], acts[layers[0]].mean(1))


def test_torchvision_vit_tokens_leave_the_class_token_out():
    net = tiny_vit()
    discs = hue_disc([0, 120], size=64, radius=0.3)
    layers = ["encoder.layers.encoder_layer_0.mlp.0", "encoder.layers.encoder_layer_0.mlp.1",
              "encoder.layers.encoder_layer_1", "encoder.ln"]
    check_token_reductions(net, discs, layers, prefix=1, rows=4, cols=4)
    assert declared_prefix(net.module) == (1, "the token parameters class_token (1)")


def test_timm_register_and_distillation_tokens_leave_the_prefix_out_on_non_square_images():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reg = net_of(timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False,
                                   img_size=(56, 84), depth=2, embed_dim=48, num_heads=2))
    check_token_reductions(reg, wide([0, 120], 56, 84, radius=0.3),
                           ["blocks.0.mlp.fc1", "blocks.0.mlp.act", "blocks.1", "norm"],
                           prefix=5, rows=4, cols=6)
    deit = net_of(timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False,
                                    img_size=64, depth=2))
    check_token_reductions(deit, hue_disc([0, 120], size=64, radius=0.3),
                           ["blocks.0.mlp.fc1", "blocks.1"], prefix=2, rows=4, cols=4)


def test_hugging_face_register_tokens_are_counted_from_the_parameters():
    transformers = pytest.importorskip("transformers")
    config = transformers.Dinov2WithRegistersConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        image_size=56, patch_size=14, num_register_tokens=4)
    model = transformers.Dinov2WithRegistersModel(config)
    count, how = declared_prefix(model)
    assert count == 5 and "register_tokens (4)" in how and "cls_token (1)" in how
    assert "mask_token" not in how  # a [1, D] parameter, not a token put before the grid


def test_a_token_parameter_counts_only_as_one_put_before_the_grid():
    """``[1, T, D]`` is T tokens joined before the patches; a ``[1, D]`` or ``[D]`` parameter of
    the same name is not (it is added to a token, as a mask token is substituted into one)."""
    model = nn.Module()
    model.cls_token = nn.Parameter(torch.zeros(1, 8))  # 2-d: not a token sequence
    model.reg_token = nn.Parameter(torch.zeros(1, 3, 8))
    model.dist_token = nn.Parameter(torch.zeros(8))
    count, how = declared_prefix(model)
    assert count == 3 and how == "the token parameters reg_token (3)"


def test_tokens_without_a_single_grid_are_refused_for_spatial_reductions_only():
    ctx = Context("blocks.0", (64, 64), 2, nn.Linear(4, 8), prefix=(None, "none declared"))
    with pytest.raises(SweepError, match=r"(?s)blocks.0.*\[2, 17, 8\].*17 tokens form no patch "
                                         r"grid.*num_prefix_tokens"):
        decide((2, 17, 8), ctx)
    assert decide((2, 17, 8), Context(**{**ctx.__dict__, "spatial": False})).kernels == "last"


def test_grids_fit_the_image_with_one_stride():
    assert fits_grid(16, 24, (64, 96)) and not fits_grid(24, 16, (64, 96))
    assert fits_grid(4, 4, (64, 64)) and fits_grid(1, 1, (64, 96)) and not fits_grid(2, 2, (8, 64))
    assert token_grids(197, (224, 224), 1) == [(1, 14, 14)]
    assert token_grids(29, (56, 84), 5) == [(5, 4, 6)]
    assert token_grids(9, (28, 28), 5) == [(0, 3, 3), (5, 2, 2)]  # ambiguous: refused


class _ChannelsLast(nn.Module):
    """A conv, then a Linear over channels-last maps: ``mix`` returns ``[N, H, W, 5]``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4, padding=1)
        self.mix = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(self.conv(x).permute(0, 2, 3, 1))


def test_the_tutorials_kernel_grids_read_a_layer_as_its_sweep_did(tmp_path):
    torch.manual_seed(0)
    net = Network(_ChannelsLast().eval(), name="channels-last", device="cpu")
    discs = hue_disc([0, 90, 180, 270], size=32, radius=0.3)
    responses = sweep(net, discs, ["mix"], reduce="mean")
    assert responses["mix"].shape == (4, 5)  # 5 kernels, on the last dim of [N, 8, 8, 5]
    figures = layer_figures(net, discs, {"mix": responses.tuning("hue", "mix")}, tmp_path, "t")
    assert sorted(figures["mix"].shown_kernels) == [0, 1, 2, 3, 4], "5 kernel maps, not 8 rows"
