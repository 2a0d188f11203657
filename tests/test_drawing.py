"""Tests of actassert.drawing: kernel grids, tuning plots and stimulus strips, checked by pixel."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from actassert.drawing import (
    DrawingError,
    kernel_grid,
    save_png,
    stimulus_strip,
    tuning_kernels,
    tuning_plot,
)
from actassert.drawing.grids import grid_layout, render_grid
from actassert.drawing.strips import render_strip, strip_layout
from actassert.drawing.tuning_plots import tuning_layout
from actassert.errors import ActAssertError

WHITE = 255


def grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L")).astype(int)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a 1-d mask."""
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def map_boxes(img: Image.Image, side_h: int, side_w: int | None = None
              ) -> tuple[list[int], list[int]]:
    """Top rows and left columns of the framed maps of a kernel grid (frame included).

    Labels sit above the maps with a blank line between, so the non-white row runs of exactly
    ``side + 2`` rows are the maps' rows; within those rows the non-white column runs are the
    maps' columns (the title and the labels above are left out).
    """
    side_w = side_h if side_w is None else side_w
    inked = grey(img) < WHITE
    rows = [a for a, n in runs(inked.any(axis=1)) if n == side_h + 2]
    band = np.concatenate([inked[r:r + side_h + 2] for r in rows]) if rows else inked[:0]
    cols = [a for a, n in runs(band.any(axis=0)) if n == side_w + 2]
    return rows, cols


def inner(img: Image.Image, top: int, left: int, side: int) -> np.ndarray:
    """The pixels of one map inside its 1-px frame."""
    return grey(img)[top + 1:top + 1 + side, left + 1:left + 1 + side]


# ---- kernel_grid: layout ------------------------------------------------------------------


def test_grid_rows_and_columns_follow_k_cols_and_cell() -> None:
    maps = torch.rand(64, 8, 8, generator=torch.Generator().manual_seed(0))
    img = kernel_grid(maps, cols=16, cell=32)
    rows, cols = map_boxes(img, 32)
    assert (len(rows), len(cols)) == (4, 16)
    assert img.mode == "RGB"

    rows8, cols8 = map_boxes(kernel_grid(maps, cols=8, cell=32), 32)
    assert (len(rows8), len(cols8)) == (8, 8)


def test_grid_size_grows_by_one_pitch_per_row_and_column() -> None:
    maps = np.random.default_rng(0).random((64, 8, 8))
    w16, h64 = kernel_grid(maps, cols=16, cell=32).size
    w8, _ = kernel_grid(maps, cols=8, cell=32).size
    _, h16 = kernel_grid(maps[:16], cols=16, cell=32).size
    pitch_x, pitch_y = (w16 - w8) / 8, (h64 - h16) / 3
    assert pitch_x == int(pitch_x) and pitch_y == int(pitch_y)
    assert 34 < pitch_x < 50  # map + frame + gap
    assert 34 + 10 < pitch_y < 34 + 30  # map + frame + label + gap
    assert w16 == 16 * pitch_x + 2 * 8 - 6  # 16 slots, the page margins, no trailing gap


def test_fewer_kernels_than_cols_make_one_short_row() -> None:
    img = kernel_grid(np.random.default_rng(0).random((3, 8, 8)), cell=32)
    rows, cols = map_boxes(img, 32)
    assert (len(rows), len(cols)) == (1, 3)
    assert img.size[0] < 200


@pytest.mark.parametrize(("side", "cell"), [(7, 56), (14, 56), (28, 56), (56, 56), (112, 112),
                                            (224, 112), (3, 57)])
def test_automatic_cell_size(side: int, cell: int) -> None:
    img = kernel_grid(np.random.default_rng(0).random((2, side, side)))
    rows, cols = map_boxes(img, cell)
    assert (len(rows), len(cols)) == (1, 2)


def test_non_square_maps_keep_their_aspect() -> None:
    img = kernel_grid(np.random.default_rng(0).random((3, 8, 16)), cell=32)
    rows, cols = map_boxes(img, 16, 32)
    assert (len(rows), len(cols)) == (1, 3)


def test_upscaling_is_nearest_neighbour() -> None:
    maps = np.zeros((1, 4, 4))
    maps[0, 1, 2] = 1.0
    img = kernel_grid(maps, cell=32)
    (top,), (left,) = map_boxes(img, 32)
    cell = inner(img, top, left, 32)
    assert set(np.unique(cell)) == {0, 255}
    assert (cell[8:16, 16:24] == 255).all() and (cell == 255).sum() == 64


