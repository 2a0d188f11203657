"""One source for every number: the README quotes exactly what `actassert tutorial` prints.

The answers the README quotes for ImageNet MobileNetV2 are recomputed here with the main job's
own defaults (its layers, stimuli and untrained twin, seed 0), without figures, and must appear
in the README verbatim.
"""

import pathlib
import re

import pytest

from actassert.tutorial import Design, default_layers
from actassert.tutorial.measure import control_label, study

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_text() -> str:
    return " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())


def test_readme_quotes_the_main_jobs_answers_for_mobilenet(actassert_model):
    net = actassert_model("mobilenet_v2", weights="IMAGENET1K_V1")
    twin = actassert_model("mobilenet_v2", weights=None, seed=0)
    measured, _ = study(net, default_layers(net), Design(side=net.input_size), lambda _: None,
                        twin, control_label(0))
    readme = _readme_text()
    quoted = re.findall(r"^> ((?:Colour|Size|Orientation):.*)$",
                        (ROOT / "README.md").read_text(encoding="utf-8"), re.M)
    assert len(quoted) == 3, "the README quotes the three answers as '> Colour: ...' lines"
    verdicts = dict(re.findall(r"^- (colour|size|orientation): \*([a-z ]+)\*",
                               (ROOT / "README.md").read_text(encoding="utf-8"), re.M))
    assert set(verdicts) == {"colour", "size", "orientation"}, "the README lists each verdict"
    for key, experiment in measured.experiments.items():
        answer = experiment.answer()
        assert answer in readme, f"README is out of date; `actassert tutorial` now answers:\n{answer}"
        expected = ("survives" if "The trend survives the control" in answer else
                    "does not survive" if "comes from the architecture" in answer else
                    "no trend to test")
        assert verdicts[key] == expected, f"README's verdict for {key} is not the answer's"


@pytest.mark.parametrize("command", ["bash scripts/setup.sh && .venv/bin/actassert tutorial"])
def test_readme_first_command_runs_the_tutorial(command):
    first = re.search(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(encoding="utf-8"),
                      re.S).group(1)
    assert first.startswith(command)
