"""The activation_regression fixture, run as users run it: real inner test files under pytester."""

import json
import zipfile

import numpy as np
import pytest

from actassert.golden.files import read_golden, write_golden

INNER = """
import os
import torch
from torch import nn
from actassert import Network, record


def make_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 4, 3, padding=1))
    with torch.no_grad():
        net[2].weight[3, 1, 1, 1] += float(os.environ.get("GOLDEN_SHIFT", "0"))
    return Network(net.eval(), name="toy", device="cpu")


def test_toy(activation_regression):
    net = make_net()
    torch.manual_seed(1)
    with record(net, ["0", "1", "2", "3", "4"]) as acts:
        net(torch.rand(2, 3, 16, 16))
    activation_regression.check(acts)
"""


def _run(pytester, *args):
    return pytester.runpytest("-p", "no:cacheprovider", "--actassert-device=cpu",
                              f"--actassert-results-dir={pytester.path / 'results'}", *args)


def test_five_run_workflow(pytester, monkeypatch):
    pytester.makepyfile(test_toy=INNER)
    golden = pytester.path / "test_toy" / "test_toy.npz"
    monkeypatch.delenv("GOLDEN_SHIFT", raising=False)

    first = _run(pytester)  # 1. missing golden: written, and the test fails saying so
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*File not found in data directory, created:*", f"*{golden}*"])
    assert golden.is_file() and golden.with_suffix(".json").is_file()
    assert not list((pytester.path / "results").rglob("*.png"))  # created only: no figures
    assert "figures (1 failed)" not in first.stdout.str()  # nor a gallery saying "1 failed"
    written = golden.read_bytes()

    _run(pytester).assert_outcomes(passed=1)  # 2. the next run passes

    monkeypatch.setenv("GOLDEN_SHIFT", "0.5")  # 3. a change: fails naming the layer
    third = _run(pytester)
    third.assert_outcomes(failed=1)
    third.stdout.fnmatch_lines([
        "*activation regression check failed: 3 of 5 layers changed; first changed layer "
        "(forward order): '2'*",
        "*Obtained: '2' is the first layer beyond it: K=003*",
        "*Fix: if the change is intended, rerun with --force-regen*"])
    assert golden.read_bytes() == written  # the golden is left alone
    card = json.loads(next((pytester.path / "results").rglob("actassert.json")).read_text())
    assert card["files"][:5] == [  # the first changed layer, then the other changed layers
        "golden-2-expected.png", "golden-2-obtained.png", "golden-2-difference.png",
        "golden-3-difference.png", "golden-4-difference.png"], card["files"]
    assert card["files"][5:7] == ["input-toy.png", "grid-toy-0.png"]  # then the rest

    fourth = _run(pytester, "--force-regen")  # 4. --force-regen rewrites the golden
    fourth.assert_outcomes(failed=1)
    fourth.stdout.fnmatch_lines(["*Files differ and --force-regen set, regenerating file at:*"])
    assert golden.read_bytes() != written

    _run(pytester).assert_outcomes(passed=1)  # 5. and the next run passes


def test_a_corrupt_golden_names_the_file_and_the_flag(pytester, monkeypatch):
    pytester.makepyfile(test_toy=INNER)
    monkeypatch.delenv("GOLDEN_SHIFT", raising=False)
    _run(pytester).assert_outcomes(failed=1)
    golden = pytester.path / "test_toy" / "test_toy.npz"
    golden.write_bytes(golden.read_bytes()[: len(golden.read_bytes()) // 2])  # truncated

    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*GoldenFileError: the golden file {golden} cannot be read*"
                                 "--force-regen*"])
    _run(pytester, "--force-regen").assert_outcomes(failed=1)  # rewritten
    _run(pytester).assert_outcomes(passed=1)


def test_goldens_are_safe_under_xdist(pytester, monkeypatch):
    pytest.importorskip("xdist")
    source = INNER + "".join(
        f"\n\ndef test_toy_{i}(activation_regression):\n    test_toy(activation_regression)\n"
        for i in range(3))
    pytester.makepyfile(test_toy=source)
    monkeypatch.delenv("GOLDEN_SHIFT", raising=False)
    _run(pytester, "-n", "2").assert_outcomes(failed=4)
    _run(pytester, "-n", "2").assert_outcomes(passed=4)
    assert not list((pytester.path / "test_toy").glob("*.tmp"))  # no temporary file left


def test_read_golden_rejects_files_that_are_not_goldens(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(Exception, match=r"plain.npz cannot be read: it holds no meta.json.*"
                                        r"--force-regen"):
        read_golden(plain)
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(Exception, match="text.npz cannot be read"):
        read_golden(text)


def test_golden_file_round_trip(tmp_path):
    from actassert.golden.stats import Golden

    golden = Golden(layers=["b", "a#1"], stats={"b": np.ones((5, 2)), "a#1": np.zeros((5, 3))},
                    maps={"b": np.ones((2, 4, 4), np.float16)}, meta={"device": "cpu"})
    path = write_golden(golden, tmp_path / "g.npz")
    back = read_golden(path)
    assert back.layers == ["b", "a#1"]  # forward order survives
    assert back.maps["b"].dtype == np.float16 and back.stats["a#1"].shape == (5, 3)
    assert json.loads(path.with_suffix(".json").read_text())["device"] == "cpu"
    with zipfile.ZipFile(path) as z:  # plain npy members: nothing for pickle to run
        assert sorted(z.namelist()) == ["maps/b.npy", "meta.json.npy", "stats/a#1.npy",
                                        "stats/b.npy"]
