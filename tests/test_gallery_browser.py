"""The failure gallery opens in a real browser: headless Chromium renders it with its figures."""

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAILED_RED = np.array([176, 0, 32])  # the colour of a failed test's heading in the gallery
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian's chromium is not installed (.ci/run installs it)")


def _chromium(profile, *args):
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=True).stdout


def _loaded(dom: str) -> tuple[int, int]:
    body = re.search(r"<body[^>]*>", dom).group(0)
    return (int(re.search(r'data-loaded="(\d+)"', body).group(1)),
            int(re.search(r'data-missing="(\d+)"', body).group(1)))


@pytest.fixture
def gallery(pytester):
    pytester.makepyfile("""
        import torch
        from actassert import record

        def test_fails(actassert_model):
            net = actassert_model("resnet18", weights=None)
            with record(net, ["maxpool", "layer1"]):
                net(torch.rand(1, 3, 64, 64))
            assert False, "planted failure"
    """)
    pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider").assert_outcomes(failed=1)
    return pytester.path / "actassert-results" / "index.html"


def test_every_figure_loads_in_chromium(gallery, tmp_path):
    assert _loaded(_chromium(tmp_path / "p", "--dump-dom", gallery.as_uri())) == (3, 0)


def test_a_deleted_figure_is_named_not_broken(gallery, tmp_path):
    next(gallery.parent.glob("*/grid-*maxpool.png")).unlink()
    dom = _chromium(tmp_path / "p", "--dump-dom", gallery.as_uri())
    assert _loaded(dom) == (2, 1)
    assert 'class="missing">missing file: grid-resnet18-maxpool.png' in dom


def test_screenshot_shows_the_failed_heading(gallery, tmp_path):
    shot = tmp_path / "gallery.png"
    _chromium(tmp_path / "p", "--window-size=1200,900", f"--screenshot={shot}", gallery.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (900, 1200)
    assert (np.abs(pixels - FAILED_RED).sum(axis=2) < 40).sum() > 100
