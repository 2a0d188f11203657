"""The zero-code battery: ``pytest --actassert-model NAME`` and ``actassert check NAME``."""

from __future__ import annotations

import copy

import pytest
import torch

from actassert import Network, load_model
from actassert.battery.checks import run_check
from actassert.battery.names import CHECKS
from actassert.battery.subject import Subject, battery_stimuli
from actassert.models.names import parse_model_spec
from actassert.settings import BatteryOptions

RUN = ("--actassert-device=cpu", "-p", "no:cacheprovider", "-p", "no:randomly", "-rA")
MOBILENET = "mobilenet_v2@IMAGENET1K_V1"


@pytest.fixture(scope="module")
def mobilenet():
    return load_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu")


def _broken(base, name: str) -> Network:
    """A private copy of the shared network (never modify the cached one)."""
    return Network(copy.deepcopy(base.module), mean=base.mean, std=base.std, name=name,
                   input_size=base.input_size, device="cpu")


def _subject(net, tmp_path, side: int = 96) -> Subject:
    from actassert.tutorial import default_layers

    return Subject(net.name, net, battery_stimuli(side), default_layers(net, 6),
                   BatteryOptions(golden_dir=tmp_path))


def test_model_specs():
    assert parse_model_spec("mobilenet_v2") == ("mobilenet_v2", "DEFAULT")
    assert parse_model_spec("timm:convnext_tiny@none") == ("timm:convnext_tiny", None)
    assert parse_model_spec("pkg.mod:build@IMAGENET1K_V1") == ("pkg.mod:build", "IMAGENET1K_V1")
    with pytest.raises(ValueError, match="NAME@WEIGHTS"):
        parse_model_spec("@none")


def test_battery_in_an_empty_folder_passes_then_compares_with_its_goldens(pytester):
    first = pytester.runpytest(*RUN, "--actassert-model", MOBILENET)
    first.assert_outcomes(passed=len(CHECKS))
    first.stdout.fnmatch_lines([f"PASSED {MOBILENET}::{check}" for check in CHECKS],
                               consecutive=False)
    first.stdout.fnmatch_lines(["golden created: *mobilenet_v2-IMAGENET1K_V1.npz*"])
    assert (pytester.path / "actassert-goldens" / "mobilenet_v2-IMAGENET1K_V1.npz").is_file()
    second = pytester.runpytest(*RUN, "--actassert-model", MOBILENET, "-k", "golden")
    second.assert_outcomes(passed=1, deselected=len(CHECKS) - 1)
    second.stdout.fnmatch_lines(["* layers within tolerance of *mobilenet_v2-IMAGENET1K_V1.npz*"])


def test_battery_from_ini_joins_an_existing_suite(pytester):
    pytester.makeini(f"[pytest]\nactassert_models =\n    {MOBILENET}\n")
    pytester.makepyfile("def test_mine():\n    assert True\n")
    result = pytester.runpytest(*RUN, "-k", "mine or eval_mode")
    result.assert_outcomes(passed=2)


def test_nan_is_named_at_the_module_that_makes_it(mobilenet, tmp_path):
    net = _broken(mobilenet, "nan-copy")
    net.module.features[5].conv[1][0].register_forward_hook(lambda m, a, out: out * float("nan"))
    with pytest.raises(AssertionError) as info:
        run_check("finite", _subject(net, tmp_path))
    assert "first layer with NaN or Inf: 'features.5.conv.1.0' (Conv2d)" in str(info.value)


def test_train_mode_is_named(mobilenet, tmp_path):
    net = _broken(mobilenet, "train-copy")
    net.module.train()
    with pytest.raises(AssertionError, match="Mode-dependent in train mode: 'features.0.1'"):
        run_check("eval_mode", _subject(net, tmp_path))
    with pytest.raises(AssertionError, match="first layer that depends on the batch: "
                                             "'features.0.1'"):
        run_check("batch_invariant", _subject(net, tmp_path))


def test_a_zeroed_conv_has_dead_kernels_named(mobilenet, tmp_path):
    net = _broken(mobilenet, "zeroed-copy")
    torch.nn.init.zeros_(net.module.features[5].conv[0][0].weight)
    with pytest.raises(AssertionError) as info:
        run_check("dead_kernels", _subject(net, tmp_path))
    assert "first layer over it: 'features.5.conv.0.0': 100% of its kernels dead" in \
        str(info.value)


