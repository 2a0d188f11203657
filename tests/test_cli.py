"""The actassert command: layers and record."""

import re
import subprocess
import sys
import warnings

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


def test_layers_lists_tuple_outputs_by_field_instead_of_failing(capsys):
    assert main(["layers", "vit_b_16", "--weights", "none", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    # the attention returns (output, None): its tensor is listed as field 0, by its module type
    assert re.search(r"encoder\.layers\.encoder_layer_0\.self_attention\.0 +MultiheadAttention +"
                     r"\[1, 197, 768\]", out)
    assert "encoder.layers.encoder_layer_0.mlp" in out and "[1, 197, 768]" in out


def test_record_refuses_a_call_that_never_runs(tmp_path, capsys):
    code = main(["record", "resnet18", "--weights", "none", "--device", "cpu", "--layers",
                 "layer1.0.relu#2", "--size", "32", "--out", str(tmp_path)])
    assert code == 2 and "layer1.0.relu#2 never ran" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_size_must_be_a_real_image_side(capsys):
    with pytest.raises(SystemExit):
        main(["record", "resnet18", "--layers", "fc", "--size", "0"])
    assert "0 px is too small" in capsys.readouterr().err


def test_missing_weights_name_the_cli_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["layers", "resnet18", "--weights", "DEFAULT", "--offline"]) == 2
    err = capsys.readouterr().err
    assert "resnet18-f37072fd.pth" in err and "--weights none" in err


def test_warnings_print_as_notes_and_the_process_keeps_its_own(tmp_path, monkeypatch, capsys):
    (tmp_path / "noisy_factory.py").write_text(
        "import warnings\nimport torch\n\n"
        "def build():\n"
        "    warnings.warn('built with a warning', UserWarning)\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = (warnings.showwarning, warnings.formatwarning, list(warnings.filters))
    assert main(["layers", "noisy_factory:build", "--device", "cpu", "--size", "16"]) == 0
    err = capsys.readouterr().err
    assert "note: built with a warning\n" in err and "UserWarning" not in err
    assert (warnings.showwarning, warnings.formatwarning, list(warnings.filters)) == before
    assert main(["layers", "resnet5O", "--weights", "none"]) == 2  # an error restores them too
    assert (warnings.showwarning, warnings.formatwarning, list(warnings.filters)) == before


def test_help_and_usage_errors_answer_without_loading_torch(tmp_path):
    code = ("import sys\nfrom actassert.cli import main\n"
            "for argv in (['--help'], ['layers', '--size', '0']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('HEAVY:', sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert "usage: actassert" in out.stdout and "too small" in out.stderr
    assert "HEAVY: []" in out.stdout