# ---- kernel_grid: content -----------------------------------------------------------------


def test_bright_quadrant_appears_in_its_cell_and_labels_are_drawn() -> None:
    maps = np.zeros((4, 16, 16))
    maps[2, :8, :8] = 10.0
    img = kernel_grid(maps, cell=32)
    rows, cols = map_boxes(img, 32)
    cell = inner(img, rows[0], cols[2], 32)
    assert (cell[:16, :16] == 255).all()
    assert (cell[16:, :] == 0).all() and (cell[:, 16:] == 0).all()
    # the label band above the first map holds dark text; without labels it is blank
    band = grey(img)[rows[0] - 14:rows[0], cols[0]:cols[0] + 34]
    assert (band < 100).sum() > 20
    bare = kernel_grid(maps, cell=32, labels=False)
    assert bare.size[1] < img.size[1]
    rows_b, _ = map_boxes(bare, 32)
    assert (grey(bare)[:rows_b[0]] == WHITE).all()


def test_labels_differ_per_kernel() -> None:
    maps = np.ones((16, 8, 8))
    img = kernel_grid(maps, cell=32)
    rows, cols = map_boxes(img, 32)
    bands = [grey(img)[rows[0] - 14:rows[0], c:c + 34] for c in cols]
    assert not np.array_equal(bands[0], bands[1])
    custom = kernel_grid(maps, cell=32, labels=[f"k{i}" for i in range(16)])
    assert not np.array_equal(grey(custom), grey(img))


def test_shared_scale_dims_a_weaker_kernel_kernel_scale_does_not() -> None:
    base = np.random.default_rng(0).random((8, 8))
    maps = np.stack([base, base / 10])
    by_kernel = kernel_grid(maps, cell=32, scale="kernel")
    shared = kernel_grid(maps, cell=32, scale="shared")
    rows, cols = map_boxes(by_kernel, 32)
    a, b = (inner(by_kernel, rows[0], c, 32) for c in cols)
    assert np.abs(a - b).max() <= 1
    rows, cols = map_boxes(shared, 32)
    strong, weak = (inner(shared, rows[0], c, 32) for c in cols)
    assert weak.max() <= 27 and strong.mean() > 5 * weak.mean()
    assert np.abs(strong - a).max() <= 1  # the strongest kernel spans the layer's range


@pytest.mark.parametrize("scale", ["kernel", "shared"])
def test_constant_maps_draw_mid_grey(scale: str) -> None:
    img = kernel_grid(np.zeros((4, 8, 8)), cell=32, scale=scale)
    rows, cols = map_boxes(img, 32)
    for c in cols:
        assert (inner(img, rows[0], c, 32) == 128).all()


def test_dead_kernel_is_mid_grey_beside_live_ones() -> None:
    maps = np.random.default_rng(0).random((3, 8, 8))
    maps[1] = 0.0
    img = kernel_grid(maps, cell=32)
    rows, cols = map_boxes(img, 32)
    assert (inner(img, rows[0], cols[1], 32) == 128).all()
    assert inner(img, rows[0], cols[0], 32).max() == 255


def test_nan_values_are_drawn_red_and_announced() -> None:
    maps = np.random.default_rng(0).random((4, 8, 8))
    clean = kernel_grid(maps, cell=32)
    maps[1, 2:4, 2:4] = np.nan
    maps[3, 0, 0] = np.inf
    img = kernel_grid(maps, cell=32)
    rgb = np.asarray(img).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 30) & (rgb[..., 2] < 30)
    assert red.sum() == (4 + 1) * 4 * 4  # each bad value is a 4x4 block of the 32-px cell
    assert img.size[1] > clean.size[1]  # a note line on top
    # the finite values of the kernel keep their own range
    rows, cols = map_boxes(img, 32)
    assert inner(img, rows[0], cols[1], 32).max() == 255


def test_all_nan_map_does_not_crash() -> None:
    img = kernel_grid(np.full((2, 4, 4), np.nan), cell=16, title="all NaN")
    assert img.size[0] > 0


