"""The package stays typed and lint-clean (mypy and ruff, as configured in pyproject.toml)."""

import ast
import inspect
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import actassert

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


# -- issue 13: checks that keep the code base in shape ------------------------------------------

PACKAGE = ROOT / "actassert"
MAX_FUNCTION_LINES = 60
# Nothing else may pass 60 lines.
LONG_FUNCTIONS_OWNED_ELSEWHERE = {
    # TEMPORARY: split in the next commits of this branch
    ("drawing.py", "kernel_grid"), ("drawing.py", "tuning_plot"), ("drawing.py", "stimulus_strip"),
    ("models.py", "load_model"), ("stimuli.py", "gratings"),
}
EXCEPTIONS_OWNED_ELSEWHERE: set[tuple[str, str]] = set()
MYPY_STRICT_FLAGS = ("disallow_untyped_defs", "disallow_incomplete_defs", "check_untyped_defs",
                     "warn_unused_ignores", "warn_redundant_casts", "strict_equality")


def _modules() -> list[tuple[str, ast.Module]]:
    return [(path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted(PACKAGE.rglob("*.py"))]


def test_no_function_is_over_60_lines():
    long = [f"{name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for name, tree in _modules() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
            and (name, node.name) not in LONG_FUNCTIONS_OWNED_ELSEWHERE]
    assert long == [], "split these functions (layout/render, validate/work): " + ", ".join(long)


def _is_exception_class(node: ast.ClassDef) -> bool:
    names = [ast.unparse(base).split(".")[-1] for base in node.bases]
    return any(n.endswith(("Error", "Exception", "Warning")) or n in ("Exception", "BaseException")
               for n in names)


def test_every_exception_and_warning_class_is_defined_in_errors_py():
    elsewhere = [f"{name}:{node.name}" for name, tree in _modules() if name != "errors.py"
                 for node in ast.walk(tree)
                 if isinstance(node, ast.ClassDef) and _is_exception_class(node)
                 and (name, node.name) not in EXCEPTIONS_OWNED_ELSEWHERE]
    assert elsewhere == [], "define these in actassert/errors.py and import them: " + ", ".join(
        elsewhere)


def test_mypy_stays_at_least_as_strict():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[tool.mypy]", 1)[1].split("\n[", 1)[0]  # tomllib needs Python 3.11
    loose = [flag for flag in MYPY_STRICT_FLAGS
             if not re.search(rf"^{flag}\s*=\s*true\s*$", section, re.MULTILINE)]
    assert loose == [], f"[tool.mypy] must keep {', '.join(loose)} = true"
    assert 'files = ["actassert"]' in section


def _annotations(obj: object) -> list[str]:
    try:
        signature = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []
    return [str(p.annotation) for p in signature.parameters.values()] + [
        str(signature.return_annotation)]


def _public_callables():
    for name in actassert.__all__:
        obj = getattr(actassert, name)
        if isinstance(obj, types.ModuleType) or not callable(obj):
            continue
        if not inspect.isclass(obj):
            yield name, obj
            continue
        for attr, value in vars(obj).items():
            if callable(value) and (not attr.startswith("_") or attr in ("__init__", "__call__")):
                yield f"{name}.{attr}", value


ANY_OWNED_ELSEWHERE: set[str] = set()


def test_no_any_in_public_signatures_unless_the_docstring_says_why():
    found = [name for name, fn in _public_callables()
             if name.split(".")[0] not in ANY_OWNED_ELSEWHERE
             and any(re.search(r"\bAny\b", a) for a in _annotations(fn))
             and "``Any``" not in (fn.__doc__ or "")]
    assert found == [], ("use the aliases of actassert.types (ModelLike, DeviceLike, ...) or say "
                         "in the docstring why Any: " + ", ".join(found))


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Stripped lines that carry code: no blank lines, comments or lone brackets."""
    lines = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.strip()
        if text and not text.startswith("#") and len(text.strip("()[]{},:\"'")) > 3:
            lines.append((number, text))
    return lines


def test_no_block_of_six_lines_is_repeated():
    block = 6
    seen: dict[tuple[str, ...], str] = {}
    repeated = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = _code_lines(path)
        for i in range(len(lines) - block + 1):
            key = tuple(text for _, text in lines[i:i + block])
            where = f"{path.relative_to(PACKAGE)}:{lines[i][0]}"
            if key in seen and not seen[key].startswith(f"{path.relative_to(PACKAGE)}:"):
                repeated.append(f"{where} repeats {seen[key]}")
            seen.setdefault(key, where)
    assert repeated == [], "move the repeated code into one function: " + ", ".join(repeated[:10])
