"""Failure artefacts: folders, figures, report sections, JUnit properties, summary and gallery."""

import json
import xml.etree.ElementTree as ET

import pytest

from actassert.artefacts.results import GALLERY_FILE, META_FILE, safe_name
from actassert.settings import OPTION_DUMP, OPTION_MAX_IMAGES, OPTION_RESULTS_DIR

RUN = ("--actassert-device=cpu", "-p", "no:cacheprovider")

RECORDING_TESTS = """
    import pytest
    import torch
    from actassert import record

    @pytest.fixture
    def net(actassert_model):
        return actassert_model("resnet18", weights=None)

    def test_fails(net):
        with record(net, ["maxpool", "layer1.0.conv1", "fc"]) as acts:
            net(torch.rand(2, 3, 64, 64))
        assert acts["maxpool"].shape[1] == 65

    def test_passes(net):
        with record(net, ["maxpool"]) as acts:
            net(torch.rand(1, 3, 64, 64))
        assert acts["maxpool"].shape[1] == 64

    def test_fails_without_recording():
        assert 1 == 2
"""


def _folders(root):
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def test_safe_names_are_unique_and_safe():
    a = safe_name("tests/test_x.py::test_x[resnet50-layer1.0.conv2]")
    b = safe_name("tests/test_x.py::test_x[resnet50/layer1.0.conv2]")
    assert a != b and a.startswith("tests-test_x.py-test_x-resnet50-layer1.0.conv2-")
    long = safe_name("t.py::test[" + "x" * 500 + "]")
    assert len(long) <= 96 + 9
    for name in (a, b, long, safe_name("t.py::test[ä ö/\\:*?\"<>|]")):
        assert all(c.isalnum() or c in "._=+-" for c in name), name


