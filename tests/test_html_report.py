"""pytest-html: a failing test's figures as image extras, embedded or linked; nothing without it."""

import html
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("pytest_html")

INNER = """
import torch
from torch import nn
from actassert import Network, record


def test_fails():
    torch.manual_seed(0)
    net = Network(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval(), device="cpu")
    with record(net, ["0"]):
        net(torch.rand(1, 3, 16, 16))
    assert False, "the kernels are wrong"


def test_passes():
    assert True
"""

SPY = """
import sys


def pytest_sessionfinish(session):
    open("imported.txt", "w").write(str("pytest_html" in sys.modules))
"""


def _extras(report: Path) -> dict[str, list[dict]]:
    """Each test's extras, from the JSON pytest-html 4 puts in the report's data-jsonblob."""
    blob = re.search(r'data-jsonblob="([^"]*)"', report.read_text(encoding="utf-8"))
    assert blob, "no data-jsonblob in the report"
    tests = json.loads(html.unescape(blob[1]))["tests"]
    return {nodeid: [e for run in runs for e in run.get("extras", [])]
            for nodeid, runs in tests.items()}


def _run(pytester, *args):
    pytester.makepyfile(test_inner=INNER)
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly",
                              "--actassert-device=cpu", "--actassert-results-dir=results", *args)


def test_self_contained_report_embeds_the_kernel_grid(pytester):
    _run(pytester, "--html=r.html", "--self-contained-html").assert_outcomes(failed=1, passed=1)
    extras = _extras(pytester.path / "r.html")
    images = extras["test_inner.py::test_fails"]
    assert [e["name"] for e in images] == ["grid-Sequential-0.png", "input-Sequential.png"]
    for e in images:
        assert e["format_type"] == "image"
        assert e["content"].startswith("data:image/png;base64,iVBORw0KGgo")  # a PNG, inline
    assert extras["test_inner.py::test_passes"] == []


def test_plain_report_links_the_figures_beside_it(pytester):
    _run(pytester, "--html=out/r.html").assert_outcomes(failed=1, passed=1)
    images = _extras(pytester.path / "out" / "r.html")["test_inner.py::test_fails"]
    assert len(images) == 2
    for e in images:
        assert e["content"].startswith("../results/test_inner.py-test_fails-")
        assert (pytester.path / "out" / e["content"]).is_file()


def test_without_pytest_html_nothing_is_added_nor_imported(pytester):
    pytester.makeconftest(SPY)
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly",
                                           "-p", "no:html", "-p", "no:html_fixtures",
                                           "--actassert-device=cpu",
                                           "--actassert-results-dir=results")
    result.assert_outcomes(failed=1, passed=1)
    assert (pytester.path / "imported.txt").read_text() == "False"
    assert list((pytester.path / "results").rglob("grid-*.png"))  # the figures are still written
