"""The tutorial report: layers chosen, three experiments answered, summary.json true to sweep and Tuning."""

import json
import re
import shutil
import subprocess
import sys
from html import escape

import numpy as np
import pytest
import torch

from actassert.cli import main
from actassert.measures import sweep
from actassert.tuning import Tuning
from actassert.tutorial import Design, Progress, default_layers, run_tutorial
from actassert.tutorial.analysis import LayerResult, quartiles
from actassert.tutorial.design import shape_label
from actassert.tutorial.findings import Experiment, longest_run, spearman
from actassert.tutorial.page import render
from actassert.tutorial.photos import photo_section

SMALL = Design(side=64, hues=8, size_steps_per_octave=2, orientations=6, frequencies=(4.0, 8.0),
               phases=(0.0, 90.0))
LAYERS = ["relu", "layer2.0.relu#1", "layer4.1.relu#1"]


def test_default_layers_spread_activation_layers_over_the_depth():
    import actassert as aa

    net = aa.load_model("mobilenet_v2", weights=None, device="cpu")
    layers = default_layers(net, count=4)
    assert layers[0] == "features.0.2" and layers[-1] == "features.18.2"
    assert len(layers) == 4 and all(layer.endswith(".2") for layer in layers)


def test_default_layers_take_the_last_call_of_a_reused_relu():
    import actassert as aa

    net = aa.load_model("resnet18", weights=None, device="cpu")
    assert default_layers(net, count=3) == ["relu", "layer2.1.relu#1", "layer4.1.relu#1"]


def _row(layer, fraction, preferred=None):
    return LayerResult(layer, 10, 0, round(10 * fraction), fraction, [0.1, 0.2, 0.3], preferred)


def test_answers_follow_the_numbers():
    colour = Experiment("colour", "Colour", "hue", "degrees", "", "", "", 0.3,
                        [_row("a", 0.5), _row("b", 0.4), _row("c", 0.1), _row("d", 0.05)])
    assert colour.answer() == (
        "Colour: the share of colour-selective kernels (index >= 0.3) falls with depth (rank "
        "correlation -1.00): 50% in a and 5% in d; lowest 5% in d, highest 50% in a.")
    size = Experiment("size", "Size", "size", "px", "", "", "", 0.3,
                      [_row("a", 0.0), _row("b", 0.3, [8, 11, 16]), _row("c", 0.2, [16, 32, 45]),
                       _row("d", 0.2, [32, 45, 64])])
    assert "rises with depth (rank correlation +1.00): 11 px in b and 45 px in d; lowest 11 px " \
           "in b, highest 45 px in d." in size.answer()
    flat = Experiment("orientation", "Orientation", "orientation", "degrees", "", "", "", 0.3,
                      [_row("a", 0.3), _row("b", 0.5), _row("c", 0.25), _row("d", 0.4)])
    assert "shows no steady trend with depth" in flat.answer()
    valley = Experiment("colour", "Colour", "hue", "degrees", "", "", "", 0.3,
                        [_row("a", 0.4), _row("b", 0.2), _row("c", 0.1), _row("d", 0.5)])
    assert "falls, then rises again with depth" in valley.answer()


def test_trend_helpers():
    assert spearman([1, 2, 3]) == pytest.approx(1.0)
    assert spearman([3, 3, 3]) == 0.0
    assert longest_run([16, 32, 32, 32, None, 32]) == 3
    assert quartiles([8.0, 32.0], log=True)[1] == pytest.approx(16.0)


def test_stimulus_labels_name_the_shape_and_units():
    forms = SMALL.shape_set()
    assert SMALL.sizes() == [4.0, 6.0, 8.0, 11.0, 16.0, 23.0, 32.0, 45.0]
    assert shape_label(forms, 0) == "circle 4 px"
    assert shape_label(forms, len(forms) - 1) == "triangle 45 px"
    assert shape_label(SMALL.hue_discs(), 2) == "hue 90°"
    assert shape_label(SMALL.grating_set(), 2) == "0° 8 c/img"  # orientation x frequency x phase


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    import actassert as aa

    net = aa.load_model("resnet18", weights=None, device="cpu")
    out = tmp_path_factory.mktemp("tutorial")
    report = run_tutorial(net, out, layers=LAYERS, design=SMALL, progress=Progress(enabled=False))
    return net, out, report, json.loads((out / "summary.json").read_text())


def _best_frequency_fraction(responses, layer):
    """Orientation selectivity at each kernel's best frequency, from Tuning alone."""
    tunings = [Tuning(responses.params["orientation"][responses.params["spatial_frequency"] == f],
                      responses[layer][responses.params["spatial_frequency"] == f], circular=180)
               for f in SMALL.frequencies]
    best = torch.stack([t.rectified().amax(0) for t in tunings]).argmax(0)
    curves = torch.stack([tunings[int(b)].curves[:, k] for k, b in enumerate(best)], 1)
    return Tuning(tunings[0].values, curves, circular=180).fraction_selective(0.3)


