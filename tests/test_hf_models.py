"""Hugging Face transformers models by name (``hf:``): tiny models saved with ``save_pretrained``
into a temporary folder, their preprocessing, seeds, the offline cache, logits from a
``ModelOutput`` and the battery on one."""

import os
import sys
import time

import pytest
import torch

import actassert as aa
from actassert import weightfiles
from actassert.errors import MissingExtraError, ModelSourceError, WeightsUnavailableError
from actassert.models import clear_model_cache
from actassert.models.names import ModelSpec

try:  # every test of this file needs the hf extra
    import transformers
    from huggingface_hub import constants as hub_constants
except ImportError:
    pytestmark = pytest.mark.skip(reason="transformers is not installed: "
                                         "pip install 'actassert[hf]'")

SIDE = 64  # the battery's smallest circles need about 48 px
TINY = dict(image_size=SIDE, patch_size=16, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=64)


def _processor(folder, **size) -> None:
    transformers.ViTImageProcessor(image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.25, 0.3],
                                   size=size or {"height": SIDE, "width": SIDE}
                                   ).save_pretrained(folder)


@pytest.fixture(scope="module")
def vit_folder(tmp_path_factory):
    """A tiny ViT classifier (10 named classes) and its image processor, as save_pretrained writes."""
    folder = tmp_path_factory.mktemp("hf") / "tiny-vit"
    config = transformers.ViTConfig(**TINY, num_labels=10,
                                    id2label={i: f"class{i}" for i in range(10)},
                                    label2id={f"class{i}": i for i in range(10)})
    torch.manual_seed(5)
    transformers.ViTForImageClassification(config).eval().save_pretrained(folder)
    _processor(folder)
    return folder


