"""The package stays typed and lint-clean (mypy and ruff, as configured in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tool, args", [("mypy", ["actassert"]), ("ruff", ["check", "actassert", "tests"])])
def test_tool_is_clean(tool, args):
    if shutil.which(tool, path=str(Path(sys.executable).parent)) is None:
        pytest.skip(f"{tool} is not installed (pip install -e '.[dev]')")
    out = subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def _import_time_skips(path: Path) -> list[str]:
    """``pytest.importorskip`` calls inside decorators (``skipif(importorskip(...))``): they run
    when the file is imported and skip every test of the file, not just the decorated one. (At
    module level, where every test of the file needs the package, they are what pytest advises.)"""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    decorators = [d for node in ast.walk(tree)
                  if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                  for d in node.decorator_list]
    return [f"{path.name}:{call.lineno}" for top in decorators for call in ast.walk(top)
            if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "importorskip"]


def test_optional_packages_skip_only_the_tests_that_need_them():
    found = [hit for path in sorted((ROOT / "tests").glob("test_*.py"))
             for hit in _import_time_skips(path)]
    assert found == [], "move importorskip into the test that needs the package: " + ", ".join(found)
