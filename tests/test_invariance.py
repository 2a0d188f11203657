"""Layer-by-layer determinism, batch invariance and hooks transparency; state left as found."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from actassert import (
    Network,
    assert_batch_invariant,
    assert_deterministic,
    assert_eval_mode,
    assert_hooks_transparent,
)
from actassert.determinism import TorchFlags
from actassert.invariance import batch_differences, compare, default_tolerance

CUDA = pytest.mark.skipif(not torch.cuda.is_available(),
                          reason="needs a CUDA GPU: checks the CUDA tolerances and kernels")


def failure(check: Callable[[], None]) -> list[str]:
    with pytest.raises(AssertionError) as info:
        check()
    return str(info.value).splitlines()


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def snapshot(module: nn.Module) -> dict[str, Any]:
    """Everything a check must leave as it found: flags, generators, modes, buffers, hooks."""
    return {
        "flags": TorchFlags.capture(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
        "numpy_rng": np.random.get_state()[1].copy(),
        "modes": [m.training for m in module.modules()],
        "buffers": {k: v.clone() for k, v in module.named_buffers()},
        "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules()),
    }


def assert_same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before["flags"] == after["flags"]
    assert torch.equal(before["torch_rng"], after["torch_rng"])
    assert before["python_rng"] == after["python_rng"]
    assert np.array_equal(before["numpy_rng"], after["numpy_rng"])
    assert before["modes"] == after["modes"] and before["hooks"] == after["hooks"] == 0
    assert before["buffers"].keys() == after["buffers"].keys()
    for key, value in before["buffers"].items():
        assert torch.equal(value, after["buffers"][key]), key


# -- a ResNet-18 left in train mode ----------------------------------------------------------------

def test_resnet_in_train_mode_names_batchnorm_first(resnet, images) -> None:
    resnet.train()
    try:
        lines = failure(lambda: assert_eval_mode(resnet))
        assert lines[3].startswith("Mode-dependent in train mode: 'bn1' (BatchNorm2d), "
                                   "'layer1.0.bn1' (BatchNorm2d), 'layer1.0.bn2' (BatchNorm2d)")
        assert lines[4].startswith("Also in train mode: (root) (ResNet), 'conv1' (Conv2d)")
        lines = failure(lambda: assert_batch_invariant(resnet, images[:2]))
        assert lines[0] == ("batch invariance check failed for ResNet (2 images, batch vs one at "
                            "a time)")
        assert lines[2].startswith("Obtained: first layer that depends on the batch: 'bn1' "
                                   "(BatchNorm2d, train mode): image ")
        assert lines[3] == "Before: 1 recorded tensors agree"  # conv1
        assert lines[4].startswith("After (relative difference): 'relu' ") and "(+" in lines[4]
        assert "model.eval()" in lines[-1]
    finally:
        resnet.eval()


def test_resnet_in_eval_mode_passes_every_check(resnet, images) -> None:
    before, two = snapshot(resnet), images[:2]
    assert_eval_mode(resnet)
    assert_deterministic(resnet, two)
    assert_batch_invariant(resnet, two)
    assert_hooks_transparent(resnet, two)
    assert_same_state(before, snapshot(resnet))


CHECKS = {
    "eval_mode": lambda net, x: assert_eval_mode(net),
    "deterministic": lambda net, x: assert_deterministic(net, x, runs=3),
    "batch_invariant": lambda net, x: assert_batch_invariant(net, x),
    "hooks_transparent": lambda net, x: assert_hooks_transparent(net, x, ["layer1", "fc"]),
}


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("check", CHECKS)
def test_every_check_leaves_flags_modes_and_buffers_as_found(resnet, images, check, mode) -> None:
    resnet.train(mode == "train")
    try:
        before = snapshot(resnet)
        try:
            CHECKS[check](resnet, images[:2])
        except AssertionError:
            assert mode == "train" and check in ("eval_mode", "batch_invariant")
        assert_same_state(before, snapshot(resnet))
    finally:
        resnet.eval()


# -- assert_deterministic, network form --------------------------------------------------------------

class Middle(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Dropout(0.5), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.stem(x)))


def test_dropout_forced_on_in_the_middle_is_named_not_the_output(images) -> None:
    network = Network(Middle().eval(), name="middle", device="cpu")
    net = network.module
    net.block[1].train()
    before = snapshot(net)
    lines = failure(lambda: assert_deterministic(network, images))
    assert lines[0] == ("determinism check failed for middle (2 runs, layer by layer in forward "
                        "order)")
    assert lines[1] == "Expected: the same activations on every run (bit-identical)"
    assert lines[2].startswith("Obtained: first divergence at 'block.1' (Dropout, train mode), "
                               "run 2: max |difference| ")
    assert "elements differ" in lines[2]
    assert lines[3] == "Before: 4 of 12 recorded tensors before it agree (last: 'block.0')"
    assert lines[4].startswith("After: 'block.2' max ") and "'(output)' max" in lines[4]
    assert_same_state(before, snapshot(net))
    net.eval()
    assert_deterministic(network, images, runs=3)


def test_layers_limit_what_is_recorded_and_tolerances_apply(images) -> None:
    class Jitter(nn.Module):  # a rounding-sized random difference
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * (1 + 1e-7 * torch.randn(()))

    net = nn.Sequential(nn.Conv2d(3, 4, 3), Jitter(), nn.ReLU()).eval()
    lines = failure(lambda: assert_deterministic(net, images, layers=["0", "1"]))
    assert "first divergence at '1' (Jitter, eval mode)" in lines[2]
    assert lines[3] == "Before: 1 of 3 recorded tensors before it agree (last: '0')"
    assert_deterministic(net, images, rtol=1e-5)
    with pytest.raises(ValueError, match="rtol=-1 must be a number >= 0"):
        assert_deterministic(net, images, rtol=-1)
    with pytest.raises(TypeError, match="takes one images tensor"):
        assert_deterministic(net, images, images)
    with pytest.raises(TypeError, match="layers= needs a network"):
        assert_deterministic(lambda: images, layers=["0"])


def test_default_tolerances_are_bitwise_on_the_cpu() -> None:
    assert default_tolerance("runs", "cpu", torch.float32) == (0.0, 0.0)
    assert default_tolerance("runs", "cuda", torch.float16) == (1e-3, 0.0)
    assert default_tolerance("batch", "cpu", torch.float32) == (1e-4, 0.0)
    assert default_tolerance("batch", "cuda", torch.int64) == (0.0, 0.0)
    d = compare("x", torch.tensor([1.0, float("nan"), -4.0]),
                torch.tensor([1.0, float("nan"), -4.0001]), 0.0, 0.0)
    assert d.beyond == 1 and d.where == (2,) and d.scale == 4.0
    assert compare("x", torch.ones(3), torch.ones(3) + 1e-5, 2e-5, 0.0).beyond == 0
    assert compare("x", torch.ones(3), torch.ones(3) + 1e-5, 0.0, 2e-5).beyond == 0


# -- assert_batch_invariant ----------------------------------------------------------------------------

class BatchLeak(nn.Module):
    """Adds ``scale`` x the batch mean: each sample depends on the others."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * x.mean(0, keepdim=True)


