"""Reliability: reporting never breaks a run, the plugin is free where unused, bad inputs get
clear answers, and nothing leaks (hooks, modes, memory) however a recording ends."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import actassert as aa
from actassert import evidence
from actassert.artefacts.results import META_FILE
from actassert.settings import OPTION_RESULTS_DIR

RUN = ("--actassert-device=cpu", "-p", "no:cacheprovider")

XDIST = pytest.param(("-n", "2"), id="xdist")


def _run(pytester, *args, extra=()):
    if extra:
        pytest.importorskip("xdist")
        return pytester.runpytest_subprocess(*RUN, *extra, *args)
    return pytester.runpytest(*RUN, *args)


# -- the results folder -------------------------------------------------------------------------

def test_results_dir_under_a_file_stops_at_start_naming_the_option(pytester):
    pytester.makepyfile("def test_x():\n    assert True\n")
    blocker = pytester.path / "a-file"
    blocker.write_text("not a folder")
    result = pytester.runpytest(*RUN, f"{OPTION_RESULTS_DIR}={blocker}/results")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{OPTION_RESULTS_DIR}*lies under*a-file, which is a file*Fix*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


FOLDER_BECOMES_A_FILE = """
    import shutil, torch
    from actassert import record

    def test_1_block_the_results_folder(pytestconfig):
        from actassert.plugin import get_settings
        root = get_settings(pytestconfig).results_dir
        shutil.rmtree(root, ignore_errors=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        root.write_text("the disk is full, say")

    def test_2_fails_with_its_own_message(actassert_model):
        net = actassert_model("resnet18", weights=None)
        with record(net, ["maxpool"]) as acts:
            net(torch.rand(1, 3, 32, 32))
        assert acts["maxpool"].shape[1] == 65, "MY OWN MESSAGE"

    def test_3_still_runs():
        assert True
"""


@pytest.mark.parametrize("extra", [pytest.param((), id="serial"), XDIST])
def test_unwritable_results_folder_later_is_a_warning_not_an_internal_error(pytester, extra):
    pytester.makepyfile(FOLDER_BECOMES_A_FILE)
    result = _run(pytester, "-p", "no:randomly", extra=extra + (("--dist", "no")
                                                                  if extra else ()))
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "INTERNALERROR" not in out
    assert "MY OWN MESSAGE" in out
    result.stdout.fnmatch_lines(["*actassert could not write the figures of this test*Fix*"])


RAISES_ON_LATER_CALLS = """
    import torch
    from torch import nn
    from actassert import Network, assert_prefers, sweep

    class Fragile(nn.Module):
        calls = 0
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv2d(3, 6, 3, padding=1)
            self.out = nn.Conv2d(6, 4, 1)
        def forward(self, x):
            Fragile.calls += 1
            if Fragile.calls > BREAK_AFTER:
                raise RuntimeError("the network broke on a later call")
            return self.out(torch.relu(self.conv(x)))

    def test_named_kernel(stimuli):
        net = Network(Fragile(), device="cpu", name="fragile")
        tuning = sweep(net, stimuli.hue_disc(range(0, 360, 45), size=16), ["conv"]).tuning("hue", "conv")
        value = float(tuning.preferred()[2])
        assert_prefers(tuning, 2, (value + 180) % 360, tolerance=10)

    def test_after():
        assert True
"""


@pytest.mark.parametrize("extra", [pytest.param((), id="serial"), XDIST])
def test_a_network_that_raises_after_the_sweep_never_breaks_reporting(pytester, extra):
    # The sweep runs 2 forwards (the probe and the batch); every later call raises.
    pytester.makepyfile(RAISES_ON_LATER_CALLS.replace("BREAK_AFTER", "2"))
    result = _run(pytester, extra=extra)
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "INTERNALERROR" not in out
    result.stdout.fnmatch_lines(["*preferred hue check failed for layer 'conv'*",
                                 "*the maps of stimulus * could not be recorded*"
                                 "the network broke on a later call*"])
    folders = [p for p in (pytester.path / "actassert-results").iterdir() if p.is_dir()]
    card = json.loads((folders[0] / META_FILE).read_text())
    assert "preferred hue check failed" in card["message"]
    assert "tuning-conv-hue.png" in card["files"]  # what needs no network is still drawn


def test_reporting_never_calls_the_network(pytester):
    # The maps the figure needs were captured by the assertion: no call after the test body.
    pytester.makepyfile(RAISES_ON_LATER_CALLS.replace("BREAK_AFTER", "3") + """
    def test_count():
        assert Fragile.calls == 3  # probe, batch, the assertion's one capture; none by reporting
""")
    result = pytester.runpytest(*RUN, "-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1)
    folders = [p for p in (pytester.path / "actassert-results").iterdir() if p.is_dir()]
    assert (folders[0] / "grid-fragile-conv.png").is_file()


# -- a guest in every pytest run ---------------------------------------------------------------

def test_plain_tests_never_import_torch(pytester):
    pytester.makepyfile("""
        import sys

        def test_plain():
            assert "torch" not in sys.modules, sorted(m for m in sys.modules if "torch" in m)[:5]
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")  # default verbosity: header
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["actassert: torch *, device auto, weights dirs: *"])


