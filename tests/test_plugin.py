"""The pytest plugin, exercised by running real inner test files with pytester."""

import subprocess
import sys
import textwrap

import pytest

from actassert.settings import (
    OPTION_DEVICE,
    OPTION_DUMP,
    OPTION_REQUIRE_WEIGHTS,
    OPTION_RESULTS_DIR,
    OPTION_WEIGHTS_DIR,
)


def test_help_lists_options_without_importing_torch(tmp_path):
    code = textwrap.dedent("""
        import sys, pytest
        rc = pytest.main(["--help", "-p", "no:cacheprovider"])
        heavy = sorted(m for m in ("torch", "torchvision", "numpy", "matplotlib") if m in sys.modules)
        print("HEAVY:", heavy)
    """)
    # run from an empty folder so no conftest of this repository is loaded
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path).stdout
    assert OPTION_DEVICE in out and OPTION_REQUIRE_WEIGHTS in out
    assert "HEAVY: []" in out


def test_import_actassert_is_cheap(tmp_path):
    code = "import sys, actassert, actassert.plugin; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert out.stdout.strip() == "[]", out.stderr


def test_fixtures_load_models_and_hook_layers(pytester):
    pytester.makepyfile("""
        import torch

        from actassert.fixtures import HookedLayersFixture, ModelFixture
        from actassert.stimuli import BoundStimuli

        def test_device(actassert_device):
            assert actassert_device == torch.device("cpu")

        def test_typed_objects(actassert_model: ModelFixture, hooked_layers: HookedLayersFixture,
                               stimuli: BoundStimuli):
            assert isinstance(actassert_model, ModelFixture) and actassert_model.device.type == "cpu"
            assert isinstance(hooked_layers, HookedLayersFixture)
            assert isinstance(stimuli, BoundStimuli)
            assert stimuli.hue_disc([0, 90], size=16).device.type == "cpu"

        def test_model_and_hooks(actassert_model, hooked_layers):
            net = actassert_model("resnet18", weights=None)
            assert net is actassert_model("resnet18", weights=None)
            assert not net.module.training and net.device.type == "cpu"
            acts = hooked_layers(net, ["maxpool", "layer2"])
            net(torch.rand(2, 3, 64, 64))
            assert acts["layer2"].shape == (2, 128, 8, 8)
            assert net.module.layer2._forward_hooks

        def test_hooks_gone_after_teardown(actassert_model):
            net = actassert_model("resnet18", weights=None)
            assert not any(m._forward_hooks for m in net.module.modules())
            assert net.problems() == []
    """)
    result = pytester.runpytest(f"{OPTION_DEVICE}=cpu", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize("fixture, function", [("ModelFixture", "load_model"),
                                               ("HookedLayersFixture", "record")])
def test_fixture_objects_take_the_arguments_of_the_function_they_call(fixture, function):
    import inspect

    from actassert import fixtures

    called = getattr(fixtures, function)
    own = list(inspect.signature(getattr(fixtures, fixture).__call__).parameters)[1:]  # no self
    assert own == list(inspect.signature(called).parameters), f"keep {fixture} in step with {function}"


def test_a_test_cannot_spoil_the_shared_model(pytester):
    pytester.makepyfile("""
        def test_spoils(actassert_model):
            net = actassert_model("resnet18", weights=None, seed=11)
            net.module.train()
            net.module.fc.weight.mul_(0)

        def test_next_sees_it_pristine(actassert_model):
            net = actassert_model("resnet18", weights=None, seed=11)
            assert not net.module.training
            assert net.module.fc.weight.abs().sum() > 0
    """)
    result = pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*test_spoils changed the shared network resnet18*train mode*"])


MISSING_WEIGHTS_TEST = """
    def test_needs_weights(actassert_model):
        actassert_model("resnet18")

    def test_direct_call():
        import actassert
        actassert.load_model("resnet18", device="cpu")
"""


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setenv("ACTASSERT_OFFLINE", "1")


def test_missing_weights_skip_with_the_reason(pytester, empty_hub):
    pytester.makepyfile(MISSING_WEIGHTS_TEST)
    result = pytester.runpytest("-rs", "--actassert-device=cpu", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*resnet18-f37072fd.pth*" + OPTION_REQUIRE_WEIGHTS + "*"])


def test_missing_weights_fail_when_required(pytester, empty_hub):
    pytester.makepyfile(MISSING_WEIGHTS_TEST)
    result = pytester.runpytest(OPTION_REQUIRE_WEIGHTS, "--actassert-device=cpu",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*WeightsUnavailableError*", "*torch hub cache*"])


def test_require_weights_from_ini(pytester, empty_hub):
    pytester.makeini("[pytest]\nactassert_require_weights = true\n")
    pytester.makepyfile(MISSING_WEIGHTS_TEST)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=2)


def test_weights_dir_option_finds_checkpoints(pytester, empty_hub, tmp_path):
    from actassert import weightfiles

    source = [p.path for p in weightfiles.search_places("mobilenet_v2-b0353104.pth")
              if p.path.is_file()]
    if not source:
        pytest.skip("offline weights package not installed")
    folder = tmp_path / "my-weights"
    folder.mkdir()
    (folder / source[0].name).symlink_to(source[0])
    pytester.makepyfile("""
        from actassert import weightfiles
        def test_found():
            path = weightfiles.resolve_checkpoint("x/mobilenet_v2-b0353104.pth", model="m", weights="w")
            assert path.parent.name == "my-weights"
    """)
    import actassert.weightfiles as wf
    monkey_pkgs = wf.KNOWN_WEIGHT_PACKAGES
    wf.KNOWN_WEIGHT_PACKAGES = ()
    try:
        pytester.runpytest(f"{OPTION_WEIGHTS_DIR}={folder}", "-p", "no:cacheprovider"
                           ).assert_outcomes(passed=1)
    finally:
        wf.KNOWN_WEIGHT_PACKAGES = monkey_pkgs


SETTINGS_PROBE = """
    from actassert.plugin import get_settings
    def test_probe(request):
        s = get_settings(request.config)
        print("RESULTS", s.results_dir.name, "DIRS", ",".join(d.name for d in s.weight_dirs) or "-", "DUMP", s.dump)
"""


def test_precedence_cli_over_ini_over_default(pytester):
    pytester.makepyfile(SETTINGS_PROBE)
    default = pytester.runpytest("-s", "-p", "no:cacheprovider")
    default.stdout.fnmatch_lines(["*RESULTS actassert-results DIRS - DUMP failed"])
    pytester.makeini("[pytest]\nactassert_results_dir = from-ini\n"
                     "actassert_weights_dir =\n    w-ini\nactassert_dump = all\n")
    ini = pytester.runpytest("-s", "-p", "no:cacheprovider")
    ini.stdout.fnmatch_lines(["*RESULTS from-ini DIRS w-ini DUMP all"])
    cli = pytester.runpytest("-s", f"{OPTION_RESULTS_DIR}=from-cli", f"{OPTION_WEIGHTS_DIR}=w-cli",
                             f"{OPTION_DUMP}=none", "-p", "no:cacheprovider")
    cli.stdout.fnmatch_lines(["*RESULTS from-cli DIRS w-cli DUMP none"])


@pytest.mark.parametrize("args, ini, message", [
    ([f"{OPTION_DEVICE}=gpu"], "", f"{OPTION_DEVICE}: device 'gpu'"),
    ([], "actassert_device = tpu", f"{OPTION_DEVICE}: device 'tpu'"),
    ([f"{OPTION_DUMP}=sometimes"], "", f"{OPTION_DUMP}='sometimes'"),
    ([], "actassert_require_weights = perhaps", "actassert_require_weights='perhaps'"),
    (["--actassert-max-images=lots"], "", "--actassert-max-images='lots'"),
    ([f"{OPTION_DEVICE}=mps"], "", "MPS is not available"),
])
def test_bad_values_fail_at_start_naming_the_option(pytester, args, ini, message):
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_never(): pass")
    result = pytester.runpytest(*args, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_cuda_device_without_cuda_fails_at_start(pytester):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    pytester.makepyfile("def test_never(): pass")
    result = pytester.runpytest(f"{OPTION_DEVICE}=cuda:0", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "CUDA is not available" in result.stderr.str()


def test_report_header_names_versions_device_and_weight_dirs(pytester):
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest(f"{OPTION_WEIGHTS_DIR}=/somewhere/w", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["actassert: torch *, torchvision *, device auto -> *, "
                                 "weights dirs: /somewhere/w"])


def test_record_works_inside_given_with_session_fixtures(pytester):
    pytester.makepyfile("""
        import torch
        from hypothesis import given, settings, strategies as st
        from actassert import record

        @settings(max_examples=5, deadline=None)
        @given(batch=st.integers(1, 3))
        def test_batches(actassert_model, batch):
            net = actassert_model("resnet18", weights=None)
            with record(net, ["layer1"]) as acts:
                net(torch.rand(batch, 3, 32, 32))
            assert acts["layer1"].shape[0] == batch
    """)
    pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_guard_runs_after_fixture_teardown_and_survives_warnings_as_errors(pytester):
    pytester.makepyfile("""
        import torch
        from torch import nn

        def test_hooked(actassert_model, hooked_layers):
            net = actassert_model("resnet18", weights=None, seed=21)
            hooked_layers(net, ["layer1"])
            net(torch.rand(1, 3, 32, 32))

        def test_replaces_a_layer(actassert_model):
            net = actassert_model("resnet18", weights=None, seed=21)
            net.module.fc = nn.Linear(512, 10)

        def test_after(actassert_model):
            net = actassert_model("resnet18", weights=None, seed=21)
            assert net.module.fc.out_features == 1000
    """)
    result = pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider", "-W",
                                "error::actassert.plugin.ActAssertWarning")
    # the hooked_layers test is clean; the layer swap is reported once, and the next test is fine
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_replaces_a_layer*",
                                 "*could not be restored*"])


def test_nothing_is_kept_outside_tests():
    import subprocess
    import sys

    code = ("import torch, actassert as aa\n"
            "from actassert import evidence\n"
            "net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))\n"
            "for _ in range(3):\n"
            "    with aa.record(net, ['0']): net(torch.rand(1, 3, 8, 8))\n"
            "print(len(evidence.current().activations))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "0", out.stderr


def test_relative_paths_follow_pytest_conventions(pytester):
    sub = pytester.mkdir("sub")
    pytester.makeini("[pytest]\nactassert_weights_dir =\n    w-from-ini\n")
    pytester.makepyfile(SETTINGS_PROBE.replace(
        '"RESULTS", s.results_dir.name', '"RESULTS", s.results_dir.parent.name, s.results_dir.name'
    ).replace('",".join(d.name for d in s.weight_dirs)', '",".join(f"{d.parent.name}/{d.name}" for d in s.weight_dirs)'))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        result = pytester.runpytest("-s", "-p", "no:cacheprovider", "--rootdir", str(pytester.path),
                                    "-c", str(pytester.path / "tox.ini"),
                                    f"{OPTION_RESULTS_DIR}=mine", str(pytester.path))
    # the CLI path is relative to where pytest started; the ini path to the ini file's folder
    result.stdout.fnmatch_lines([f"*RESULTS sub mine DIRS {pytester.path.name}/w-from-ini *"])
