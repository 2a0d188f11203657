"""timm models by name: preprocessing, seeds, the Hugging Face cache offline, channels-last maps
and ViT tokens through record, sweep and failure figures."""

import os
import sys
import time

import pytest
import torch

import actassert as aa
from actassert import evidence, weightfiles
from actassert.artefacts.results import kernel_maps, write_artefacts
from actassert.drawing import kernel_grid
from actassert.errors import MissingExtraError, ModelNotFoundError, WeightsUnavailableError
from actassert.models import cached_models, clear_model_cache, evict

try:  # every test of this file needs the timm extra
    import timm
    from huggingface_hub import constants as hub_constants
except ImportError:
    pytestmark = pytest.mark.skip(reason="timm is not installed: pip install 'actassert[timm]'")


@pytest.fixture(scope="module")
def convnext():
    return aa.load_model("timm:convnext_tiny", weights=None, device="cpu")


@pytest.fixture(scope="module")
def vit():
    return aa.load_model("timm:vit_tiny_patch16_224", weights=None, device="cpu")


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face and torch hub cache, downloads forbidden, a cold model cache."""
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    weightfiles.configure(weight_dirs=[], offline=True)
    clear_model_cache()
    yield tmp_path / "hf"
    weightfiles.configure(weight_dirs=[], offline=None)
    clear_model_cache()


def test_preprocessing_comes_from_the_pretrained_cfg(convnext, vit):
    assert convnext.name == "timm:convnext_tiny" and convnext.weights is None
    assert (convnext.mean, convnext.std, convnext.input_size) == (
        (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 224)
    assert (vit.mean, vit.std) == ((0.5,) * 3, (0.5,) * 3)
    assert convnext.categories[967] == "espresso"
    assert not any(m.training for m in convnext.module.modules())
    assert not any(p.requires_grad for p in convnext.module.parameters())
    assert aa.load_model("timm:convnext_tiny", weights=None, device="cpu") is convnext


def test_random_init_is_seeded():
    clear_model_cache()
    a = aa.load_model("timm:test_resnet", weights=None, device="cpu")
    b = aa.load_model("timm:test_resnet", weights=None, device="cpu", seed=1)
    clear_model_cache()
    again = aa.load_model("timm:test_resnet", weights=None, device="cpu")
    first = dict(a.module.named_parameters())
    assert all(torch.equal(p, first[n]) for n, p in again.module.named_parameters())
    assert not torch.equal(a.module.conv1[0].weight, b.module.conv1[0].weight)


def test_loading_does_not_move_the_global_rng():
    torch.manual_seed(7)
    state = torch.random.get_rng_state()
    clear_model_cache()
    aa.load_model("timm:test_resnet", weights=None, device="cpu", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_the_guard_reloads_a_timm_models_initial_weights():
    net = aa.load_model("timm:test_resnet", weights=None, device="cpu")
    before = net.module.conv1[0].weight.clone()
    net.module.conv1[0].weight.zero_()
    assert any("modified" in f for f in net.restore())
    assert torch.equal(net.module.conv1[0].weight, before) and net.problems() == []


def test_an_unknown_timm_model_names_the_closest_ones():
    with pytest.raises(ModelNotFoundError, match=r"no timm model called 'convnxt_tiny'\. Did you "
                                                 r"mean: convnext_tiny.*timm.list_models\(\)"):
        aa.load_model("timm:convnxt_tiny", weights=None, device="cpu")


def test_a_bad_pretrained_tag_lists_the_tags():
    with pytest.raises(ValueError, match="not a pretrained tag of timm:test_resnet; choose one "
                                         "of DEFAULT, r160_in1k, or None"):
        aa.load_model("timm:test_resnet", weights="nope", device="cpu")


def test_missing_timm_says_which_extra_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm now raises ImportError
    with pytest.raises(MissingExtraError, match=r"needs timm, which is not installed\. Fix: pip "
                                                r"install 'actassert\[timm\]'"):
        aa.load_model("timm:resnet18", weights=None, device="cpu")


def test_pretrained_weights_offline_fail_fast_with_places_and_fix(hf_cache):
    before_env = os.environ.get("HF_HUB_OFFLINE")
    before_flag = hub_constants.HF_HUB_OFFLINE
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as info:
        aa.load_model("timm:resnet18", device="cpu")
    elapsed = time.perf_counter() - start
    print(f"timm:resnet18 pretrained, offline: WeightsUnavailableError after {elapsed:.2f} s")
    assert elapsed < 5.0, f"offline failure took {elapsed:.1f} s"  # ~0.5 s; a minute without
    message = str(info.value)
    assert "weights a1_in1k of timm:resnet18 are unavailable" in message
    assert f"Hugging Face cache: {hf_cache / 'models--timm--resnet18.a1_in1k'}" in message
    assert "Download: not attempted (offline" in message
    assert "Fix: use weights=None for a seeded random initialisation" in message
    assert (os.environ.get("HF_HUB_OFFLINE"), hub_constants.HF_HUB_OFFLINE) == (before_env,
                                                                                before_flag)


def _fill_hf_cache(cache, repo: str, state: dict) -> None:
    """The layout huggingface_hub writes: refs/main names a snapshot holding the file."""
    from safetensors.torch import save_file

    folder = cache / ("models--" + repo.replace("/", "--"))
    commit = "0" * 40
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / "model.safetensors"))


def test_pretrained_weights_load_offline_from_the_hugging_face_cache(hf_cache):
    torch.manual_seed(11)
    reference = timm.create_model("test_resnet").state_dict()
    _fill_hf_cache(hf_cache, "timm/test_resnet.r160_in1k", reference)
    net = aa.load_model("timm:test_resnet", device="cpu")
    assert net.weights == "r160_in1k" and net.input_size == 160
    assert torch.equal(net.module.state_dict()["conv1.0.weight"], reference["conv1.0.weight"])
    assert aa.load_model("timm:test_resnet.r160_in1k", device="cpu") is net
    net.module.conv1[0].weight.zero_()  # the guard reloads from the cache, still offline
    net.restore()
    assert torch.equal(net.module.conv1[0].weight, reference["conv1.0.weight"])


def test_channels_last_stages_record_sweep_and_draw_as_kernel_maps(convnext, tmp_path):
    layers = ["stages.0.blocks.0.norm", "stages.0.blocks.0"]  # [N,H,W,K] and [N,K,H,W]
    discs = aa.stimuli.hue_disc(range(0, 360, 120), size=64)
    record = evidence.begin()
    try:
        with aa.record(convnext, layers) as acts:
            convnext(discs.images)
        last = aa.sweep(convnext, discs, layers[0], channels="last")
        auto = aa.sweep(convnext, discs, layers, channels="auto")
    finally:
        evidence.end()
    assert acts[layers[0]].shape == (3, 16, 16, 96) and acts[layers[1]].shape == (3, 96, 16, 16)
    assert last[layers[0]].shape == (3, 96) and auto[layers[1]].shape == (3, 96)
    torch.testing.assert_close(auto[layers[0]], last[layers[0]])
    torch.testing.assert_close(auto[layers[0]], acts[layers[0]].mean(dim=(1, 2)))
    out = write_artefacts(record, tmp_path, max_images=16)
    assert out.problems == []
    grid = tmp_path / "grid-timm-convnext_tiny-stages.0.blocks.0.norm.png"
    from PIL import Image

    expected = kernel_grid(acts[layers[0]][0].movedim(-1, 0), title="x")  # 96 maps of 16x16
    assert grid in out.files and Image.open(grid).size == expected.size


def test_vit_tokens_sweep_and_draw_over_their_patch_grid(vit, tmp_path):
    discs = aa.stimuli.hue_disc([0, 180], size=224)
    record = evidence.begin()
    try:
        with aa.record(vit, ["blocks.0", "patch_embed"]) as acts:
            vit(discs.images)
        resp = aa.sweep(vit, discs, "blocks.11", channels="last")
    finally:
        evidence.end()
    assert acts["blocks.0"].shape == (2, 197, 192) and resp["blocks.11"].shape == (2, 192)
    maps, note = kernel_maps(acts["blocks.0"], channels_first=False)
    assert maps.shape == (2, 192, 14, 14) and "first 1 token(s) left out" in note
    assert torch.equal(maps[1, 5].flatten(), acts["blocks.0"][1, 1:, 5])
    out = write_artefacts(record, tmp_path, max_images=16)
    assert out.problems == []
    assert {f.name for f in out.files} >= {"grid-timm-vit_tiny_patch16_224-blocks.0.png",
                                           "grid-timm-vit_tiny_patch16_224-patch_embed.png",
                                           "grid-timm-vit_tiny_patch16_224-blocks.11.png"}


def test_tokens_without_a_patch_grid_are_skipped_with_a_note():
    maps, note = kernel_maps(torch.rand(1, 35, 8), channels_first=False)
    assert maps is None and "35 tokens form no square patch grid" in note


def test_cli_lists_a_timm_models_layers_with_channels_last_shapes(capsys):
    from actassert.cli import main

    assert main(["layers", "timm:convnext_tiny", "--weights", "none", "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("timm:convnext_tiny (random init), input [1, 3, 64, 64]:")
    assert "stages.0.blocks.0.norm" in out and "[1, 16, 16, 96]" in out


def test_cli_reports_missing_timm_weights_offline(hf_cache, capsys):
    from actassert.cli import main

    assert main(["layers", "timm:resnet18", "--weights", "DEFAULT", "--offline"]) == 2
    err = capsys.readouterr().err
    assert "weights a1_in1k of timm:resnet18 are unavailable" in err and "--weights none" in err


def teardown_module():
    for net in cached_models():
        if net.name.startswith("timm:"):
            evict(net)