def test_vector_input_draws_one_cell_per_kernel_on_the_layer_scale() -> None:
    values = torch.tensor([0.0, 3.0, 1.0, 2.0, -1.0])
    img = kernel_grid(values)
    rows, cols = map_boxes(img, 48)
    assert (len(rows), len(cols)) == (1, 5)
    corner = [grey(img)[rows[0] + 2, c + 2] for c in cols]  # away from the printed value
    assert corner[1] == 255 and corner[4] == 0
    assert corner[0] < corner[2] < corner[3] < corner[1]
    assert np.array_equal(grey(kernel_grid(values[:, None, None])), grey(img))
    # the value is printed inside its cell
    cell = inner(img, rows[0], cols[1], 48)
    assert (cell < 100).sum() > 10


def test_tensor_and_array_inputs_agree_and_title_adds_lines() -> None:
    maps = torch.randn(8, 6, 6, generator=torch.Generator().manual_seed(1))
    a = kernel_grid(maps, cell=24)
    b = kernel_grid(maps.numpy().astype(np.float64), cell=24)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    titled = kernel_grid(maps, cell=24, title="layer2, image 0")
    assert titled.size[1] > a.size[1] + 20


def test_kernel_ids_past_999_get_four_digit_labels() -> None:
    img = kernel_grid(np.random.default_rng(0).random((1001, 2, 2)), cell=8)
    small = kernel_grid(np.random.default_rng(0).random((1000, 2, 2)), cell=8)
    assert img.size[0] > small.size[0]  # K=0000..K=1000 need wider slots than K=000..K=999


@pytest.mark.parametrize(("maps", "kwargs", "message"), [
    (np.zeros((2, 3, 8, 8)), {}, "pass maps[i] for image i of the batch of 2"),
    (np.zeros((8, 8)), {}, "got shape (8, 8)"),
    (np.zeros((0, 8, 8)), {}, "hold no kernel"),
    (np.zeros((2, 8, 8)), {"scale": "global"}, "scale='global'"),
    (np.zeros((2, 8, 8)), {"cols": 0}, "cols=0"),
    (np.zeros((2, 8, 8)), {"cell": 2.5}, "cell=2.5"),
    (np.zeros((2, 8, 8)), {"labels": ["a"]}, "labels has 1 entries for 2 kernels"),
    (np.array([["a", "b"]]), {}, "dtype <U1"),
    (torch.zeros(2, 4, 4, dtype=torch.complex64), {}, "complex"),
])
def test_bad_grid_arguments_raise_clear_errors(maps: object, kwargs: dict, message: str) -> None:
    with pytest.raises(DrawingError) as info:
        kernel_grid(maps, **kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, ActAssertError) and isinstance(info.value, ValueError)


def test_path_writes_a_png_and_returns_the_image(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "folder" / "grid.png"
    img = kernel_grid(torch.rand(20, 7, 7), path=out)
    with Image.open(out) as saved:
        assert saved.format == "PNG" and saved.size == img.size
        assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(img))


def test_save_png_creates_parents(tmp_path: Path) -> None:
    out = save_png(Image.new("RGB", (3, 2)), tmp_path / "a" / "b.png")
    assert out == tmp_path / "a" / "b.png"
    with Image.open(out) as saved:
        assert saved.size == (3, 2)


def test_grid_layout_says_what_goes_where_and_render_draws_it() -> None:
    maps = np.random.default_rng(0).random((20, 7, 7))
    maps[3, 1, 2] = np.nan
    layout = grid_layout(maps, cols=8, title="conv1")
    assert layout.ncols == 8 and layout.cells.shape == (20, 56, 56)  # 7 px maps upscaled x8
    assert layout.labels[:2] == ["K=000", "K=001"] and len(layout.label_widths) == 20
    assert layout.bad_cells is not None and layout.bad_cells[3].sum() == 8 * 8
    assert [line for line, _ in layout.header] == [
        "conv1", layout.header[1][0], "1 NaN values drawn red (in 1 of 20 kernels)"]
    assert layout.header[1][0].startswith("20 kernels of 7 x 7 positions; each map scaled")
    drawn = render_grid(layout)
    assert np.array_equal(np.asarray(drawn), np.asarray(kernel_grid(maps, cols=8, title="conv1")))
    rows, cols = map_boxes(drawn, 56)
    assert (len(rows), len(cols)) == (3, 8)
    assert grid_layout(maps[:, :1, :1], labels=False).pointwise


