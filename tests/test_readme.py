"""The README's example test file runs and passes, and its test command is what CI runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_example_test_file_passes(pytester):
    block = re.search(r"## A test file\s+```python\n(.*?)```", _readme(), re.S).group(1)
    pytester.makepyfile(test_readme_example=block)
    pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_ci_runs_the_readme_test_command():
    command = re.search(r"Run the tests:\s+```bash\n(.*?)\n```", _readme(), re.S).group(1).strip()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci_lines[-1].strip() == command
