"""The tutorial report: layers chosen, both experiments answered, figures and page written."""


from actassert.cli import main
from actassert.tutorial import LayerFinding, Report, default_layers, run_tutorial


def test_default_layers_spread_activation_layers_over_the_depth():
    import actassert as aa

    net = aa.load_model("mobilenet_v2", weights=None, device="cpu")
    layers = default_layers(net, count=4)
    assert layers[0] == "features.0.2" and layers[-1] == "features.18.2"
    assert len(layers) == 4 and all(layer.endswith(".2") for layer in layers)


def test_answers_follow_the_numbers():
    report = Report("m", [LayerFinding("a", 8, 0.5, 0.4, 0.1, 10.0),
                          LayerFinding("b", 8, 0.4, 0.3, 0.2, 12.0),
                          LayerFinding("c", 8, 0.1, 0.1, 0.3, 40.0),
                          LayerFinding("d", 8, 0.2, 0.1, 0.3, 45.0)])
    assert "45% of kernels are colour selective (index >= 0.3) in the first half" in report.colour_answer()
    assert "15% in the second: more common in the first half" in report.colour_answer()
    assert "fewest in c (10%), most in a (50%)" in report.colour_answer()
    assert "grows with depth, from 10 px in a to 45 px in d" in report.size_answer()


def test_run_tutorial_writes_figures_and_page(tmp_path):
    import actassert as aa

    net = aa.load_model("resnet18", weights=None, device="cpu")
    report = run_tutorial(net, tmp_path, layers=["relu", "layer2.0.relu#1"], hues=6, image_size=64)
    assert [f.layer for f in report.findings] == ["relu", "layer2.0.relu#1"]
    page = report.page.read_text()
    assert page.count("<figure>") == len(report.figures) == 2 + 2 * 3
    assert "{{" not in page and "figure{display:inline-block" in page
    assert all(p.is_file() for p in report.figures)


def test_tutorial_command(tmp_path, capsys):
    code = main(["tutorial", "resnet18", "--weights", "none", "--device", "cpu", "--size", "64",
                 "--hues", "6", "--layers", "layer1.1.relu#1", "layer4.1.relu#1",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "Colour:" in out and "Size:" in out and "report.html" in out


def test_tutorial_rejects_too_few_hues(tmp_path, capsys):
    assert main(["tutorial", "resnet18", "--weights", "none", "--hues", "2",
                 "--out", str(tmp_path)]) == 2
    assert "at least 3 hues" in capsys.readouterr().err


def test_default_layers_take_the_last_call_of_a_reused_relu():
    import actassert as aa

    net = aa.load_model("resnet18", weights=None, device="cpu")
    layers = default_layers(net, count=3)
    assert layers == ["relu", "layer2.1.relu#1", "layer4.1.relu#1"]