def test_512_kernel_grid_is_fast() -> None:
    import time

    maps = np.random.default_rng(0).standard_normal((512, 28, 28)).astype(np.float32)
    kernel_grid(maps[:16])  # warm the font cache
    start = time.perf_counter()
    img = kernel_grid(maps)
    assert time.perf_counter() - start < 1.0  # about 0.04 s on a laptop CPU
    rows, cols = map_boxes(img, 56)
    assert (len(rows), len(cols)) == (32, 16)


# ---- tuning_plot --------------------------------------------------------------------------


@dataclass
class FakeTuning:
    """A stand-in with the attributes tuning_plot reads."""

    values: torch.Tensor
    curves: torch.Tensor
    index: torch.Tensor | None = None
    circular: float | None = None
    scale: str = "linear"
    parameter: str = "value"
    layer: str | None = "layer1"
    focus: list[int] = field(default_factory=list)

    @property
    def kernels(self) -> int:
        return int(self.curves.shape[1])

    def preferred(self) -> torch.Tensor:
        return self.values[self.curves.argmax(dim=0)]

    def selectivity(self) -> torch.Tensor:
        if self.index is None:
            raise ValueError("a selectivity index needs at least 3 distinct values")
        return self.index


def hue_fake(k: int = 12, **kw: object) -> FakeTuning:
    hues = torch.arange(0.0, 360.0, 15.0)
    prefs = torch.linspace(0, 330, k)
    curves = torch.exp(2 * torch.cos(torch.deg2rad(hues[:, None] - prefs)))
    index = torch.linspace(0.1, 0.9, k).roll(3)
    return FakeTuning(hues, curves, index, circular=360.0, parameter="hue", **kw)  # type: ignore[arg-type]


def longest_run(mask: np.ndarray) -> int:
    """The longest horizontal run of True in a 2-d mask."""
    return max((n for row in mask for _, n in runs(row)), default=0)


def saturated(img: Image.Image, channel: int) -> int:
    """Pixels where one channel dominates strongly (pure-ish red, green or blue)."""
    rgb = np.asarray(img).astype(int)
    others = [c for c in range(3) if c != channel]
    return int(((rgb[..., channel] > 150) & (rgb[..., others].max(axis=-1) < 90)).sum())


def test_default_kernels_are_the_most_selective() -> None:
    fake = hue_fake()
    expected = torch.argsort(fake.index, descending=True)[:4].tolist()
    assert tuning_kernels(fake, max_kernels=4) == expected
    fake.focus = [0]
    assert tuning_kernels(fake, max_kernels=4) == [0, *[k for k in expected if k != 0]][:4]


def test_kernel_ids_name_kernels_after_a_selection() -> None:
    fake = hue_fake(4)
    fake.kernel_ids = torch.tensor([40, 41, 42, 43])  # type: ignore[attr-defined]
    assert sorted(tuning_kernels(fake)) == [40, 41, 42, 43]
    assert tuning_kernels(fake, [42, 40]) == [42, 40]
    with pytest.raises(DrawingError, match=r"kernel 3 is not in this tuning \(kernel ids 40..43"):
        tuning_plot(fake, [3])


def test_tuning_layout_titles_panels_and_labels_only_the_outer_axes() -> None:
    fake = hue_fake(6, focus=[2])
    linear = tuning_layout(fake, polar=False)
    assert linear.shape == (2, 4) and not linear.polar and linear.hue and linear.period == 360.0
    assert linear.title == ("layer1: hue tuning, 6 of 6 kernels "
                            "(named kernels, then most selective first)")
    first = linear.panels[0]
    assert first.column == 2 and first.named and first.title == f"K=002  index {fake.index[2]:.2f}"
    assert [p.named for p in linear.panels].count(True) == 1
    assert [p.ylabel for p in linear.panels] == ["mean response", None, None, None,
                                                 "mean response", None]
    # the bottom panel of each column: row 2 for columns 0-1, row 1 for columns 2-3
    assert [p.xlabel is not None for p in linear.panels] == [False, False, True, True, True, True]
    assert linear.panels[0].xlabel is None and linear.panels[2].xlabel == "hue (degrees)"
    polar = tuning_layout(fake, max_kernels=3)
    assert polar.polar and polar.shape == (1, 3) and polar.unit == "°"
    assert all(p.xlabel is None and p.ylabel is None for p in polar.panels)
    assert polar.title.endswith("3 of 6 kernels (named kernels, then most selective first)")