def test_failing_test_writes_figures_listed_in_report_summary_and_gallery(pytester):
    pytester.makepyfile(RECORDING_TESTS)
    result = pytester.runpytest(*RUN, "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, failed=2)
    root = pytester.path / "actassert-results"
    folders = _folders(root)
    assert [f.name.rsplit("-", 1)[0] for f in folders] == [
        "test_failing_test_writes_figures_listed_in_report_summary_and_gallery.py-test_fails"]
    files = sorted(p.name for p in folders[0].iterdir())
    assert files == [META_FILE, "grid-resnet18-fc.png", "grid-resnet18-layer1.0.conv1.png",
                     "grid-resnet18-maxpool.png", "input-resnet18.png"]
    result.stdout.fnmatch_lines(["*- actassert artefacts -*", f"*{folders[0]}/grid-resnet18-maxpool.png",
                                 "*= actassert =*", "1 test left 4 figures (1 failed) in *",
                                 f"gallery: {root / GALLERY_FILE}"])
    card = json.loads((folders[0] / META_FILE).read_text())
    assert card["outcome"] == "failed" and "65" in card["message"]
    page = (root / GALLERY_FILE).read_text()
    assert "test_fails" in page and "grid-resnet18-maxpool.png" in page and "test_passes" not in page
    props = [p.attrib["value"] for p in ET.parse(pytester.path / "junit.xml").iter("property")
             if p.attrib["name"] == "actassert_artefact"]
    assert len(props) == 4 and all(v.endswith(".png") for v in props)


def test_grid_pngs_are_real_images(pytester):
    from PIL import Image

    pytester.makepyfile(RECORDING_TESTS)
    pytester.runpytest(*RUN, "-k", "test_fails and not without")
    folder = _folders(pytester.path / "actassert-results")[0]
    grid = Image.open(folder / "grid-resnet18-maxpool.png")
    assert grid.width >= 16 * 16 and grid.height > 4 * 16  # 64 kernels, 16 columns


def test_dump_all_keeps_passing_tests_and_none_keeps_nothing(pytester):
    pytester.makepyfile(RECORDING_TESTS)
    pytester.runpytest(*RUN, f"{OPTION_DUMP}=all")
    names = [f.name for f in _folders(pytester.path / "actassert-results")]
    assert len(names) == 2 and any("test_passes" in n for n in names)
    card = json.loads(next(f for f in _folders(pytester.path / "actassert-results")
                           if "test_passes" in f.name).joinpath(META_FILE).read_text())
    assert card["outcome"] == "passed"
    pytester.runpytest(*RUN, f"{OPTION_DUMP}=none")
    root = pytester.path / "actassert-results"
    assert _folders(root) == [] and not (root / GALLERY_FILE).exists()


def test_previous_runs_folders_are_replaced(pytester):
    pytester.makepyfile(RECORDING_TESTS)
    root = pytester.path / "custom"
    pytester.runpytest(*RUN, f"{OPTION_RESULTS_DIR}={root}")
    mine = root / "notes"
    mine.mkdir()
    pytester.runpytest(*RUN, f"{OPTION_RESULTS_DIR}={root}", "-k", "passes")
    assert _folders(root) == [mine]  # our old folder went, the user's folder stayed


def test_cap_on_figures_per_test(pytester):
    pytester.makepyfile(RECORDING_TESTS)
    result = pytester.runpytest(*RUN, f"{OPTION_MAX_IMAGES}=2", "-k", "test_fails and not without")
    folder = _folders(pytester.path / "actassert-results")[0]
    assert len(list(folder.glob("*.png"))) == 2
    result.stdout.fnmatch_lines(["(2 more figures not written: cap of 2 per test, *)"])


def test_parametrised_ids_become_distinct_folders(pytester):
    pytester.makepyfile("""
        import pytest, torch
        from actassert import record

        @pytest.mark.parametrize("layer", ["layer1.0.conv1", "maxpool"], ids=["a/b", "a_b"])
        @pytest.mark.parametrize("model", ["resnet18"])
        def test_x(actassert_model, model, layer):
            net = actassert_model(model, weights=None)
            with record(net, [layer]):
                net(torch.rand(1, 3, 32, 32))
            assert False
    """)
    pytester.runpytest(*RUN).assert_outcomes(failed=2)
    names = [f.name for f in _folders(pytester.path / "actassert-results")]
    assert len(names) == 2  # "a/b" and "a_b" both read a-b / a_b, the hash keeps them apart
    assert any("test_x-resnet18-a-b-" in n for n in names)
    assert any("test_x-resnet18-a_b-" in n for n in names)


def test_failed_selectivity_sweep_draws_tuning_stimuli_and_grids(pytester):
    pytester.makepyfile("""
        from actassert import sweep, assert_prefers

        def test_prefers(actassert_model, stimuli):
            net = actassert_model("resnet18", weights=None)
            discs = stimuli.hue_disc(range(0, 360, 45), size=32)
            tuning = sweep(net, discs, ["layer1"]).tuning("hue", "layer1")
            value = float(tuning.preferred()[3])
            assert_prefers(tuning, 3, (value + 180) % 360, tolerance=10)
    """)
    result = pytester.runpytest(*RUN)
    result.assert_outcomes(failed=1)
    folder = _folders(pytester.path / "actassert-results")[0]
    assert sorted(p.name for p in folder.glob("*.png")) == [
        "grid-resnet18-layer1.png", "stimuli-resnet18.png", "tuning-layer1-hue.png"]
    result.stdout.fnmatch_lines(["checked: assert_prefers: layer 'layer1', hue, kernels K=003"])


def test_xdist_workers_write_one_merged_gallery(pytester):
    pytest.importorskip("xdist")  # only this test needs it (at import time it skipped the file)
    pytester.makepyfile("""
        import pytest, torch
        from actassert import record

        @pytest.mark.parametrize("i", range(4))
        def test_many(actassert_model, i):
            net = actassert_model("resnet18", weights=None)
            with record(net, ["maxpool"]):
                net(torch.rand(1, 3, 32, 32))
            assert i < 0
    """)
    result = pytester.runpytest_subprocess(*RUN, "-n", "2")
    result.assert_outcomes(failed=4)
    root = pytester.path / "actassert-results"
    assert len(_folders(root)) == 4
    page = (root / GALLERY_FILE).read_text()
    assert all(f"test_many[{i}]" in page for i in range(4))
    result.stdout.fnmatch_lines(["4 tests left 8 figures (4 failed) in *"])


def test_hooked_layers_fixture_gets_figures_too(pytester):
    pytester.makepyfile("""
        import torch

        def test_fixture_style(actassert_model, hooked_layers):
            net = actassert_model("resnet18", weights=None)
            acts = hooked_layers(net, ["layer1"])
            net(torch.rand(1, 3, 32, 32))
            assert acts["layer1"].mean() > 1e6
    """)
    pytester.runpytest(*RUN).assert_outcomes(failed=1)
    folder = _folders(pytester.path / "actassert-results")[0]
    assert (folder / "grid-resnet18-layer1.png").is_file()


def test_each_sweep_draws_its_own_stimuli_at_the_named_kernels_preference(pytester):
    pytester.makepyfile("""
        from actassert import sweep, assert_prefers

        def test_two_sweeps(actassert_model, stimuli):
            net = actassert_model("resnet18", weights=None)
            hues = sweep(net, stimuli.hue_disc(range(0, 360, 45), size=32), ["layer1"])
            sweep(net, stimuli.shapes("circle", [8, 16], size=32), ["layer1"])
            tuning = hues.tuning("hue", "layer1")
            value = float(tuning.preferred()[3])
            print("PREFERRED", int(value))
            assert_prefers(tuning, 3, (value + 180) % 360, tolerance=10)
    """)
    result = pytester.runpytest(*RUN, "-s")
    result.assert_outcomes(failed=1)
    preferred = int(next(line for line in result.stdout.lines if "PREFERRED" in line).split()[-1])
    folder = _folders(pytester.path / "actassert-results")[0]
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs == ["grid-resnet18-layer1-2.png", "grid-resnet18-layer1.png",
                    "stimuli-resnet18-2.png", "stimuli-resnet18.png", "tuning-layer1-hue.png"]
    from PIL import Image
    assert Image.open(folder / "grid-resnet18-layer1.png").size[0] > 0
    result.stdout.fnmatch_lines(["*grid-resnet18-layer1.png"])
    card = json.loads((folder / META_FILE).read_text())
    assert "grid-resnet18-layer1.png" in card["files"]
    assert preferred % 45 == 0


def test_cap_counts_every_figure_left_out(pytester):
    pytester.makepyfile("""
        from actassert import sweep

        def test_sweep(actassert_model, stimuli):
            net = actassert_model("resnet18", weights=None)
            sweep(net, stimuli.hue_disc([0, 90], size=32), ["layer1", "layer2"])
            assert False
    """)
    result = pytester.runpytest(*RUN, f"{OPTION_MAX_IMAGES}=1")
    result.stdout.fnmatch_lines(["(2 more figures not written: cap of 1 per test, *)"])


def test_focus_is_the_stimulus_at_the_named_kernels_preference():
    import actassert as aa
    from actassert.stimuli import hue_disc, shapes

    net = aa.load_model("resnet18", weights=None, device="cpu")
    hues = aa.sweep(net, hue_disc(range(0, 360, 45), size=32), ["layer1"])
    sizes = aa.sweep(net, shapes("circle", [8, 16], size=32), ["layer1"])
    tuning = hues.tuning("hue", "layer1")
    assert hues.preferred_stimulus(tuning) == 0  # no kernel named
    tuning.focus = [3]
    index = hues.preferred_stimulus(tuning)
    assert hues.shown.params["hue"][index].item() == tuning.preferred()[3].item()
    assert sizes.preferred_stimulus(sizes.tuning("size", "layer1")) == 0