def test_batch_tolerance_passes_rounding_and_fails_real_leaks(images) -> None:
    rounding = nn.Sequential(nn.Conv2d(3, 4, 3), BatchLeak(1e-6), nn.ReLU()).eval()
    assert_batch_invariant(rounding, images)  # 1e-6 of the scale: under the default 1e-4
    assert 0 < batch_differences(rounding, images)["1"] < 1e-5
    lines = failure(lambda: assert_batch_invariant(rounding, images, rtol=0))
    # bitwise, even the convolution differs: CPU kernels round differently per batch size
    assert "first layer that depends on the batch: '0' (Conv2d, eval mode)" in lines[2]
    assert "of the layer's largest magnitude" in lines[2] and "rtol= above" in lines[-1]
    leak = nn.Sequential(nn.Conv2d(3, 4, 3), BatchLeak(0.1), nn.ReLU()).eval()
    lines = failure(lambda: assert_batch_invariant(leak, images, layers=["0", "1"]))
    assert lines[1].startswith("Expected: each image's activations the same in the batch and "
                               "alone (within atol=0 + rtol=0.0001 x the layer's largest")
    with pytest.raises(ValueError, match="N >= 2"):
        assert_batch_invariant(leak, images[:1])


def test_mobilenet_v2_is_batch_invariant_within_the_default(actassert_model, photo) -> None:
    net = actassert_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu")
    images = torch.cat([photo("chelsea.png"), photo("coffee.png")])
    assert_batch_invariant(net, images, ["features.1", "features.9", "features.18", "classifier"])


# -- assert_hooks_transparent --------------------------------------------------------------------------

class HookSensitive(nn.Module):
    """A module whose output changes once a hook is attached (like a skipped fused fast path)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (1e-3 if self._forward_hooks else 0.0)


def test_hooks_transparency(images) -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), HookSensitive()).eval()
    assert_hooks_transparent(net, images, ["0", "1"])
    lines = failure(lambda: assert_hooks_transparent(net, images))
    assert lines[0] == "hooks transparency check failed for Sequential (3 tensors recorded)"
    assert lines[2].startswith("Obtained: '(output)': max |difference| 0.001 at ")
    dropout = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5)).train()
    assert_hooks_transparent(dropout, images)  # both forwards draw the same dropout mask


# -- CUDA --------------------------------------------------------------------------------------------

@CUDA
def test_cuda_checks_pass_with_their_default_tolerances(resnet, images) -> None:
    net = Network(torchvision.models.resnet18(weights=None).eval(), device="cuda")
    before = TorchFlags.capture()
    assert_deterministic(net, images.cuda())
    assert_batch_invariant(net, images.cuda())
    assert_hooks_transparent(net, images.cuda())
    assert TorchFlags.capture() == before
    net.module.train()
    lines = failure(lambda: assert_batch_invariant(net, images.cuda()))
    assert "first layer that depends on the batch: 'bn1'" in lines[2]
