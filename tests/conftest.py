"""Shared fixtures of actassert's own tests: small networks and real images, built once."""

from __future__ import annotations

import importlib
import pathlib

import pytest
import torch
import torchvision
from torch import nn

# Import torchvision's model registry (and the torch internals it pulls in lazily) here, once:
# pytester's in-process runs drop modules first imported inside them, and torch cannot
# register its operator libraries twice.
torchvision.models.get_model_weights("resnet18")
torchvision.models.list_models(torchvision.models)
# The same for actassert's own modules: an inner run must see the classes the outer one sees.
for _name in ("artefacts.results", "assertions", "drawing", "measures", "models.loading", "recording",
              "stimuli", "strategies", "tuning", "tutorial"):
    importlib.import_module(f"actassert.{_name}")


#: The slow part of the suite, left out by ``pytest -m "not slow"`` (the README's quick subset):
#: whole modules that run real ImageNet-sized models, the tutorial, a browser or a memory probe,
SLOW_MODULES = frozenset({
    "test_tutorial.py", "test_tutorial_readme.py", "test_timm_models.py", "test_readme.py",
    "test_selectivity_mobilenet.py", "test_golden_mobilenet.py", "test_gallery_browser.py",
    "test_sweep_memory.py",
})
#: and single tests that run the whole battery on MobileNetV2, timm or ResNet-18 at full size
#: (a name with ``[id]`` marks that parameter's test only).
SLOW_TESTS = frozenset({
    "test_battery_in_an_empty_folder_passes_then_compares_with_its_goldens",
    "test_battery_from_ini_joins_an_existing_suite", "test_check_command_exit_codes",
    "test_timm_convnext_with_random_init_runs_the_whole_battery",
    "test_readme_quotes_the_dead_kernel_figure_the_check_prints",
    "test_torchvision_zero_init_residual_passes_dead_kernels",
    # pytest-xdist runs start worker processes (10 to 20 s each), and the zoo's CI subset
    "test_goldens_are_safe_under_xdist", "test_xdist_workers_write_one_merged_gallery",
    "test_xdist_workers_get_their_device_from_the_fixture",
    "test_a_network_that_raises_after_the_sweep_never_breaks_reporting[xdist]",
    "test_unwritable_results_folder_later_is_a_warning_not_an_internal_error[xdist]",
    "test_benchmark_fixture_gets_the_ratio_in_extra_info",
    "test_the_ci_subset_passes_one_model_per_family",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tests ``slow`` (one list here rather than a mark in every module)."""
    for item in items:
        name = getattr(item, "originalname", None) or item.name
        if item.path.name in SLOW_MODULES or name in SLOW_TESTS or item.name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def skimage_data() -> pathlib.Path:
    """scikit-image's bundled photos (chelsea.png, coffee.png, ...)."""
    skimage = pytest.importorskip("skimage")
    return pathlib.Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="session")
def photo(skimage_data: pathlib.Path):
    """A loader of one scikit-image photo as a [1, 3, 224, 224] tensor in [0, 1]."""
    import numpy as np
    from PIL import Image

    def load(name: str, size: int = 224) -> torch.Tensor:
        image = Image.open(skimage_data / name).convert("RGB").resize((size, size))
        array = np.array(image, dtype=np.float32) / 255.0
        return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)

    return load


def tiny_net() -> nn.Module:
    """A small CNN with a reused module and an in-place ReLU, for fast recording tests."""
    torch.manual_seed(0)

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.relu = nn.ReLU(inplace=True)
            self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.relu(self.conv1(x))
            x = self.relu(self.block(x))
            return self.fc(torch.flatten(self.pool(x), 1))

    return Tiny().eval()


@pytest.fixture
def tiny() -> nn.Module:
    return tiny_net()
