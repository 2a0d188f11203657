"""The wheel holds every subpackage: pyproject.toml finds them, nobody lists them by hand."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _subpackages() -> set[str]:
    return {init.parent.relative_to(ROOT).as_posix()
            for init in (ROOT / "actassert").rglob("__init__.py")}


def test_the_built_wheel_contains_every_subpackage(tmp_path):
    pytest.importorskip("setuptools")
    clean = tmp_path / "clone"  # as from a clean clone: no build/ or egg-info left from before
    shutil.copytree(ROOT, clean, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
        "actassert-*"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path), str(clean)], capture_output=True, text=True,
                         timeout=300)
    if out.returncode and "No module named pip" in out.stderr:
        pytest.skip("pip is not installed in this Python")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    wheel = next(tmp_path.glob("actassert-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(p for p in _subpackages() if f"{p}/__init__.py" not in names)
    assert missing == [], f"the wheel lacks {missing}; check [tool.setuptools.packages.find]"
    assert "actassert/py.typed" in names
    assert len(_subpackages()) >= 8  # actassert, _support, models, golden, battery, artefacts, cli, ...
