"""Activation regression checks: the ``activation_regression`` fixture's class.

Built on pytest-regressions' conventions, which users already know: the golden lives in the data
folder beside the test module (``test_module/test_name.npz``), ``--force-regen`` rewrites
goldens that differ, ``--regen-all`` rewrites every golden, and on a mismatch the run's data is
written as ``test_name.obtained.npz`` in the test's temporary copy of that folder. What is
specific to activations lives here: per-kernel statistics in forward order
(:mod:`~actassert.golden.stats`), tolerances per device and dtype
(:mod:`~actassert.golden.tolerance`), the first changed layer (:mod:`~actassert.golden.compare`)
and its kernel grids in the test's failure artefacts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pytest_regressions.common import perform_regression_check

from actassert import drawing, evidence
from actassert.drawing.differences import difference_grid
from actassert.errors import GoldenFileError
from actassert.golden.compare import LayerDiff, compare_goldens
from actassert.golden.files import read_golden, write_golden
from actassert.golden.message import failure_message
from actassert.golden.stats import Golden, collect
from actassert.golden.tolerance import choose_tolerance, layer_tolerances

if TYPE_CHECKING:
    import pytest

__all__ = ["ActivationRegressionFixture"]


class _Check:
    """One ``check`` call: the run's golden, the tolerances, and the comparison pytest-regressions
    calls with the obtained and expected files."""

    def __init__(self, obtained: Golden, source: Path, force_regen: bool,
                 default_tolerance: Any, tolerances: Mapping[str, Any] | None) -> None:
        self.obtained = obtained
        self.source = source
        self.force_regen = force_regen
        self.default_tolerance = default_tolerance
        self.tolerances = tolerances

    def dump(self, path: Path) -> None:
        write_golden(self.obtained, path)

    def compare(self, obtained_path: Path, expected_path: Path) -> None:
        __tracebackhide__ = True
        try:
            expected = read_golden(expected_path)
        except GoldenFileError as exc:
            if self.force_regen:  # pytest-regressions rewrites a golden on an AssertionError
                raise AssertionError(str(exc)) from None
            raise GoldenFileError(str(exc).replace(str(expected_path), str(self.source))) from None
        comparison = compare_goldens(expected, self.obtained,
                                     default_tolerance=self.default_tolerance,
                                     tolerances=self.tolerances)
        first = comparison.first_changed
        if first is None:
            return
        _register_figures(expected, self.obtained, comparison.failures)
        raise AssertionError(failure_message(comparison, self.source, obtained_path))


def _register_figures(expected: Golden, obtained: Golden, changed: list[LayerDiff]) -> None:
    """The failure figures, in the order the per-test cap spends them: the first changed
    layer's expected, obtained and difference grids, then the difference grid of each other
    changed layer in forward order (the ``record`` blocks' own grids come after these)."""
    for n, diff in enumerate(changed):
        e, o = expected.maps.get(diff.layer), obtained.maps.get(diff.layer)
        if e is None or o is None or e.shape != o.shape:
            continue
        name = diff.layer.replace("#", "-call")
        e32, o32 = e.astype(np.float32), o.astype(np.float32)
        worst = diff.worst[0].kernel if diff.worst else None
        if n == 0:
            for what, maps in (("expected", e32), ("obtained", o32)):
                evidence.current().add_figure(
                    f"golden-{name}-{what}.png",
                    lambda p, m=maps, t=f"golden {what}: {diff.layer}, image 0":
                    drawing.kernel_grid(m, title=t, path=p))
        title = (f"golden difference (obtained - expected): {diff.layer}, image 0"
                 + (", the first changed layer" if n == 0 else f", changed layer {n + 1}"))
        evidence.current().add_figure(
            f"golden-{name}-difference.png",
            lambda p, d=o32 - e32, w=worst, t=title: difference_grid(d, worst=w, title=t, path=p))


class ActivationRegressionFixture:
    """The ``activation_regression`` fixture: compare a network's activations with a golden.

    Example (a test file; the first run writes the golden and fails)::

        from actassert import record

        def test_mobilenet_unchanged(actassert_model, stimuli, activation_regression):
            net = actassert_model("mobilenet_v2", weights="IMAGENET1K_V1")
            with record(net, ["features.*"]) as acts:
                net(stimuli.hue_disc(range(0, 360, 30)).images)
            activation_regression.check(acts)
    """

    def __init__(self, datadir: Any, original_datadir: Path,
                 request: pytest.FixtureRequest) -> None:
        self.datadir = datadir
        self.original_datadir = Path(original_datadir)
        self.request = request

    def check(self, data: Any, *, basename: str | None = None,
              fullpath: str | os.PathLike[str] | None = None,
              default_tolerance: Mapping[str, float] | None = None,
              tolerances: Mapping[str, Mapping[str, float]] | None = None,
              maps: bool = True) -> None:
        """Compare ``data`` with its golden; write the golden (and fail) when there is none.

        Each layer (each ``#`` call of a reused module) is summarised per kernel (mean, std,
        min, max, share of positive positions; a ``Responses`` keeps its responses too) and
        compared in forward order. A failure names the first changed layer, the worst layers and
        kernels, what differs in the metadata, and the fix (``--force-regen``).

        Args:
            data: an ``Activations`` (``record``), a ``Responses`` (``sweep``) or a mapping of
                layer name -> tensor ``[N, K, ...]``, in forward order.
            basename: the golden's name without extension (default: the test's name).
            fullpath: the golden's full path, instead of the data folder beside the test module.
            default_tolerance: ``dict(rtol=, atol=)`` for every layer. Default: the pair of this
                device and dtype (see :mod:`actassert.golden.tolerance`); a golden made on
                another device or dtype uses the looser of the two pairs, and says so.
            tolerances: per-layer pairs, ``{"features.1*": dict(rtol=1e-3)}`` (names or globs).
            maps: keep the first image's maps (float16, capped) for failure figures.

        Raises:
            AssertionError: no golden yet (it is written), or a layer beyond tolerance.
            GoldenFileError: the golden is truncated or corrupt (unless ``--force-regen``).
        """
        __tracebackhide__ = True
        obtained = collect(data, maps=maps)
        pair, _ = choose_tolerance(obtained.meta, obtained.meta, default_tolerance)
        layer_tolerances(obtained.layers, pair, tolerances)  # a misspelt layer fails on run 1
        extension = ".npz"
        name = basename or _default_basename(self.request)
        source = Path(fullpath) if fullpath else self.original_datadir / (name + extension)
        force = bool(self.request.config.getoption("force_regen"))
        check = _Check(obtained, source, force, default_tolerance, tolerances)
        creating = not source.is_file()
        try:
            perform_regression_check(
                datadir=self.datadir, original_datadir=self.original_datadir,
                request=self.request, check_fn=check.compare, dump_fn=check.dump,
                extension=extension, basename=basename,
                fullpath=Path(fullpath) if fullpath else None, force_regen=force)
        except BaseException:
            if creating and source.is_file():  # only created a golden: nothing to look at
                evidence.current().forget()
            raise


def _default_basename(request: pytest.FixtureRequest) -> str:
    """pytest-regressions' default: the test's name with non-word characters as ``_``."""
    prefix = ""
    if request.node.cls is not None and request.config.getoption("with_test_class_names"):
        prefix = re.sub(r"[\W]", "_", request.node.cls.__name__) + "_"
    return prefix + re.sub(r"[\W]", "_", request.node.name)

