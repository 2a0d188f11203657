"""The package stays typed and lint-clean (mypy and ruff, as configured in pyproject.toml)."""

import ast
import inspect
import re
import runpy
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
# Functions allowed past 60 lines, with the reason (none today).
LONG_FUNCTIONS_OWNED_ELSEWHERE: set[tuple[str, str]] = set()
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


# -- issue 13: one rule for importing torch ------------------------------------------------------
# The modules pytest loads with the plugin (found by importing actassert.plugin in a fresh
# process) never import torch at module level: their functions import it once a test needs it.
# Every other module imports torch and torchvision at its top, never inside a function.

# module -> why it imports torch inside a function although it is not on the plugin's load path
TORCH_INSIDE_FUNCTIONS_ALLOWED: dict[str, str] = {
    "weightfiles.py": "the plugin's pytest_configure imports it in every run (it checks the weight "
                      "options), so it is on the load path although importing plugin.py alone "
                      "does not load it",
}
_TORCH_PACKAGES = ("torch", "torchvision")


def _imports_torch(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] in _TORCH_PACKAGES for alias in node.names)
    return (isinstance(node, ast.ImportFrom) and node.level == 0
            and (node.module or "").split(".")[0] in _TORCH_PACKAGES)


def _torch_imports(node: ast.AST, *, in_function: bool = False) -> list[tuple[int, bool]]:
    """``(line, inside a function)`` of every torch import under ``node``, ``TYPE_CHECKING``
    blocks left out (they never run)."""
    found = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
            children: list[ast.AST] = list(child.orelse)
        else:
            children = [child]
        for item in children:
            if _imports_torch(item):
                found.append((item.lineno, in_function))
            nested = in_function or isinstance(
                item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            found.extend(_torch_imports(item, in_function=nested))
    return found


def _plugin_load_path() -> tuple[set[str], list[str]]:
    """The package's files a fresh process loads with ``import actassert.plugin``, and which of
    torch and torchvision that loads."""
    code = ("import sys, actassert.plugin; "
            "print(' '.join(m for m in sys.modules if m.split('.')[0] == 'actassert')); "
            "print(' '.join(p for p in ('torch', 'torchvision') if p in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split("\n")
    files = set()
    for module in out[0].split():
        path = Path(*module.split(".")[1:])
        files.add((path / "__init__.py").as_posix() if (PACKAGE / path).is_dir()
                  else path.with_suffix(".py").as_posix())
    return files, out[1].split()


def test_torch_is_imported_at_the_top_outside_the_plugin_load_path():
    load_path, heavy = _plugin_load_path()
    assert "plugin.py" in load_path and "__init__.py" in load_path, load_path
    assert heavy == [], f"import actassert.plugin loads {heavy}"
    at_load, inside = [], []
    for name, tree in _modules():
        for line, in_function in _torch_imports(tree):
            if name in load_path and not in_function:
                at_load.append(f"{name}:{line}")
            elif (name not in load_path and in_function
                  and name not in TORCH_INSIDE_FUNCTIONS_ALLOWED):
                inside.append(f"{name}:{line}")
    assert at_load == [], ("the plugin loads these modules when pytest starts; import torch "
                           "inside their functions: " + ", ".join(at_load))
    assert inside == [], "import torch at the top of the module: " + ", ".join(inside)


# -- issue 21: layers, imports only downward, no cycle -------------------------------------------
# Every module of the package sits on a numbered layer and imports only from its own layer or
# below: every import counts, function-level and ``TYPE_CHECKING`` ones included. A module is
# placed by its longest dotted prefix here; a new module that fits no entry fails the test until
# it is given a room. The same map is written in actassert/__init__.py's docstring.
LAYERS: dict[str, int] = {
    "errors": 0, "types": 0, "evidence": 0, "drawing": 0, "_support": 0,
    "settings": 1, "weightfiles": 1,
    "models": 2,
    "layers": 3, "stimuli": 3, "stimulus_set": 3, "tuning": 3, "determinism": 3,
    "layout": 3, "attention": 3, "proportions": 3, "responsiveness": 3,  # issues 17, 18
    "recording": 4, "_inplace": 4, "probe": 4,
    "measures": 5, "layer_choice": 5, "blank": 5, "receptive_field": 5,  # blank, rf: issue 17
    "assertions": 6, "invariance": 6, "strategies": 6, "bench": 6, "golden": 6,
    "battery": 7, "artefacts": 7, "tutorial": 7,
    "fixtures": 8,
    "plugin": 9, "cli": 9,
    "": 10,  # actassert/__init__.py, the public face
}


def _module_files() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".") if module else []
    for i in range(len(parts), -1, -1):
        if ".".join(parts[:i]) in LAYERS and (i or not parts):
            return LAYERS[".".join(parts[:i])]
    return None


def _imported(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[int, str]]:
    """``(line, module)`` of every package module that ``module`` imports, anywhere in it."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = ["actassert", *package.split(".")] if package else ["actassert"]
                base = ".".join(up[:len(up) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}"[10:] in modules else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target == "actassert" or target.startswith("actassert."):
                name = target[10:]
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name != module:
                    found.append((node.lineno, name))
    return found


def _import_graph() -> dict[str, list[tuple[int, str]]]:
    modules = _module_files()
    return {m: _imported(m, p, modules) for m, p in modules.items()}


def test_every_module_has_a_layer():
    unplaced = [m or "__init__" for m in _module_files() if _layer(m) is None]
    assert unplaced == [], ("give these modules a layer in LAYERS (tests/test_quality.py) and in "
                            "actassert/__init__.py's docstring: " + ", ".join(unplaced))


def test_imports_only_go_down_the_layers():
    upward = [f"{m or '__init__'} (L{_layer(m)}) -> {t or 'actassert'} (L{_layer(t)}), line {line}"
              for m, imports in _import_graph().items() for line, t in imports
              if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)]
    assert upward == [], ("an import runs up the layers: move what is shared down to the lower "
                          "layer, or the importer up: " + "; ".join(upward))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_even_through_function_level_imports():
    graph = {m: {t for _, t in imports} for m, imports in _import_graph().items()}
    cycles = _cycles(graph)
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_layer_map_is_written_in_the_package_docstring():
    doc = actassert.__doc__ or ""
    written: dict[str, int] = {}
    layer, naming = None, False  # a layer's modules run up to its " -- ", over lines if need be
    for line in doc.splitlines():
        match = re.match(r"\s*L(\d+)\s+(.+)", line)
        if match:
            layer, naming, text = int(match.group(1)), True, match.group(2)
        elif layer is not None and naming and line.startswith("        "):
            text = line
        else:
            continue
        names, dash, _ = text.partition("--")
        for name in re.findall(r"[\w.]+", names):
            written[name.removesuffix(".py").rstrip("/.")] = layer
        naming = naming and not dash
    expected = {name or "__init__": layer for name, layer in LAYERS.items()}
    assert written == expected, "actassert/__init__.py's docstring and LAYERS disagree"
    faces = [m for m, p in _module_files().items() if p.name == "__init__.py" and m]
    unlabelled = [m for m in faces if f"(layer {_layer(m)})" not in (ast.get_docstring(
        ast.parse((PACKAGE / m.replace(".", "/") / "__init__.py").read_text())) or "")]
    assert unlabelled == [], "say '(layer N)' in the docstring of: " + ", ".join(unlabelled)


# Why an import may stand inside a function: it keeps torch (or another slow import) off the
# plugin's load path, or it needs an optional dependency. Never to break a cycle (see above).
FUNCTION_IMPORT_REASONS = ("torch guard", "torch loads here", "plugin load path", "optional:",
                           "matplotlib: slow to import")


def test_every_function_level_import_says_why():
    unexplained = []
    for name, tree in _modules():
        lines = (PACKAGE / name).read_text(encoding="utf-8").splitlines()
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    text = " ".join(lines[node.lineno - 1:node.end_lineno])
                    if not any(f"# {why}" in text for why in FUNCTION_IMPORT_REASONS):
                        unexplained.append(f"{name}:{node.lineno}")
    assert unexplained == [], ("import at the top of the module, or end the line with its "
                               f"reason ({', '.join(FUNCTION_IMPORT_REASONS)}): "
                               + ", ".join(sorted(set(unexplained))))


def test_no_module_is_named_like_a_test_file():
    """pytest collects ``test_*.py`` and ``*_test.py`` (its default ``python_files``), so a module
    named so would be run as tests by ``pytest --pyargs actassert`` or a wide ``testpaths``."""
    named = [str(p.relative_to(ROOT)) for p in (ROOT / "actassert").rglob("*.py")
             if p.name.startswith("test_") or p.stem.endswith("_test")]
    assert named == [], f"rename these modules (pytest would collect them as tests): {named}"


def test_the_readme_shows_the_same_layer_map():
    """README's "Development" table is this map, row for row, so a newcomer reads the true one."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown: dict[str, int] = {}
    for layer, rooms in re.findall(r"^\| (\d+) \| (.+) \|$", readme, re.M):
        for room in re.findall(r"`(\w+)(?:\.py|/)`", rooms):
            shown["" if room == "__init__" else room] = int(layer)
    differ = {room: (shown.get(room), LAYERS.get(room)) for room in shown.keys() | LAYERS.keys()
              if shown.get(room) != LAYERS.get(room)}
    assert differ == {}, f"README's layer table and LAYERS differ, (README, LAYERS): {differ}"


def test_every_slow_entry_names_a_test_that_exists():
    """A renamed test would lose its ``slow`` mark in silence: each entry of tests/conftest.py's
    lists must name an existing file or test function."""
    lists = runpy.run_path(str(ROOT / "tests" / "conftest.py"))
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    missing = [m for m in lists["SLOW_MODULES"] if not (ROOT / "tests" / m).is_file()]
    missing += [t for t in lists["SLOW_TESTS"] if f"def {t.partition('[')[0]}(" not in sources]
    assert missing == [], f"tests/conftest.py marks tests that do not exist: {missing}"