def test_without_an_index_the_strongest_kernels_come_first() -> None:
    curves = torch.tensor([[1.0, 5.0, 3.0], [2.0, 1.0, 4.0]])
    fake = FakeTuning(torch.tensor([1.0, 2.0]), curves)
    assert tuning_kernels(fake) == [1, 2, 0]
    assert tuning_plot(fake).size[0] > 0


def test_hue_plot_is_polar_with_hue_coloured_markers(tmp_path: Path) -> None:
    fake = hue_fake()
    img = tuning_plot(fake, max_kernels=4, path=tmp_path / "hue.png")
    assert img.mode == "RGB"
    w, h = img.size
    assert 1000 < w < 1300 and 200 < h < 400  # four panels in one row
    assert saturated(img, 1) > 20  # green markers (hue near 120)
    with Image.open(tmp_path / "hue.png") as saved:
        assert saved.format == "PNG" and saved.size == img.size
    linear = tuning_plot(fake, max_kernels=4, polar=False)
    assert not np.array_equal(np.asarray(linear), np.asarray(img))
    rgb = np.asarray(linear).astype(int)
    green = (rgb[..., 1] > 150) & (rgb[..., [0, 2]].max(axis=-1) < 90)
    assert longest_run(green) >= 15  # the hue colour bar (markers are ~5 px wide)
    rgb = np.asarray(img).astype(int)
    assert longest_run((rgb[..., 1] > 150) & (rgb[..., [0, 2]].max(axis=-1) < 90)) < 15


def test_non_hue_circular_parameter_has_no_hue_colours() -> None:
    fake = hue_fake()
    fake.parameter, fake.circular = "orientation", 180.0
    fake.values = fake.values / 2
    assert saturated(tuning_plot(fake, max_kernels=4), 1) == 0


def test_more_panels_wrap_into_rows_of_four() -> None:
    fake = hue_fake(12)
    one_row = tuning_plot(fake, max_kernels=4)
    three_rows = tuning_plot(fake, max_kernels=12)
    assert three_rows.size[0] == one_row.size[0]
    assert three_rows.size[1] > 2.5 * one_row.size[1] - 100