# -- bad inputs ----------------------------------------------------------------------------------

def test_cli_output_folder_under_a_file_is_one_line_and_exit_2(tmp_path, capsys):
    from actassert.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for command in (["tutorial"], ["record", "--layers", "features.1"]):
        code = main([*command, "--weights", "none", "--device", "cpu", "--out", str(blocker / "sub")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1
        assert "--out" in err and "which is a file" in err and "Traceback" not in err


def test_layers_needs_no_weights(monkeypatch, capsys):
    from actassert import weightfiles
    from actassert.cli import main

    def no_lookup(*args, **kwargs):
        raise AssertionError("actassert layers looked for a weights file")

    monkeypatch.setattr(weightfiles, "resolve_checkpoint", no_lookup)
    monkeypatch.setattr("actassert.models.torchvision_source.resolve_checkpoint", no_lookup)
    assert main(["layers", "resnet18", "--device", "cpu", "--size", "64"]) == 0
    assert "layer4.1.conv2" in capsys.readouterr().out


def test_float64_images_are_converted_to_the_networks_dtype():
    net = aa.Network(nn.Conv2d(3, 4, 3), mean=(0.5,) * 3, std=(0.25,) * 3, device="cpu")
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(net(images.double()), net(images))


@pytest.mark.parametrize("images, fix", [
    (torch.rand(1, 1, 8, 8), "images.expand(-1, 3, -1, -1)"),
    (torch.rand(1, 8, 8, 3), "images.permute(0, 3, 1, 2)"),
])
def test_grey_and_channels_last_images_get_the_fix(images, fix):
    net = aa.Network(nn.Conv2d(3, 4, 3), mean=(0.5,) * 3, std=(0.25,) * 3, device="cpu")
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]") as info:
        net(images)
    assert fix in str(info.value)


def test_failed_download_names_places_and_fix_without_the_chain(tmp_path, monkeypatch):
    from actassert import weightfiles
    from actassert.errors import WeightsUnavailableError

    def broken(*args, **kwargs):
        try:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        except OSError as exc:
            raise ConnectionError("Max retries exceeded with url: /x.pth\nmore lines") from exc

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(weightfiles, "_download", broken)
    with pytest.raises(WeightsUnavailableError) as info:
        weightfiles.resolve_checkpoint("https://example.invalid/resnet18-f37072fd.pth",
                                       model="resnet18", weights="IMAGENET1K_V1", download=True)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    message = str(info.value)
    assert "ConnectionError: Max retries exceeded" in message and "more lines" not in message
    assert "Fix:" in message and "torch hub cache" in message


def test_required_weights_failure_shows_the_message_not_a_traceback(pytester, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("ACTASSERT_OFFLINE", "1")
    pytester.makepyfile("""
        def test_needs(actassert_model):
            actassert_model("resnet18")
    """)
    result = pytester.runpytest(*RUN, "--actassert-require-weights")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(["*needs weights that are not on this machine*",
                                 "WeightsUnavailableError: weights * of resnet18 are unavailable*",
                                 "*torch hub cache*", "Fix: put resnet18-f37072fd.pth*"])
    assert "_pick_weights" not in out and "During handling" not in out


def test_failed_selectivity_figure_shows_the_kernels_the_message_names():
    from actassert.drawing import tuning_kernels, tuning_plot

    hues = torch.arange(0.0, 360.0, 30.0)
    curves = torch.stack([torch.cos(torch.deg2rad(hues - 30 * k)).exp() ** k for k in range(20)], 1)
    tuning = aa.Tuning(hues, curves, circular=360, parameter="hue", layer="conv")
    with pytest.raises(AssertionError) as info:
        aa.assert_selective(tuning, min_index=0.99)
    named = [int(part.split()[0][2:]) for part in
             info.value.args[0].split("Least selective kernels: ")[1].split("\n")[0]
             .split(" (+")[0].split(", ")]
    assert tuning_kernels(tuning) == named  # exactly those, in the message's order
    tuning_plot(tuning)  # the title says why (checked through the drawing's choice below)
    from actassert.drawing import _Curves
    assert _Curves(tuning).choose(None, 16)[1] == "the least selective, named in the failure"


# -- progress in CI logs -----------------------------------------------------------------------

def test_sweep_progress_off_a_terminal_is_a_few_plain_lines():
    script = """
import actassert as aa
net = aa.load_model("resnet18", weights=None, device="cpu")
aa.sweep(net, aa.stimuli.hue_disc(range(0, 360, 10), size=16), ["conv1"], batch_size=4)
"""
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTEST_CURRENT_TEST"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    lines = done.stderr.strip().splitlines()
    assert lines == [f"sweep resnet18: {n}/36 stimuli" for n in (12, 20, 28, 36)]


# -- leaks ---------------------------------------------------------------------------------------

def _hooks(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def _tensors() -> int:
    import gc

    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def test_many_recordings_and_sweeps_keep_memory_hooks_and_registry_flat(tiny):
    net = aa.Network(tiny, device="cpu", name="tiny")
    discs = aa.stimuli.hue_disc(range(0, 360, 30), size=24)
    images = torch.rand(4, 3, 24, 24)

    def rounds(n_records: int, n_sweeps: int) -> None:
        for _ in range(n_records):
            with aa.record(net, ["conv1", "block.0", "fc"]) as acts:
                net(images)
            assert acts["fc"].shape == (4, 5)
        for _ in range(n_sweeps):
            aa.sweep(net, discs, ["conv1", "block"], reduce="foreground", batch_size=5)

    rounds(100, evidence.KEEP_LAST)  # the registry keeps the latest KEEP_LAST of each: full now
    base_rss, base_tensors = _rss_mb(), _tensors()
    rounds(400, 40)
    assert _hooks(tiny) == 0 and not tiny.training
    record = evidence.current()
    assert len(record.activations) <= evidence.KEEP_LAST >= len(record.responses)
    assert _tensors() <= base_tensors + 8  # nothing accumulates per recording
    assert _rss_mb() <= base_rss * 1.05


@pytest.mark.skipif("ACTASSERT_BENCH_FULL" not in __import__("os").environ,
                    reason="full size: bash scripts/bench.sh")
def test_full_size_thousand_recordings_keep_rss_flat():
    net = aa.load_model("resnet18", weights=None, device="cpu")
    images = torch.rand(4, 3, 64, 64)
    discs = aa.stimuli.hue_disc(range(0, 360, 10), size=64)

    def run(n_records: int, n_sweeps: int) -> None:
        for _ in range(n_records):
            with aa.record(net, ["maxpool", "layer1", "layer2", "fc"]) as acts:
                net(images)
            del acts
        for _ in range(n_sweeps):
            aa.sweep(net, discs, ["maxpool", "layer2"], reduce="foreground", batch_size=16)

    run(100, 10)
    base = _rss_mb()
    run(900, 90)
    print(f"RSS after the first 100 records / 10 sweeps {base:.0f} MB, after 1,000 / 100 "
          f"{_rss_mb():.0f} MB")
    assert _rss_mb() <= base * 1.05 and _hooks(net.module) == 0


# -- interrupts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupt_mid_sweep_leaves_no_hooks_and_restores_modes(tiny, error):
    net = aa.Network(tiny, device="cpu", name="tiny")
    tiny.block.train()  # a mode the user chose: restored as it was, not forced to eval
    modes = {name: m.training for name, m in tiny.named_modules()}
    calls = {"n": 0}

    def interrupt(module, args, output):
        calls["n"] += 1
        if calls["n"] == 3:
            raise error("stop")

    handle = tiny.conv1.register_forward_hook(interrupt)
    try:
        with pytest.raises(error):
            aa.sweep(net, aa.stimuli.hue_disc(range(0, 360, 30), size=16), ["conv1", "block"],
                     batch_size=4)
    finally:
        handle.remove()
    assert calls["n"] == 3  # it stopped in the middle: probe, batch 1, then batch 2
    assert _hooks(tiny) == 0  # the test's own hook was removed above; actassert's are gone
    assert {name: m.training for name, m in tiny.named_modules()} == modes
