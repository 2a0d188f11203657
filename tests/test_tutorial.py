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
               phases=(0.0, 90.0, 180.0, 270.0))
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
        "Colour: the share of colour-selective kernels (responsive, colour answered at least "
        "twice grey, hue index >= 0.3) falls with depth (rank correlation -1.00): 50% in a and "
        "5% in d; lowest 5% in d, highest 50% in a.")
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


def test_answers_say_what_training_changed():
    trained = [_row("a", 0.5), _row("b", 0.4), _row("c", 0.1), _row("d", 0.05)]
    same = Experiment("colour", "Colour", "hue", "degrees", "", "", "", 0.3, trained,
                      control=[_row("a", 0.5), _row("b", 0.4), _row("c", 0.2), _row("d", 0.1)],
                      control_label="untrained twin (seed 0)")
    assert ("The untrained twin (seed 0): falls with depth (rank correlation -1.00)"
            in same.answer())
    assert "comes from the architecture, not from training" in same.answer()
    assert "do not differ in any of the 4 layers (Fisher's exact test" in same.answer()
    big = [LayerResult(r.layer, 200, 0, round(200 * r.fraction), r.fraction, r.index, None)
           for r in trained]
    flat = [LayerResult(r.layer, 200, 0, 60, 0.3, r.index, None) for r in trained]
    changed = Experiment("colour", "Colour", "hue", "degrees", "", "", "", 0.3, big,
                         control=flat, control_label="untrained twin")
    answer = changed.answer()
    assert "The trend survives the control: the untrained twin does not show it." in answer
    assert "Training changes the share in 4 of 4 layers" in answer
    assert "d 5% [3–9] trained vs 30% [24–37] untrained (lower after training)" in answer
    # layer b (40% vs 30%) differs less than the others: named, not folded into "the other"
    partly = [*flat[:1], LayerResult("b", 200, 0, 70, 0.35, trained[1].index, None), *flat[2:]]
    some = Experiment("colour", "Colour", "hue", "degrees", "", "", "", 0.3, big,
                      control=partly, control_label="untrained twin").answer()
    assert "Training changes the share in 3 of 4 layers" in some
    assert some.endswith("; no difference in b."), some


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
    assert shape_label(SMALL.grating_set(), 4) == "0° 8 c/img"  # orientation x frequency x phase


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    import actassert as aa

    net = aa.load_model("resnet18", weights=None, device="cpu")
    out = tmp_path_factory.mktemp("tutorial")
    twin = aa.load_model("resnet18", weights=None, device="cpu", seed=1)
    report = run_tutorial(net, out, layers=LAYERS, design=SMALL, progress=Progress(enabled=False),
                          control=twin, control_seed=1)
    return net, out, report, json.loads((out / "summary.json").read_text())


def _best_frequency_fraction(responses, layer):
    """Orientation selectivity at each kernel's best frequency, from Tuning alone: the phase
    maximum per (frequency, orientation), the blank subtracted, responsive kernels only."""
    params, values, base = responses.params, responses[layer], responses.baseline[layer]
    per_freq = []
    for f in SMALL.frequencies:
        rows = params["spatial_frequency"] == f
        oris = sorted(set(params["orientation"][rows].tolist()))
        best = torch.stack([values[rows & (params["orientation"] == o)].amax(0) for o in oris])
        blank = torch.stack([base[rows & (params["orientation"] == o)].mean(0) for o in oris])
        per_freq.append(Tuning(oris, best, baseline=blank, circular=180))
    top = torch.stack([t.peak_modulation() for t in per_freq]).argmax(0)
    curves = torch.stack([per_freq[int(b)].curves[:, k] for k, b in enumerate(top)], 1)
    blanks = torch.stack([per_freq[int(b)].baseline[:, k] for k, b in enumerate(top)], 1)
    return Tuning(per_freq[0].values, curves, baseline=blanks,
                  circular=180).fraction_selective(0.3)