def test_the_unchanged_model_passes_the_checks_the_broken_copies_fail(mobilenet, tmp_path):
    target = _subject(mobilenet, tmp_path)
    for check in ("finite", "eval_mode", "batch_invariant", "dead_kernels"):
        assert run_check(check, target)


def test_golden_check_fails_after_a_change_naming_the_layer(mobilenet, tmp_path):
    layers = ["features.4.conv.0.2", "features.5.conv.0.0", "features.6.conv.0.2"]
    before = _subject(mobilenet, tmp_path)
    before.layers = layers
    assert "golden created" in run_check("golden", before)[0]
    assert "within tolerance" in run_check("golden", before)[0]
    net = _broken(mobilenet, mobilenet.name)
    with torch.no_grad():
        net.module.features[5].conv[0][0].weight[0, 0, 0, 0] += 1e-2
    after = _subject(net, tmp_path)
    after.layers = layers
    with pytest.raises(AssertionError, match=r"first changed layer \(forward order\): "
                                             "'features.5.conv.0.0'"):
        run_check("golden", after)
    assert (tmp_path / "mobilenet_v2.obtained.npz").is_file()


def test_selectivity_is_reported_and_asserted_only_when_asked(mobilenet, tmp_path):
    target = _subject(mobilenet, tmp_path)
    lines = run_check("selectivity", target)
    assert lines[0].startswith("colour-selective kernels (responsive, index >= 0.3, above the "
                               "blank): features.0.2 ")
    assert lines[2].startswith("untrained twin (random init, seed 0), colour-selective: "
                               "features.0.2 ") and "Fisher's exact p = " in lines[2]
    target.options = BatteryOptions(golden_dir=tmp_path, min_colour=0.99)
    with pytest.raises(AssertionError, match="some layer with at least 99% colour-selective"):
        run_check("selectivity", target)