def test_log_scale_changes_the_x_axis() -> None:
    sizes = torch.tensor([4.0, 8, 16, 32, 64, 128])
    curves = torch.exp(-torch.log2(sizes[:, None] / torch.tensor([8.0, 32.0])) ** 2)
    lin = FakeTuning(sizes, curves, torch.tensor([0.9, 0.5]), parameter="size")
    log = FakeTuning(sizes, curves, torch.tensor([0.9, 0.5]), scale="log", parameter="size")
    a, b = tuning_plot(lin), tuning_plot(log)
    assert a.size == b.size

    def marker_gaps(img: Image.Image) -> np.ndarray:
        rgb = np.asarray(img).astype(int)[:, : img.size[0] // 2]  # the first panel
        blue = (np.abs(rgb - np.array([31, 119, 180])) < 12).all(axis=-1)  # matplotlib's C0
        return np.diff([a + n / 2 for a, n in runs(blue.any(axis=0))])

    # 4..128 is 5 octaves, evenly spaced on a log axis (the star may hide one marker)
    gaps = marker_gaps(b)
    assert gaps.sum() / gaps.min() == pytest.approx(5, abs=0.2)
    lin_gaps = marker_gaps(a)
    assert lin_gaps.sum() / lin_gaps.min() > 8


def test_bad_tuning_plot_arguments() -> None:
    lin = FakeTuning(torch.tensor([1.0, 2.0, 3.0]), torch.rand(3, 2), torch.zeros(2))
    with pytest.raises(DrawingError, match="polar=True needs a circular parameter"):
        tuning_plot(lin, polar=True)
    with pytest.raises(DrawingError, match="max_kernels=0"):
        tuning_plot(lin, max_kernels=0)
    with pytest.raises(DrawingError, match=r"\[V values, K kernels\] with V=3; got shape \(2, 2\)"):
        tuning_plot(FakeTuning(torch.tensor([1.0, 2.0, 3.0]), torch.rand(2, 2)))


def test_explicit_kernels_beyond_max_are_cut() -> None:
    fake = hue_fake(12)
    assert tuning_kernels(fake, list(range(10)), max_kernels=3) == [0, 1, 2]
    assert tuning_kernels(fake, 5) == [5]
    assert tuning_kernels(fake, torch.tensor([7, 1])) == [7, 1]


def test_real_tuning_class(tmp_path: Path) -> None:
    tuning = pytest.importorskip("actassert.tuning")
    hues = torch.arange(0.0, 360.0, 10.0)
    prefs = torch.linspace(0, 300, 6)
    width = torch.linspace(0.2, 3.0, 6)
    resp = torch.exp(width * torch.cos(torch.deg2rad(hues[:, None] - prefs)))
    tun = tuning.Tuning(hues, resp, circular=360, parameter="hue", layer="features.1")
    assert tuning_kernels(tun, max_kernels=3) == [5, 4, 3]  # sharper curves are more selective
    sub = tun.select([4, 1])
    assert tuning_kernels(sub) == [4, 1]
    img = tuning_plot(sub, path=tmp_path / "tuning.png")
    assert (tmp_path / "tuning.png").is_file() and img.size[0] > 400

    sizes = torch.tensor([4.0, 8, 16, 32, 64])
    size_tun = tuning.Tuning(sizes, torch.rand(5, 3, generator=torch.Generator().manual_seed(0)),
                             scale="log", parameter="size")
    assert tuning_plot(size_tun).size[0] > 400


def test_no_pyplot_no_torch_and_backend_untouched() -> None:
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import actassert.drawing as d
        assert "torch" not in sys.modules and "matplotlib" not in sys.modules
        class T:
            values = np.arange(0.0, 360.0, 30.0)
            curves = np.random.default_rng(0).random((12, 3))
            circular, scale, parameter, layer = 360.0, "linear", "hue", "conv1"
            def preferred(self): return self.values[self.curves.argmax(0)]
            def selectivity(self): return np.array([0.1, 0.5, 0.3])
        d.tuning_plots.tuning_layout(T())  # the layout step needs no matplotlib
        assert "matplotlib" not in sys.modules, "matplotlib imported by tuning_layout"
        import matplotlib
        before = matplotlib.get_backend() if "matplotlib.pyplot" in sys.modules else None
        d.tuning_plot(T())
        d.kernel_grid(np.random.default_rng(0).random((4, 5, 5)))
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
        assert "torch" not in sys.modules, "torch imported"
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1], timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# ---- stimulus_strip -----------------------------------------------------------------------


def grey_stimuli(n: int, size: int = 32) -> torch.Tensor:
    return torch.full((n, 3, size, size), 0.5)


def test_strip_caps_and_captions_and_keeps_the_highlight() -> None:
    images = grey_stimuli(360)
    images[5] = torch.tensor([0.0, 0.0, 1.0])[:, None, None]  # not on the evenly spaced grid
    img = stimulus_strip(images, labels={"hue": torch.arange(360.0)}, highlight=5)
    full = stimulus_strip(grey_stimuli(24))
    rgb = np.asarray(img).astype(int)
    assert saturated(img, 2) >= 96 * 96  # the highlighted blue image is shown
    red = (rgb[..., 0] == 230) & (rgb[..., 1] == 0) & (rgb[..., 2] == 0)
    assert red.sum() > 4 * 96 * 3  # its red frame
    assert img.size[0] == full.size[0] and img.size[1] > full.size[1]  # same grid + caption
    inked = grey(img) < WHITE
    image_cols = [n for _, n in runs((grey(img) == 128).any(axis=0))]
    assert image_cols.count(96) == 12 and inked.any()


def test_strip_layout_picks_evenly_spaced_images_and_render_draws_them() -> None:
    images = grey_stimuli(360)
    layout = strip_layout(images, labels={"hue": torch.arange(360.0)}, highlight=[5, 359])
    assert len(layout.shown) == 24 and {5, 359} <= set(layout.shown)
    assert layout.shown == sorted(layout.shown) and layout.marked == {5, 359}
    assert layout.caption == "24 of 360 shown (evenly spaced)"
    assert layout.lines[layout.shown.index(5)] == ["hue=5"]
    assert layout.per_row == 12 and layout.size == (96, 96) and not layout.shrink
    drawn = render_strip(layout)
    assert drawn.size == layout.page_size
    same = stimulus_strip(images, labels={"hue": torch.arange(360.0)}, highlight=[5, 359])
    assert np.array_equal(np.asarray(drawn), np.asarray(same))
    small = strip_layout(torch.rand(3, 3, 100, 50), labels=["a long label to wrap", "b", "c"],
                         cell=50)
    assert small.caption is None and small.shown == [0, 1, 2] and small.shrink
    assert small.size == (25, 50) and len(small.lines[0]) == 2  # wrapped onto two lines