def test_summary_matches_direct_sweeps_and_tunings(small_report):
    net, _, _, summary = small_report
    colour = sweep(net, SMALL.hue_discs(), LAYERS, reduce="foreground")
    size = sweep(net, SMALL.shape_set(), LAYERS, reduce="centre")
    gratings = sweep(net, SMALL.grating_set(), LAYERS, reduce="mean")
    experiments = summary["experiments"]
    for i, layer in enumerate(LAYERS):
        hue = colour.tuning("hue", layer)
        got = experiments["colour"]["layers"][i]
        assert got["layer"] == layer and got["kernels"] == hue.kernels
        assert got["fraction"] == pytest.approx(hue.fraction_selective(0.3))
        assert got["silent"] == int(hue.silent().sum())
        sizes = size.tuning("size", layer, scale="log")
        tuned = (sizes.selectivity() >= 0.3) & ~sizes.silent()
        row = experiments["size"]["layers"][i]
        assert row["fraction"] == pytest.approx(float(tuned.double().mean()))
        if tuned.any():
            logs = np.log(sizes.preferred()[tuned].numpy())
            assert row["preferred"] == pytest.approx(np.exp(np.percentile(logs, [25, 50, 75])))
        assert experiments["orientation"]["layers"][i]["fraction"] == pytest.approx(
            _best_frequency_fraction(gratings, layer))
    assert summary["weights"] is None and summary["device"] == "cpu"
    assert set(summary["versions"]) == {"python", "torch", "torchvision", "actassert"}


def test_page_shows_every_number_of_the_summary(small_report):
    _, out, report, summary = small_report
    page = (out / "report.html").read_text()
    assert page == render(summary)  # the page is rendered from summary.json alone
    for key in ("colour", "size", "orientation"):
        exp = summary["experiments"][key]
        assert f'<section id="{key}">' in page and escape(exp["answer"]) in page
        assert "How it is measured" in page and exp["index"].split(" (")[0] in page
        for row in exp["layers"]:
            assert f"<td>{100 * row['fraction']:.0f}%</td>" in page
            assert f'id="{key}-{row["layer"]}"' in page
    assert "none (random initialisation)" in page and "Natural images" in page
    for name in re.findall(r'src="([^"]+)"', page):
        assert (out / name).is_file(), name
    assert report.answers() == [e["answer"] for e in summary["experiments"].values()]


def test_large_layers_show_their_most_active_kernels(small_report):
    _, out, _, summary = small_report
    deep = summary["figures"]["colour"]["layer4.1.relu#1"]
    assert len(deep["shown_kernels"]) == 32 and deep["full_grid"]
    assert (out / deep["full_grid"]).is_file()
    shallow = summary["figures"]["colour"]["relu"]
    assert shallow["shown_kernels"] == list(range(64)) and shallow["full_grid"] is None


def test_photos_section_says_when_scikit_image_is_missing(monkeypatch, tmp_path):
    import actassert as aa

    monkeypatch.setitem(sys.modules, "skimage", None)
    net = aa.load_model("resnet18", weights=None, device="cpu")
    photos = photo_section(net, ["relu"], 32, tmp_path)
    assert photos.missing and "scikit-image is not installed" in photos.missing


def test_photos_are_classified(small_report):
    pytest.importorskip("skimage")
    _, _, _, summary = small_report
    photos = summary["photos"]
    assert [p["name"] for p in photos["photos"]] == ["chelsea", "coffee", "astronaut", "rocket"]
    assert all(len(p["top5"]) == 5 for p in photos["photos"])
    assert set(photos["grids"]) == {"relu", "layer2.0.relu#1", "layer4.1.relu#1"}


def test_tutorial_command_prints_progress_and_answers(tmp_path, capsys):
    code = main(["tutorial", "resnet18", "--weights", "none", "--device", "cpu", "--size", "48",
                 "--hues", "6", "--layers", "layer1.1.relu#1", "layer4.1.relu#1",
                 "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0
    for answer in ("Colour:", "Size:", "Orientation:", "report.html"):
        assert answer in captured.out
    stages = re.findall(r"\[\s*[\d.]+ s\] (\w[\w ]*)", captured.err)
    assert stages[0] == "loading resnet18" and "done" in stages[-1]
    assert any(s.startswith("orientation") for s in stages)
    assert (tmp_path / "summary.json").is_file()


def test_tutorial_rejects_too_few_hues(tmp_path, capsys):
    assert main(["tutorial", "resnet18", "--weights", "none", "--hues", "2",
                 "--out", str(tmp_path)]) == 2
    assert "at least 3 hues" in capsys.readouterr().err


def test_grating_frequencies_stay_under_the_nyquist_limit():
    assert Design(side=48).spatial_frequencies() == [4.0, 8.0, 16.0]
    with pytest.raises(ValueError, match="Nyquist limit 4 of 8-px images"):
        Design(side=8, frequencies=(16.0,)).spatial_frequencies()


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_loads_in_chromium_with_no_missing_image(small_report, tmp_path):
    _, out, _, _ = small_report
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", f"--user-data-dir={tmp_path}",
                          "--dump-dom", (out / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    images = (out / "report.html").read_text().count("<img ")
    assert f'data-loaded="{images}"' in body and 'data-missing="0"' in body