def test_check_command_exit_codes(capsys, tmp_path):
    from actassert.cli import main

    code = main(["check", MOBILENET, "--device", "cpu", "--checks", "eval_mode", "finite",
                 "--golden-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and f"PASS {MOBILENET}::eval_mode" in out and "2 passed, 0 failed" in out
    code = main(["check", MOBILENET, "--device", "cpu", "--checks", "selectivity",
                 "--min-colour", "0.99", "--golden-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1 and f"FAIL {MOBILENET}::selectivity" in out and "Fix:" in out


def test_bad_battery_options_stop_pytest_at_start(pytester):
    result = pytester.runpytest(*RUN, "--actassert-model", MOBILENET, "--actassert-max-dead", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--actassert-max-dead=2 must lie between 0 and 1*"])


def test_a_user_factory_runs_the_battery(pytester):
    result = pytester.runpytest(*RUN, "--actassert-model", "tests_support.models:tiny")
    result.assert_outcomes(passed=len(CHECKS))
    result.stdout.fnmatch_lines(["PASSED tests_support.models:tiny::dead_kernels"],
                                consecutive=False)


def test_timm_convnext_with_random_init_runs_the_whole_battery(tmp_path, capsys):
    pytest.importorskip("timm")
    from actassert.cli import main

    code = main(["check", "timm:convnext_tiny@none", "--device", "cpu", "--golden-dir",
                 str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(CHECKS)} passed, 0 failed" in out
    assert "stages.0.blocks.0.mlp.act" in out  # a channels-last stage was measured


def test_readme_quotes_the_dead_kernel_figure_the_check_prints():
    import pathlib
    import re

    from actassert.battery.subject import subject

    pytest.importorskip("skimage")  # the figure counts the photos too
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    quoted = re.search(r"the worst layer has (\d+)% dead kernels \(`([\w.]+)`", readme)
    line = run_check("dead_kernels", subject("mobilenet_v2", device="cpu"))[0]
    worst = re.search(r"worst layers: ([\w.]+) (\d+)%", line)
    assert quoted and worst and (quoted[2], quoted[1]) == (worst[1], worst[2]), line


@pytest.mark.parametrize("bad, says", [
    ("mobilenet_v9", "Did you mean: mobilenet_v2"),
    ("tests_support.models:broken", "raised RuntimeError: no GPU here"),
    ("tests_support.nowhere:tiny", "no module 'tests_support.nowhere'"),
    ("resnet18@IMAGENET9K", "IMAGENET9K"),
])
def test_a_bad_battery_model_is_one_short_failure_and_the_others_run(pytester, bad, says):
    result = pytester.runpytest(*RUN, "--actassert-model", bad,
                                "--actassert-model", "tests_support.models:tiny")
    result.assert_outcomes(passed=len(CHECKS), failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    block = out[out.index(f" {bad}::load "):out.index("= PASSES =")]
    assert f"battery model {bad!r} did not load" in block and says in block, block
    assert "Fix: correct --actassert-model" in block
    assert len(block.splitlines()) < 10 and "pluggy/" not in out and "_pytest/" not in out


def test_a_bad_model_in_the_ini_key_is_one_short_failure(pytester):
    pytester.makeini("[pytest]\nactassert_models =\n    mobilenet_v9\n")
    result = pytester.runpytest(*RUN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*battery model 'mobilenet_v9' did not load*"])


class _Residual(torch.nn.Module):
    """conv -> BatchNorm -> + x, the block timm's zero_init_last starts as the identity."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(3)
        self.head = torch.nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.head(x + self.bn(self.conv(x)))


def _residual_subject(tmp_path, *, zero_conv: bool) -> Subject:
    module = _Residual().eval()
    torch.nn.init.zeros_(module.bn.weight)  # zero-initialised by design
    if zero_conv:
        torch.nn.init.zeros_(module.conv.weight)
        torch.nn.init.zeros_(module.conv.bias)
    net = Network(module, mean=(0.5,) * 3, std=(0.25,) * 3, name="residual", device="cpu")
    return Subject("residual", net, battery_stimuli(32), ["bn"], BatteryOptions(golden_dir=tmp_path))


def test_a_norm_weight_zeroed_by_design_is_reported_not_dead(tmp_path):
    lines = run_check("dead_kernels", _residual_subject(tmp_path, zero_conv=False))
    assert lines[1] == ("zero-initialised by design (a norm layer's weight of 0, its output the "
                        "bias: not counted as dead): 1 layers, bn 3 kernels"), lines
    with pytest.raises(AssertionError) as info:
        run_check("dead_kernels", _residual_subject(tmp_path, zero_conv=True))
    message = str(info.value)
    assert "first layer over it: 'conv': 100% of its kernels dead" in message
    assert "Fix: check the weights of 'conv' (zeroed or pruned?)" in message and "''s" not in message


def test_torchvision_zero_init_residual_passes_dead_kernels(tmp_path):
    import torchvision

    module = torchvision.models.resnet18(weights=None, zero_init_residual=True).eval()
    net = Network(module, mean=(0.5,) * 3, std=(0.25,) * 3, name="resnet18-zero", device="cpu")
    lines = run_check("dead_kernels", _subject(net, tmp_path, side=64))
    assert "zero-initialised by design" in lines[1] and "layer1.0.bn2 64 kernels" in lines[1]


def test_the_checks_share_their_runs_so_no_input_is_run_twice(mobilenet, tmp_path):
    """Determinism's run 1 is batch invariance's batch, and one pass of the 16 stimuli serves
    finite, dead kernels and golden: 4 stimuli run 4 times (determinism 2, hooks on and off),
    the 16 once, the 3 photos once; each check still reports on its own."""
    from collections import Counter

    from actassert.battery.checks import _photos

    sizes: Counter[int] = Counter()
    handle = mobilenet.module.register_forward_pre_hook(
        lambda module, args: sizes.update([len(args[0])]))
    target = _subject(mobilenet, tmp_path)
    try:
        reports = {name: run_check(name, target) for name in CHECKS}
    finally:
        handle.remove()
    assert all(reports.values()) and not target.shared  # each reported; nothing left held
    assert sizes[4] == 4 and sizes[16] == 1
    assert sizes[3] == (1 if _photos(96, "cpu") is not None else 0)