def test_strip_layout_follows_cell_and_wraps_after_twelve() -> None:
    img = stimulus_strip(grey_stimuli(3, 100), cell=50)
    g = grey(img)
    assert [n for _, n in runs((g == 128).any(axis=0))] == [50, 50, 50]
    assert [n for _, n in runs((g == 128).any(axis=1))] == [50]
    wrapped = stimulus_strip(grey_stimuli(13), cell=40)
    gw = grey(wrapped)
    assert len(runs((gw == 128).any(axis=1))) == 2
    assert len(runs((gw == 128).any(axis=0))) == 12


def test_strip_labels_are_drawn_and_checked() -> None:
    images = grey_stimuli(2)
    plain = stimulus_strip(images, labels=["", ""])
    labelled = stimulus_strip(images, labels=["hue=0", "hue=180"])
    assert (grey(plain) < 100).sum() == 0
    assert (grey(labelled) < 100).sum() > 20
    with pytest.raises(DrawingError, match="labels has 1 entries for 2 images"):
        stimulus_strip(images, labels=["x"])
    with pytest.raises(DrawingError, match=r"labels\['hue'\] has 3 values for 2 images"):
        stimulus_strip(images, labels={"hue": [0, 1, 2]})


def test_strip_reads_uint8_and_grey_and_marks_nan() -> None:
    u8 = np.full((2, 3, 8, 8), 100, dtype=np.uint8)  # read as 0..255, not clipped to white
    assert (grey(stimulus_strip(u8, cell=16, labels=["", ""])) == 100).sum() == 2 * 16 * 16
    g = grey(stimulus_strip(np.full((1, 1, 8, 8), 0.25), labels=[""], cell=16))
    assert (g == 64).sum() == 16 * 16
    bad = torch.rand(1, 3, 8, 8)
    bad[0, :, 0, 0] = torch.nan
    rgb = np.asarray(stimulus_strip(bad, cell=16, labels=[""])).astype(int)
    assert ((rgb[..., 0] == 230) & (rgb[..., 1] == 0)).sum() == 4  # 1 px -> 2x2 at cell 16


@pytest.mark.parametrize(("images", "kwargs", "message"), [
    (torch.rand(3, 8, 8), {}, "for one image use images[None]"),
    (torch.rand(2, 4, 8, 8), {}, "got shape (2, 4, 8, 8)"),
    (torch.rand(0, 3, 8, 8), {}, "hold no image"),
    (torch.rand(2, 3, 8, 8), {"highlight": 2}, "highlight=2 is not an image index in 0..1"),
    (torch.rand(2, 3, 8, 8), {"max_images": 0}, "max_images=0"),
    (torch.rand(2, 3, 8, 8), {"labels": "hue"}, "one string"),
])
def test_bad_strip_arguments(images: torch.Tensor, kwargs: dict, message: str) -> None:
    with pytest.raises(DrawingError) as info:
        stimulus_strip(images, **kwargs)
    assert message in str(info.value)


def test_strip_path_writes_png(tmp_path: Path) -> None:
    img = stimulus_strip(torch.rand(4, 3, 16, 16), path=tmp_path / "s" / "strip.png")
    with Image.open(tmp_path / "s" / "strip.png") as saved:
        assert saved.format == "PNG" and saved.size == img.size


@pytest.mark.parametrize("polar", [True, False])
def test_a_single_kernel_tuning_plot_keeps_its_whole_title(polar: bool) -> None:
    img = np.asarray(tuning_plot(hue_fake(64, focus=[5]), [5], polar=polar)).astype(int)
    ink = (img.min(axis=-1) < 200)[:60]  # the title's rows
    assert not ink[:, :3].any() and not ink[:, -3:].any()  # no glyph cut at either edge
    assert ink.any(axis=1).sum() > 20  # wrapped over more than one line of text
