"""The README's example test file runs and passes, and its test command is what CI runs."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_test_examples_pass(pytester):
    blocks = [b for b in re.findall(r"```python\n(.*?)```", _readme(), re.S) if "def test_" in b]
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        pytester.makepyfile(**{f"test_readme_{i}": block})
    expected = sum(block.count("def test_") for block in blocks)
    goldens = [f"test_readme_{i}.py" for i, block in enumerate(blocks)
               if "activation_regression" in block]
    result = pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider")
    if not goldens:
        result.assert_outcomes(passed=expected)
        return
    # a golden check's first run writes its golden and fails, as documented; the next passes
    result.assert_outcomes(passed=expected - len(goldens), failed=len(goldens))
    result.stdout.fnmatch_lines(["*File not found in data directory, created:*"])
    again = pytester.runpytest("--actassert-device=cpu", "-p", "no:cacheprovider", *goldens)
    again.assert_outcomes(passed=len(goldens))


def test_ci_runs_the_readme_test_command():
    command = re.search(r"Run the tests:\s+```bash\n(.*?)\n```", _readme(), re.S).group(1).strip()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci_lines[-1].strip() == command


def test_benchmark_tables_are_the_saved_rows_of_bench_sh():
    """The README's benchmark tables are exactly the rows `bash scripts/bench.sh` saved."""
    import json

    from tests_support.bench_report import RESULTS, peers_table, profile_table, targets_table

    readme = _readme()
    for name, render in (("targets.json", targets_table), ("table.json", peers_table)):
        saved = json.loads((RESULTS / name).read_text(encoding="utf-8"))
        assert not saved["quick"], f"{name} holds a --quick run; rerun bash scripts/bench.sh"
        assert render(saved["rows"]) in readme, f"README's table differs from {name}"
        assert f"Machine: {saved['machine']}" in readme
    profile = json.loads((RESULTS / "profile.json").read_text(encoding="utf-8"))
    assert profile_table(profile["shares"]) in readme, "README's profile differs from profile.json"


def test_readme_contents_list_every_section_and_the_reference_is_below_the_fold():
    """A newcomer reads the two commands, a first test file and the contents; the long reference
    parts (options, what happens when, benchmarks) come after the fold."""
    text = _readme()
    contents, _, rest = text.partition("\n## Contents\n")
    assert "## Two commands" in contents and "## A test file" in contents, "keep them on top"
    listed = re.findall(r"^- \[(.+?)\]\(#[\w-]+\)$", rest.split("\n## ", 1)[0], re.M)
    sections = [h for h in re.findall(r"^## (.+)$", rest, re.M)]
    assert listed == sections, ("README's Contents must list every ## section in order: "
                                f"listed {listed}, sections {sections}")
    guide, fold, reference = rest.partition("\n# Reference\n")
    assert fold, "README needs its fold: a '# Reference' heading before the long reference parts"
    for part in ("## Plugin", "## What happens when", "## Benchmarks"):
        assert part in reference and part not in guide, f"{part} belongs below the fold"


def test_readme_counts_the_tests_pytest_collects():
    """The README's "(N tests)" and "M of the N tests" are what pytest collects today."""
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600).stdout
    counted = re.search(r"^(\d+)/(\d+) tests collected", out, re.M)
    assert counted, f"pytest --collect-only printed no count:\n{out[-2000:]}"
    quick, total = counted.groups()
    text = _readme()
    assert f"whole suite ({total} tests)" in text, f"README: write 'whole suite ({total} tests)'"
    assert f"# {quick} of the {total} tests" in text, \
        f"README: write '# {quick} of the {total} tests'"