def test_summary_matches_direct_sweeps_and_tunings(small_report):
    net, _, _, summary = small_report
    colour = sweep(net, SMALL.colour_set(), LAYERS, reduce="foreground", baseline=True)
    size = sweep(net, SMALL.shape_set(), LAYERS, reduce="centre", baseline=True)
    gratings = sweep(net, SMALL.grating_set(), LAYERS, reduce="centre", baseline=True)
    experiments = summary["experiments"]
    hue_rows = colour.params["saturation"] > 0
    for i, layer in enumerate(LAYERS):
        hue = Tuning(colour.params["hue"][hue_rows], colour[layer][hue_rows], circular=360,
                     baseline=colour.baseline[layer][hue_rows])
        grey = (colour[layer] - colour.baseline[layer])[~hue_rows].double().amax(0).clamp(min=0)
        best = hue.peak_modulation().clamp(min=0)
        chosen = (grey <= best / 2) & (best > 0) & (hue.selectivity() >= 0.3) & hue.responsive()
        got = experiments["colour"]["layers"][i]
        assert got["layer"] == layer and got["kernels"] == hue.kernels
        assert got["fraction"] == pytest.approx(float(chosen.double().mean()))
        assert got["responsive"] == int(hue.responsive().sum())
        assert got["silent"] == int(hue.silent().sum())
        sizes = size.tuning("size", layer, scale="log")
        tuned = (sizes.selectivity() >= 0.3) & sizes.responsive()
        row = experiments["size"]["layers"][i]
        assert row["fraction"] == pytest.approx(float(tuned.double().mean()))
        if tuned.any():
            logs = np.log(sizes.preferred()[tuned].numpy())
            assert row["preferred"] == pytest.approx(np.exp(np.percentile(logs, [25, 50, 75])))
        assert experiments["orientation"]["layers"][i]["fraction"] == pytest.approx(
            _best_frequency_fraction(gratings, layer))
    assert summary["weights"] is None and summary["device"] == "cpu"
    assert set(summary["versions"]) == {"python", "torch", "torchvision", "actassert"}


def test_summary_holds_both_networks_with_intervals(small_report):
    _, _, _, summary = small_report
    assert summary["control"] == {"run": True, "seed": 1, "note": summary["control"]["note"]}
    assert "seed 1" in summary["control"]["note"]
    for key, exp in summary["experiments"].items():
        assert [r["layer"] for r in exp["control"]] == LAYERS, key
        for row in (*exp["layers"], *exp["control"]):
            p, low, high = row["shares"]["selective"]
            assert low <= p <= high and p == pytest.approx(row["selective"] / row["kernels"])
            assert set(row["shares"]) == {"responsive", "selective_of_responsive", "selective"}
            assert row["responsive"] >= row["selective"]
        assert "untrained twin" in exp["answer"]
    assert summary["experiments"]["size"]["layers"][0]["receptive_field"] == 7.0
    assert summary["references"]["circular_variance"]["median"] == 0.60
    assert summary["references"]["suppression"]["median"] == 0.33


def test_page_shows_every_number_of_the_summary(small_report):
    _, out, report, summary = small_report
    page = (out / "report.html").read_text()
    assert page == render(summary)  # the page is rendered from summary.json alone
    for key in ("colour", "size", "orientation"):
        exp = summary["experiments"][key]
        assert f'<section id="{key}">' in page and escape(exp["answer"]) in page
        assert "How it is measured" in page and escape(exp["index"].split(" (")[0]) in page
        for words in ("Baseline: each kernel's response to the blank", "Responsiveness "
                      "criterion: responsive: peak modulation above the baseline > 15%",
                      "Index: "):
            assert escape(words, quote=False) in page
        for row in (*exp["layers"], *exp["control"]):
            low, high = row["shares"]["selective"][1:]
            share = (f"{100 * row['fraction']:.0f}% [{100 * low:.0f}–{100 * high:.0f}]")
            assert f"<td>{escape(share)}</td>" in page
        for row in exp["layers"]:
            assert f'id="{key}-{row["layer"]}"' in page
    assert "untrained twin: same architecture, random initialisation with seed 1" in page
    assert "Macaque V1 references" in page
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
    assert "Control not run: the network studied is itself randomly initialised" in captured.out
    stages = re.findall(r"\[\s*[\d.]+ s\] (\w[\w ]*)", captured.err)
    assert stages[0] == "loading resnet18" and "done" in stages[-1]
    assert any(s.startswith("orientation") for s in stages)
    assert (tmp_path / "summary.json").is_file()


def test_tutorial_control_flag(tmp_path, capsys, monkeypatch):
    import actassert.cli.commands as commands

    seen = []
    monkeypatch.setattr(commands, "run_tutorial", lambda net, out, **kw: seen.append(kw) or (
        _ for _ in ()).throw(SystemExit(0)))
    for flag, expected in (("none", None), ("7", 7)):
        with pytest.raises(SystemExit):
            main(["tutorial", "resnet18", "--weights", "none", "--control", flag,
                  "--out", str(tmp_path)])
        assert seen[-1]["control"] is None and seen[-1]["control_seed"] == expected
    assert "skips" in seen[0]["control_note"] and "randomly initialised" in seen[1]["control_note"]
    with pytest.raises(SystemExit):
        main(["tutorial", "--control", "x", "--out", str(tmp_path)])
    assert "'x' is not 'none' or a whole-number seed" in capsys.readouterr().err


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


def test_a_factory_model_is_studied_without_a_control():
    import argparse

    from actassert.cli.commands import _twin

    args = argparse.Namespace(model="json:loads", control=0, device="cpu")  # module:function
    twin, note = _twin(args, object(), Progress(enabled=False))
    assert twin is None and "factory" in note and "control was not run" in note
