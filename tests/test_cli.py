"""The actassert command: layers and record."""

import numpy as np
import pytest

from actassert.cli import main


def test_layers_prints_names_and_shapes(capsys):
    assert main(["layers", "resnet18", "--weights", "none", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "maxpool" in out and "[1, 64, 56, 56]" in out
    assert "layer1.0.relu#1" in out and "fc" in out and "[1, 1000]" in out


def test_record_saves_npz_without_pickle(tmp_path, capsys, skimage_data):
    images = [str(skimage_data / "chelsea.png"), str(skimage_data / "coffee.png")]
    code = main(["record", "resnet18", "--weights", "none", "--device", "cpu", "--layers",
                 "maxpool", "fc", "--images", *images, "--out", str(tmp_path), "--size", "64"])
    assert code == 0
    saved = np.load(tmp_path / "resnet18-activations.npz", allow_pickle=False)
    assert saved["maxpool"].shape == (2, 64, 16, 16) and saved["fc"].shape == (2, 1000)
    assert "maxpool: [2, 64, 16, 16]" in capsys.readouterr().out


def test_record_defaults_to_hue_discs_offline(tmp_path, capsys):
    code = main(["record", "resnet18", "--weights", "none", "--device", "cpu", "--layers", "fc",
                 "--out", str(tmp_path), "--size", "32"])
    assert code == 0
    saved = np.load(tmp_path / "resnet18-activations.npz")
    assert saved["fc"].shape == (12, 1000)
    assert list(saved["_stimulus.hue"]) == list(range(0, 360, 30))


@pytest.mark.parametrize("argv, message", [
    (["record", "resnet18", "--weights", "none", "--layers", "layer9"], "no layer 'layer9'"),
    (["layers", "resnet5O", "--weights", "none"], "Did you mean"),
    (["record", "resnet18", "--weights", "none", "--layers", "fc", "--images", "/no/such.png"],
     "/no/such.png"),
])
def test_errors_are_one_line_with_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("actassert ") and message in err