@pytest.fixture(scope="module")
def convnext_folder(tmp_path_factory):
    """A tiny ConvNeXt classifier (maps [N, K, H, W] between its stages)."""
    folder = tmp_path_factory.mktemp("hf") / "tiny-convnext"
    config = transformers.ConvNextConfig(num_stages=2, hidden_sizes=[8, 16], depths=[1, 1],
                                         num_labels=4, image_size=SIDE)
    transformers.ConvNextForImageClassification(config).save_pretrained(folder)
    transformers.ConvNextImageProcessor(size={"shortest_edge": SIDE}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def dinov2_folder(tmp_path_factory):
    """A tiny DINOv2 backbone (AutoModel, no classifier) with a centre-cropping processor."""
    folder = tmp_path_factory.mktemp("hf") / "tiny-dinov2"
    transformers.Dinov2Model(transformers.Dinov2Config(**TINY)).save_pretrained(folder)
    transformers.BitImageProcessor(size={"shortest_edge": 72}, crop_size={"height": SIDE,
                                   "width": SIDE}, do_center_crop=True).save_pretrained(folder)
    return folder


def test_hf_names_parse_as_hub_ids_or_folders():
    from actassert.models.names import parse_model_name

    assert parse_model_name("hf:google/vit-base-patch16-224") == ModelSpec(
        "hf", "google/vit-base-patch16-224")
    assert parse_model_name("hf:C:/models/vit").name == "C:/models/vit"  # a ':' in a path
    assert parse_model_name("hf:/tmp/vit").label == "hf:/tmp/vit"


def test_a_saved_classifier_loads_with_its_processors_preprocessing(vit_folder):
    net = aa.load_model(f"hf:{vit_folder}", device="cpu")
    assert net.name == f"hf:{vit_folder}" and net.weights == "DEFAULT"
    assert (net.mean, net.std, net.input_size) == ((0.4, 0.5, 0.6), (0.2, 0.25, 0.3), SIDE)
    assert type(net.module).__name__ == "ViTForImageClassification"
    assert net.categories == [f"class{i}" for i in range(10)]
    saved = transformers.ViTForImageClassification.from_pretrained(vit_folder)
    assert torch.equal(net.module.classifier.weight, saved.classifier.weight)
    assert not net.module.training and aa.load_model(f"hf:{vit_folder}", device="cpu") is net


def test_network_returns_the_logits_of_a_model_output_and_classify_works(vit_folder):
    net = aa.load_model(f"hf:{vit_folder}", device="cpu")
    images = torch.rand(3, 3, SIDE, SIDE)
    out = net(images)
    with torch.no_grad():
        expected = net.module(net.preprocess(images))
    assert isinstance(expected, transformers.utils.ModelOutput)  # what the module returns
    assert isinstance(out, torch.Tensor) and torch.equal(out, expected.logits)
    probs, index = net.classify(images, k=3)
    assert probs.shape == index.shape == (3, 3)
    torch.testing.assert_close(probs, expected.logits.softmax(1).topk(3).values)
    with aa.record(net, ["vit.layernorm", "classifier"]) as acts:
        net(images)
    assert acts["vit.layernorm"].shape == (3, 17, 32)  # 16 patches and the class token
    assert torch.equal(acts["classifier"], out)  # the head sees the class token only


def test_classify_works_on_a_transformers_model_wrapped_by_hand():
    """Issue 18: 'ImageClassifierOutput' object has no attribute 'softmax'."""
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(transformers.ViTConfig(**TINY, num_labels=5))
    net = aa.Network(model, mean=(0.5,) * 3, std=(0.5,) * 3, input_size=SIDE, device="cpu")
    probs, index = net.classify(torch.rand(2, 3, SIDE, SIDE), k=2)
    assert probs.shape == index.shape == (2, 2) and bool((probs[:, 0] >= probs[:, 1]).all())


def test_a_backbone_loads_with_automodel_and_classify_says_why_not(dinov2_folder):
    net = aa.load_model(f"hf:{dinov2_folder}", device="cpu")
    assert type(net.module).__name__ == "Dinov2Model" and net.categories is None
    assert net.input_size == SIDE  # the centre crop, not the resize
    out = net(torch.rand(2, 3, SIDE, SIDE))
    assert out.last_hidden_state.shape == (2, 17, 32)  # no logits: returned as it is
    with pytest.raises(TypeError, match=r"classify needs logits \[N, classes\], but the module "
                                        r"returned a BaseModelOutputWithPooling"):
        net.classify(torch.rand(2, 3, SIDE, SIDE))


def test_weights_none_builds_from_the_config_with_a_seeded_init(vit_folder):
    clear_model_cache()
    a = aa.load_model(f"hf:{vit_folder}", weights=None, device="cpu")
    b = aa.load_model(f"hf:{vit_folder}", weights=None, device="cpu", seed=1)
    clear_model_cache()
    torch.manual_seed(7)
    state = torch.random.get_rng_state()
    again = aa.load_model(f"hf:{vit_folder}", weights=None, device="cpu")
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.weights is None and a.input_size == SIDE
    first = dict(a.module.named_parameters())
    assert all(torch.equal(p, first[n]) for n, p in again.module.named_parameters())
    w = "vit.embeddings.patch_embeddings.projection.weight"
    assert not torch.equal(first[w], dict(b.module.named_parameters())[w])
    saved = transformers.ViTForImageClassification.from_pretrained(vit_folder)
    assert not torch.equal(first[w], dict(saved.named_parameters())[w])


def test_the_guard_reloads_the_saved_weights(vit_folder):
    net = aa.load_model(f"hf:{vit_folder}", device="cpu")
    before = net.module.classifier.weight.clone()
    net.module.classifier.weight.zero_()
    assert any("modified" in f for f in net.restore())
    assert torch.equal(net.module.classifier.weight, before) and net.problems() == []


def test_a_folder_without_an_image_processor_is_refused_not_guessed(tmp_path):
    transformers.ViTModel(transformers.ViTConfig(**TINY)).save_pretrained(tmp_path / "bare")
    with pytest.raises(ModelSourceError, match=r"no image processor to take mean, std and input "
                                               r"size from .*Fix: save it beside the model"):
        aa.load_model(f"hf:{tmp_path / 'bare'}", device="cpu")
    with pytest.raises(ModelSourceError, match=r"no folder .*Fix: give a folder written by"):
        aa.load_model(f"hf:{tmp_path / 'missing'}", device="cpu")
    _processor(tmp_path / "wide", height=SIDE, width=48)
    transformers.ViTModel(transformers.ViTConfig(**TINY)).save_pretrained(tmp_path / "wide")
    with pytest.raises(ModelSourceError, match=r"makes 64x48 images; actassert's stimuli are "
                                               r"square"):
        aa.load_model(f"hf:{tmp_path / 'wide'}", device="cpu")


def test_other_weights_names_are_refused(vit_folder):
    with pytest.raises(ValueError, match=r"weights='IMAGENET1K_V1' for hf:.*give 'DEFAULT'"):
        aa.load_model(f"hf:{vit_folder}", weights="IMAGENET1K_V1", device="cpu")


def test_missing_transformers_says_which_extra_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers now fails
    with pytest.raises(MissingExtraError, match=r"needs transformers, which is not installed\. "
                                                r"Fix: pip install 'actassert\[hf\]'"):
        aa.load_model("hf:google/vit-base-patch16-224", device="cpu")


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, downloads forbidden, a cold model cache."""
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    weightfiles.configure(weight_dirs=[], offline=True)
    clear_model_cache()
    yield tmp_path / "hf"
    weightfiles.configure(weight_dirs=[], offline=None)
    clear_model_cache()


def test_a_hub_model_offline_is_a_fail_fast_error_with_the_cache_and_fix(empty_hf_cache):
    before = (os.environ.get("HF_HUB_OFFLINE"), hub_constants.HF_HUB_OFFLINE)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as info:
        aa.load_model("hf:google/vit-base-patch16-224", device="cpu")
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"offline failure took {elapsed:.1f} s"
    message = str(info.value)
    assert "weights DEFAULT of hf:google/vit-base-patch16-224 are unavailable" in message
    cache = empty_hf_cache / "models--google--vit-base-patch16-224"
    assert f"Hugging Face cache: {cache}" in message
    assert "Download: not attempted (offline" in message and "HF_HUB_OFFLINE=1" in message
    assert "Fix: use weights=None (NAME@none)" in message
    assert (os.environ.get("HF_HUB_OFFLINE"), hub_constants.HF_HUB_OFFLINE) == before


def test_a_hub_model_loads_offline_from_the_hugging_face_cache(empty_hf_cache, vit_folder):
    """The cache layout huggingface_hub writes (refs/main naming a snapshot), filled by hand."""
    repo = empty_hf_cache / "models--someone--tiny-vit"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for path in vit_folder.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())
    net = aa.load_model("hf:someone/tiny-vit", device="cpu")
    assert net.name == "hf:someone/tiny-vit" and net.input_size == SIDE
    saved = transformers.ViTForImageClassification.from_pretrained(vit_folder)
    assert torch.equal(net.module.classifier.weight, saved.classifier.weight)
    random = aa.load_model("hf:someone/tiny-vit", weights=None, device="cpu")
    assert not torch.equal(random.module.classifier.weight, saved.classifier.weight)


def test_the_battery_runs_on_a_saved_hf_model(pytester, convnext_folder):
    from actassert.battery.names import CHECKS

    spec = f"hf:{convnext_folder}@none"
    result = pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider", "-p",
                                "no:randomly", "-rA", "--actassert-model", spec)
    result.assert_outcomes(passed=len(CHECKS))
    result.stdout.fnmatch_lines([f"PASSED {spec}::{check}" for check in CHECKS],
                                consecutive=False)
