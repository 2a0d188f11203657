"""Tests of actassert.stimuli: stimulus geometry and colour, the Stimuli set, image loading."""

from __future__ import annotations

import colorsys
import hashlib
import http.server
import itertools
import math
import pathlib
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image
from torchvision import transforms as T

from actassert.errors import ImageLoadError, StimulusError
from actassert.stimuli import SHAPE_KINDS, Stimuli, gratings, hue_disc, load_images, shapes

LUMA = torch.tensor([0.299, 0.587, 0.114])
FAST = settings(max_examples=40, deadline=None)


def drawn(s: Stimuli, background: float) -> torch.Tensor:
    """[N, 1, H, W]: pixels whose colour differs from the background in any channel."""
    return (s.images != background).any(dim=1, keepdim=True)


def assert_exact_masks(s: Stimuli, background: float, colours: torch.Tensor | None) -> None:
    """The mask is exactly the drawn pixels: foreground = the colour, the rest = background."""
    assert torch.equal(drawn(s, background), s.masks)
    assert bool((s.images.permute(1, 0, 2, 3)[:, ~s.masks[:, 0]] == background).all())
    if colours is not None:
        for i in range(len(s)):
            fg = s.images[i][:, s.masks[i, 0]]
            assert torch.equal(fg, colours[i][:, None].expand_as(fg))


def disc_reference(size: int, radius_px: float, cx: float, cy: float) -> torch.Tensor:
    """Pixels whose centre lies strictly inside the circle, computed in float64 numpy."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    return torch.from_numpy((xs - cx) ** 2 + (ys - cy) ** 2 < radius_px**2)


# ---- hue_disc ----------------------------------------------------------------------------------

def test_hue_disc_masks_are_the_drawn_discs_and_match_the_geometry() -> None:
    s = hue_disc(range(0, 360, 30), size=224, radius=0.2, background=0.5)
    assert s.images.shape == (12, 3, 224, 224) and s.images.dtype == torch.float32
    assert s.masks.shape == (12, 1, 224, 224) and s.masks.dtype == torch.bool
    colours = torch.stack([s.images[i, :, 112, 112] for i in range(12)])
    assert_exact_masks(s, 0.5, colours)
    reference = disc_reference(224, 0.2 * 224, 112.0, 112.0)
    assert all(torch.equal(s.masks[i, 0], reference) for i in range(12))
    assert abs(int(reference.sum()) - math.pi * (0.2 * 224) ** 2) < 0.01 * math.pi * 44.8**2


def test_hue_disc_colours_follow_hsv() -> None:
    hues = [0.0, 60.0, 120.0, 180.0, 240.0, 300.0, 17.0, 203.5]
    s = hue_disc(hues, size=16, saturation=0.8, value=0.9)
    for i, h in enumerate(hues):
        expected = torch.tensor(colorsys.hsv_to_rgb(h / 360.0, 0.8, 0.9), dtype=torch.float32)
        assert torch.allclose(s.images[i, :, 8, 8], expected, atol=1e-6), h
    assert torch.equal(hue_disc([0.0], size=16).images[0, :, 8, 8], torch.tensor([1.0, 0, 0]))
    assert torch.equal(hue_disc([240.0], size=16).images[0, :, 8, 8], torch.tensor([0, 0, 1.0]))
    centre = s.images[:, :, 8, 8]
    assert torch.allclose(s.params["luma"], centre @ LUMA, atol=1e-6)


def test_hue_0_and_360_give_the_identical_image() -> None:
    s = hue_disc([0.0, 360.0, -360.0, 720.0], size=32)
    for i in range(1, 4):
        assert torch.equal(s.images[0], s.images[i])
    assert s.params["hue"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert torch.equal(hue_disc([-90.0], size=32).images, hue_disc([270.0], size=32).images)


def test_hue_disc_product_order_and_params() -> None:
    hues, radii, sats, values = [0.0, 90.0, 200.0], [0.1, 0.25], [0.5, 1.0], [0.75, 1.0]
    s = hue_disc(hues, radius=radii, saturation=sats, value=values, size=32)
    expected = list(itertools.product(hues, radii, sats, values))
    assert len(s) == len(expected) == 24
    assert set(s.params) == {"hue", "radius", "saturation", "value", "luma"}
    for key, column in zip(("hue", "radius", "saturation", "value"), zip(*expected)):
        assert s.params[key].dtype == torch.float32 and s.params[key].shape == (24,)
        assert torch.equal(s.params[key], torch.tensor(column, dtype=torch.float32)), key
    big, small = s.masks[4, 0].sum(), s.masks[0, 0].sum()  # radius 0.25 vs 0.1, same hue
    assert big > 5 * small


def test_hue_disc_off_centre() -> None:
    s = hue_disc([0.0], size=64, radius=0.1, center=(0.25, 0.75))
    ys, xs = s.masks[0, 0].nonzero().double().T + 0.5
    assert abs(float(xs.mean()) - 16.0) < 1e-9 and abs(float(ys.mean()) - 48.0) < 1e-9
    assert torch.equal(s.masks[0, 0], disc_reference(64, 6.4, 16.0, 48.0))


@pytest.mark.parametrize("background", [0.2, 0.5, 0.8])
def test_luminance_matched_discs_have_the_background_luma(background: float) -> None:
    hues = list(range(0, 360, 15))
    s = hue_disc(hues, size=32, background=background, luminance="matched")
    colours = s.images[:, :, 16, 16]
    assert_exact_masks(s, background, colours)
    lumas = colours.double() @ LUMA.double()
    assert float((lumas - background).abs().max()) < 1e-3
    assert torch.allclose(s.params["luma"].double(), lumas, atol=1e-6)
    assert len({tuple(c) for c in colours.tolist()}) == len(hues)  # the hues still differ
    for h, c in zip(hues, colours.tolist()):
        got_h = colorsys.rgb_to_hsv(*c)[0]
        assert min(abs(got_h * 360 - h), 360 - abs(got_h * 360 - h)) < 0.01, (h, c)
        assert min(c) < 1e-6 or max(c) > 1 - 1e-6, (h, c)  # on the gamut's edge: most saturated
    free = hue_disc(hues, size=32, background=background)
    assert float((free.params["luma"] - background).abs().max()) > 0.1  # free does not match


def test_luminance_matched_saturation_scales_the_chroma() -> None:
    s = hue_disc([30.0], saturation=[0.0, 0.5, 1.0], size=16, luminance="matched")
    c = s.images[:, :, 8, 8]
    chroma = c.amax(1) - c.amin(1)
    assert torch.allclose(c[0], torch.full((3,), 0.5))
    assert float(chroma[1]) == pytest.approx(float(chroma[2]) / 2, abs=1e-6)
    assert s.params["saturation"].tolist() == [0.0, 0.5, 1.0]
    assert torch.allclose(s.params["value"], c.amax(1))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"hues": [0], "radius": 0.7}, "radius=0.7 is larger than 0.5 (half the image side)"),
    ({"hues": [0], "radius": 0.0}, "radius=0.0 must be > 0"),
    ({"hues": []}, "hues must not be empty"),
    ({"hues": [0.0, float("nan")]}, "hues=nan is not a finite number"),
    ({"hues": "red"}, "hues='red'"),
    ({"hues": [True]}, "hues holds True"),
    ({"hues": [0], "size": 4}, "size=4 must be an int of at least 8"),
    ({"hues": [0], "size": 32.0}, "size=32.0"),
    ({"hues": [0], "background": 1.5}, "background=1.5 must be a grey level in [0, 1]"),
    ({"hues": [0], "saturation": [0.5, 1.2]}, "saturation=1.2 is larger than 1"),
    ({"hues": [0], "center": (1.2, 0.5)}, "center=(1.2, 0.5)"),
    ({"hues": [0], "center": (0.5,)}, "center=(0.5,)"),
    ({"hues": [0], "luminance": "bright"}, "luminance='bright' is not one of"),
    ({"hues": [0], "luminance": "matched", "value": 0.5}, "leave value at 1.0 (got value=0.5)"),
    ({"hues": [0], "luminance": "matched", "background": 0.0}, "(got background=0.0)"),
    ({"hues": [0], "radius": 0.001}, "radius=0.001 draws no pixel at size=224"),
    ({"hues": [0], "device": "gpu7"}, "device='gpu7'"),
])
def test_hue_disc_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    hues = kwargs.pop("hues")
    with pytest.raises(StimulusError) as info:
        hue_disc(hues, **kwargs)
    assert message in str(info.value)


def test_generators_are_deterministic() -> None:
    for make in (lambda: hue_disc(range(0, 360, 45), radius=[0.1, 0.3], size=48,
                                  luminance="matched"),
                 lambda: shapes(list(SHAPE_KINDS), [5, 12.5, 30], size=48, center=(0.4, 0.6)),
                 lambda: gratings([0, 33, 90], [1.5, 6], [0, 45], size=48, radius=0.4)):
        a, b = make(), make()
        assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
        assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)


# ---- shapes ------------------------------------------------------------------------------------

def test_square_size_is_its_side_in_pixels() -> None:
    s = shapes("square", [20, 21, 7], size=224)
    assert [int(m.sum()) for m in s.masks] == [400, 441, 49]
    rows, cols = s.masks[0, 0].nonzero().T
    assert (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())) == (102, 121,
                                                                                   102, 121)


def test_circle_size_is_its_diameter() -> None:
    s = shapes("circle", [20, 100], size=224)
    rows, cols = s.masks[0, 0].nonzero().T
    assert int(cols.max() - cols.min() + 1) == 20 and int(rows.max() - rows.min() + 1) == 20
    assert torch.equal(s.masks[1, 0], disc_reference(224, 50.0, 112.0, 112.0))
    assert int(s.masks[1].sum()) == pytest.approx(math.pi * 50**2, rel=0.01)


def test_triangle_and_diamond_sizes() -> None:
    s = shapes(["triangle", "diamond"], [100], size=224)
    tri, dia = s.masks[0, 0], s.masks[1, 0]
    rows, cols = tri.nonzero().T
    assert int(cols.max() - cols.min() + 1) in (99, 100, 101)  # base = side
    # height sqrt(3)/2 * side; the apex's first ~0.87 px hold no pixel centre
    assert int(rows.max() - rows.min() + 1) == pytest.approx(100 * math.sqrt(3) / 2, abs=2)
    assert int(tri.sum()) == pytest.approx(math.sqrt(3) / 4 * 100**2, rel=0.02)
    row_widths = tri.sum(1)[rows.min():rows.max() + 1]
    assert bool((row_widths[1:] >= row_widths[:-1]).all())  # apex up: widening downwards
    assert float(rows.double().add(0.5).min() + rows.double().add(0.5).max()) / 2 == \
        pytest.approx(112, abs=1)  # bounding box centred
    assert int(dia.sum()) == pytest.approx(100**2 / 2, rel=0.02)
    assert 98 <= int(dia.sum(0).count_nonzero()) <= 100  # the tips hold no pixel centre
    assert int(dia.sum(0).count_nonzero()) == int(dia.sum(1).count_nonzero())


def test_shapes_match_an_independent_float64_geometry() -> None:
    sizes, (cx, cy) = [10.0, 17.0, 30.5], (32.0, 24.0)
    s = shapes(list(SHAPE_KINDS), sizes, size=64, center=(cx / 64, cy / 64))
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    dx, dy = xs - cx, ys - cy
    for i, (kind, side) in enumerate(itertools.product(SHAPE_KINDS, sizes)):
        h = side / 2
        inside = {
            "circle": dx**2 + dy**2 < h**2,
            "square": (-h <= dx) & (dx < h) & (-h <= dy) & (dy < h),
            "triangle": (dy < h * math.sqrt(3) / 2)
            & (np.abs(dx) < (dy + h * math.sqrt(3) / 2) / math.sqrt(3)),
            "diamond": np.abs(dx) + np.abs(dy) < h,
        }[kind]
        assert torch.equal(s.masks[i, 0], torch.from_numpy(inside)), (kind, side)


def test_shapes_product_params_categories_and_exact_masks() -> None:
    kinds, sizes = ["square", "circle", "triangle", "diamond"], [6.0, 11.5, 24.0]
    s = shapes(kinds, sizes, colour=(0.9, 0.1, 0.2), background=0.4, size=32)
    assert s.categories == {"kind": SHAPE_KINDS}
    assert s.params["kind"].dtype == torch.int64 and s.params["size"].dtype == torch.float32
    expected = list(itertools.product(kinds, sizes))
    assert [(SHAPE_KINDS[int(k)], float(z)) for k, z in zip(s.params["kind"], s.params["size"])] \
        == expected
    assert_exact_masks(s, 0.4, torch.tensor([[0.9, 0.1, 0.2]]).expand(len(s), 3))
    grey = shapes("circle", [10], colour=0.75, size=32)
    assert torch.equal(grey.images[0, :, 16, 16], torch.full((3,), 0.75))


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("hexagon", [10]), {}, "kind 'hexagon' is not one of circle, square, triangle, diamond"),
    (([], [10]), {}, "kind must be a shape name or a non-empty sequence; got []"),
    (("square", [300]), {}, "sizes=300.0 is larger than 224 (the image side size=224)"),
    (("square", [-1]), {}, "sizes=-1.0 must be > 0"),
    (("square", [10]), {"colour": 0.5}, "colour=0.5 equals background=0.5"),
    (("square", [10]), {"colour": (1.0, 0.0)}, "colour=(1.0, 0.0)"),
    (("square", [10]), {"colour": (1.0, 0.0, 2.0)}, "colour=(1.0, 0.0, 2.0)"),
    (("circle", [0.5]), {}, "size=0.5 draws no pixel"),
])
def test_shapes_rejects_bad_arguments(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(StimulusError) as info:
        shapes(*args, **kwargs)
    assert message in str(info.value)


# ---- gratings ----------------------------------------------------------------------------------

def test_grating_orientation_is_180_periodic_and_0_means_vertical_bars() -> None:
    g = gratings([0.0, 180.0, 90.0, -90.0, 45.0], [4.0], [0.0, 60.0], size=64)
    assert g.params["orientation"].tolist() == [0, 0, 0, 0, 90, 90, 90, 90, 45, 45]
    assert torch.equal(g.images[0], g.images[2]) and torch.equal(g.images[1], g.images[3])
    assert torch.equal(g.images[4], g.images[6])
    vertical, horizontal, diagonal = g.images[0, 0], g.images[4, 0], g.images[8, 0]
    assert torch.equal(vertical, vertical[:1].expand(64, 64))  # every row the same: vertical bars
    assert float(vertical[0].std()) > 0.3
    assert torch.equal(horizontal, horizontal[:, :1].expand(64, 64))
    assert torch.allclose(diagonal[1:, 1:], diagonal[:-1, :-1], atol=1e-5)  # '\' bars
    assert not torch.allclose(diagonal[1:, :-1], diagonal[:-1, 1:], atol=1e-2)
    assert torch.equal(g.images[:, 0], g.images[:, 1]) and torch.equal(g.images[:, 0],
                                                                       g.images[:, 2])


def test_grating_frequency_contrast_phase_and_mean() -> None:
    g = gratings([0.0], [3.0], [0.0, 180.0], size=96, contrast=[1.0, 0.4], background=0.5)
    row = g.images[:, 0, 0, :]
    crossings = ((row[0, 1:] - 0.5).sign() != (row[0, :-1] - 0.5).sign()).sum()
    assert int(crossings) == 6  # 3 cycles, two crossings each
    assert torch.allclose(g.images.mean(dim=(1, 2, 3)), torch.full((4,), 0.5), atol=1e-5)
    assert float(row[0].max()) == pytest.approx(1.0, abs=5e-3)  # crests fall between centres
    assert float(row[0].min()) == pytest.approx(0.0, abs=5e-3)
    assert float(row[1].max() - row[1].min()) == pytest.approx(0.4, abs=5e-3)  # 2 * 0.5 * 0.4
    assert float(row[0, 47:49].mean()) > 0.99 and float(row[2, 47:49].mean()) < 0.01  # phase
    assert g.params["contrast"].tolist() == pytest.approx([1.0, 0.4, 1.0, 0.4])
    assert g.params["phase"].tolist() == [0.0, 0.0, 180.0, 180.0]
    oblique = gratings([30.0], [5.0], size=96)
    assert float(oblique.images.mean()) == pytest.approx(0.5, abs=0.01)


def test_grating_product_order_and_aperture() -> None:
    oris, sfs, phases = [0.0, 45.0], [2.0, 4.0, 8.0], [0.0, 90.0]
    g = gratings(oris, sfs, phases, size=32, radius=0.3, background=0.5)
    expected = list(itertools.product(oris, sfs, phases, [1.0]))
    got = list(zip(*(g.params[k].tolist() for k in
                     ("orientation", "spatial_frequency", "phase", "contrast"))))
    assert got == expected
    aperture = disc_reference(32, 0.3 * 32, 16.0, 16.0)
    assert all(torch.equal(m[0], aperture) for m in g.masks)
    assert bool((g.images.permute(1, 0, 2, 3)[:, ~g.masks[:, 0]] == 0.5).all())
    assert bool(gratings([0.0], [2.0], size=16).masks.all())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"spatial_frequencies": [200]}, "spatial_frequencies=200.0 is larger than 112 (the Nyquist"),
    ({"background": 0.7}, "contrast=1.0 on background=0.7 reaches 1.4 > 1"),
    ({"background": 0.0}, "background=0.0 must be strictly between 0 and 1"),
    ({"radius": 0.9}, "radius=0.9 is larger than 0.5"),
    ({"radius": [0.2, 0.3]}, "radius=[0.2, 0.3] must be one number"),
    ({"orientations": []}, "orientations must not be empty"),
    ({"phases": [float("inf")]}, "phases=inf is not a finite number"),
])
def test_gratings_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"orientations": [0.0], "spatial_frequencies": [4.0], **kwargs}
    with pytest.raises(StimulusError) as info:
        gratings(**args)
    assert message in str(info.value)


# ---- Hypothesis properties ---------------------------------------------------------------------

@FAST
@given(st.floats(-720.0, 720.0, allow_nan=False))
@example(-1e-300).via("Python's % gives 360.0")
@example(359.99999999).via("float32 rounds it to 360")
def test_any_hue_draws_the_image_of_hue_mod_360(hue: float) -> None:
    a, b = hue_disc([hue], size=16), hue_disc([hue % 360.0], size=16)
    assert torch.equal(a.images, b.images)
    assert 0.0 <= float(a.params["hue"][0]) < 360.0


@FAST
@given(side=st.integers(1, 16), cx=st.integers(0, 128), cy=st.integers(0, 128))
def test_integer_square_covers_side_squared_pixels_anywhere(side: int, cx: int, cy: int) -> None:
    # centres on a quarter-pixel grid, kept so the square fits inside the 32 x 32 image
    x = side / 2 + cx / 128 * (32 - side)
    y = side / 2 + cy / 128 * (32 - side)
    x, y = round(x * 4) / 4, round(y * 4) / 4
    s = shapes("square", [side], size=32, center=(x / 32, y / 32))
    assert int(s.masks.sum()) == side * side


@FAST
@given(kind=st.sampled_from(SHAPE_KINDS), size=st.floats(2.0, 32.0),
       center=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
       colour=st.tuples(*[st.sampled_from([0.0, 0.3, 1.0])] * 3))
def test_masks_are_exact_for_any_shape_size_and_centre(kind: str, size: float, center: tuple,
                                                       colour: tuple) -> None:
    try:
        s = shapes(kind, [size], size=32, center=center, colour=colour, background=0.5)
    except StimulusError as err:  # a shape that falls between pixel centres is refused
        assert "draws no pixel" in str(err)
        return
    assert_exact_masks(s, 0.5, torch.tensor([colour]))


@FAST
@given(hue=st.floats(0, 360), radius=st.floats(0.05, 0.5),
       center=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)))
def test_disc_masks_are_exact_for_any_radius_and_centre(hue: float, radius: float,
                                                        center: tuple) -> None:
    s = hue_disc([hue], radius=radius, size=32, center=center, background=0.5)
    colour = s.images[0, :, s.masks[0, 0]][:, 0]
    if bool((colour != 0.5).any()):
        assert_exact_masks(s, 0.5, colour[None])
    reference = disc_reference(32, radius * 32, center[0] * 32, center[1] * 32)
    assert int((s.masks[0, 0] != reference).sum()) <= 2  # float32 ties at the rim only


@FAST
@given(st.floats(-360.0, 360.0, allow_nan=False), st.floats(0, 8), st.floats(0, 360))
@example(-5.960464477539063e-08, 1.0, 1.0).via("wraps to 179.99999994, 180 in float32")
@example(-7.019179376862001e-196, 1.0, 1.0).via("Python's % gives 180.0")
def test_grating_orientation_plus_180_is_the_same_image(ori: float, sf: float, ph: float) -> None:
    a = gratings([ori], [sf], [ph], size=16)
    assert 0.0 <= float(a.params["orientation"][0]) < 180.0
    b = gratings([ori + 180.0], [sf], [ph], size=16)
    assert torch.allclose(a.images, b.images, atol=1e-4)


# ---- the Stimuli set ---------------------------------------------------------------------------

@pytest.fixture
def two_kinds() -> Stimuli:
    return shapes(["circle", "square"], [4.0, 8.0, 12.0], size=16)


def test_len_index_and_slices(two_kinds: Stimuli) -> None:
    assert len(two_kinds) == 6 and two_kinds.device == torch.device("cpu")
    one = two_kinds[4]
    assert len(one) == 1 and one.images.shape == (1, 3, 16, 16) and one.masks.shape[0] == 1
    assert one.label(0) == "kind=square size=8"
    assert torch.equal(two_kinds[-1].images, two_kinds.images[5:6])
    assert torch.equal(two_kinds[torch.tensor(3)].images, two_kinds.images[3:4])
    assert two_kinds[1:5:2].params["size"].tolist() == [8.0, 4.0]
    picked = two_kinds[torch.tensor([5, 0, -1])]
    assert picked.params["size"].tolist() == [12.0, 4.0, 12.0]
    assert torch.equal(picked.images[1], two_kinds.images[0])
    assert two_kinds[[2, 3]].params["kind"].tolist() == [0, 1]
    assert two_kinds[np.array([1])].params["size"].tolist() == [8.0]
    chosen = two_kinds[torch.tensor([True, False, False, False, False, True])]
    assert chosen.params["size"].tolist() == [4.0, 12.0]
    assert len(two_kinds[[]]) == 0 and len(two_kinds[6:]) == 0
    assert [s.label(0) for s in two_kinds][:2] == ["kind=circle size=4", "kind=circle size=8"]
    with pytest.raises(IndexError, match="index 6 is out of range for 6 stimuli"):
        two_kinds[6]
    with pytest.raises(IndexError, match="index -9"):
        two_kinds[[0, -9]]
    with pytest.raises(IndexError, match=r"shape \[6\]"):
        two_kinds[torch.tensor([True, False])]
    with pytest.raises(TypeError, match="1.5"):
        two_kinds[1.5]


def test_concat_add_and_category_recoding() -> None:
    def one(names: tuple[str, ...], codes: list[int], value: float) -> Stimuli:
        n = len(codes)
        return Stimuli(torch.full((n, 3, 8, 8), value), torch.zeros(n, 1, 8, 8, dtype=torch.bool),
                       {"kind": torch.tensor(codes), "x": torch.full((n,), value)},
                       {"kind": names})

    a, b = one(("cat", "dog"), [0, 1], 0.1), one(("dog", "fox"), [1, 0, 0], 0.2)
    both = a + b
    assert both.categories["kind"] == ("cat", "dog", "fox")
    names = [both.categories["kind"][int(c)] for c in both.params["kind"]]
    assert names == ["cat", "dog", "fox", "dog", "dog"]
    assert both.params["x"].tolist() == pytest.approx([0.1, 0.1, 0.2, 0.2, 0.2])
    assert len(both.where(kind="dog")) == 3 and len(sum([a, b, a])) == 7
    assert torch.equal(Stimuli.concat([a, b]).images, both.images)
    mixed = shapes("square", [4.0], size=16) + shapes("circle", [4.0], size=16)
    assert [mixed.label(i) for i in range(2)] == ["kind=square", "kind=circle"]
    with pytest.raises(StimulusError, match="params"):
        a + hue_disc([0], size=8)
    with pytest.raises(StimulusError, match=r"\(16, 16\)"):
        shapes("square", [4.0], size=8) + shapes("square", [4.0], size=16)
    with pytest.raises(StimulusError, match="one or more"):
        Stimuli.concat([])


def test_where_batches_to_and_label(two_kinds: Stimuli) -> None:
    assert two_kinds.where(kind="square").params["size"].tolist() == [4.0, 8.0, 12.0]
    assert two_kinds.where(kind=["square", "circle"], size=8.0).params["kind"].tolist() == [0, 1]
    assert len(two_kinds.where(size=lambda v: v > 5)) == 4
    assert len(two_kinds.where(kind="triangle")) == 0
    hues = hue_disc([0.0, 90.0, 90.1], radius=[0.1, 0.2], size=16)
    assert hues.label(3) == "hue=90 radius=0.2 luma=0.7365"  # only what varies in the set
    assert hues.where(hue=90.0, radius=0.2).label(0) == \
        "hue=90 radius=0.2 saturation=1 value=1 luma=0.7365"  # a set of one: everything
    assert hues.label(5, keys=["hue"]) == "hue=90.1"
    with pytest.raises(StimulusError, match=r"kind 'hexagon' is not one of circle"):
        two_kinds.where(kind="hexagon")
    with pytest.raises(StimulusError, match=r"no parameter 'sise'.*did you mean 'size'"):
        two_kinds.where(sise=4)
    with pytest.raises(StimulusError, match="where"):
        two_kinds.where(size="big")
    batches = list(two_kinds.batches(4))
    assert [len(b) for b in batches] == [4, 2]
    assert torch.equal(torch.cat([b.images for b in batches]), two_kinds.images)
    with pytest.raises(StimulusError, match="batch_size=0"):
        list(two_kinds.batches(0))
    moved = two_kinds.to("cpu")
    assert moved.device == torch.device("cpu") and torch.equal(moved.images, two_kinds.images)
    assert repr(two_kinds) == "Stimuli(n=6, size=16x16, params=['kind', 'size'], device=cpu)"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_generators_draw_on_cuda_like_on_cpu() -> None:
    for make in (lambda d: hue_disc(range(0, 360, 30), size=64, luminance="matched", device=d),
                 lambda d: shapes(list(SHAPE_KINDS), [9, 20.5], size=64, device=d)):
        cpu, gpu = make(None), make("cuda")
        assert gpu.device.type == "cuda" and gpu.params["hue" if "hue" in gpu.params
                                                       else "size"].device.type == "cpu"
        assert torch.equal(cpu.masks, gpu.masks.cpu())
        assert torch.allclose(cpu.images, gpu.images.cpu(), atol=1e-6)
    g = gratings([0, 45], [4], size=64)
    assert torch.allclose(g.images, gratings([0, 45], [4], size=64, device="cuda").images.cpu(),
                          atol=1e-4)
    assert g.to("cuda")[0].device.type == "cuda"


@pytest.mark.parametrize(("build", "message"), [
    (lambda: Stimuli(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8, dtype=torch.bool), {}),
     "images must be a tensor [N, 3, H, W]; got a torch.float32 tensor of shape [2, 1, 8, 8]"),
    (lambda: Stimuli(torch.zeros(2, 3, 8, 8, dtype=torch.float64),
                     torch.zeros(2, 1, 8, 8, dtype=torch.bool), {}), "got dtype torch.float64"),
    (lambda: Stimuli(torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 8), {}),
     "masks must be a bool tensor [2, 1, 8, 8]"),
    (lambda: Stimuli(torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 8, dtype=torch.bool),
                     {"hue": torch.zeros(3)}), "params['hue'] must be a tensor [2]"),
    (lambda: Stimuli(torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 8, dtype=torch.bool),
                     {"hue": torch.zeros(2, dtype=torch.float64)}), "float32 or int64"),
    (lambda: Stimuli(torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 8, dtype=torch.bool),
                     {"kind": torch.tensor([0, 2])}, {"kind": ("a", "b")}), "outside 0..1"),
    (lambda: Stimuli(torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 8, dtype=torch.bool),
                     {}, {"kind": ("a",)}), "int64 params['kind']"),
])
def test_stimuli_validates_its_fields(build, message: str) -> None:
    with pytest.raises(StimulusError) as info:
        build()
    assert message in str(info.value)


# ---- load_images -------------------------------------------------------------------------------

def tutorial(path: pathlib.Path, *steps) -> torch.Tensor:
    return T.Compose([*steps, T.ToTensor()])(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("size", [64, 224])
def test_load_images_fits_like_torchvision(skimage_data: pathlib.Path, size: int) -> None:
    names = ["chelsea.png", "camera.png", "astronaut.png"]  # landscape RGB, grey, square RGB
    paths = [skimage_data / n for n in names]
    squash = load_images(paths, size=size)
    crop = load_images([str(p) for p in paths], size=size, fit="crop")
    for s in (squash, crop):
        assert s.images.shape == (3, 3, size, size) and s.images.dtype == torch.float32
        assert bool(s.masks.all()) and s.params["index"].tolist() == [0, 1, 2]
        assert [s.categories["source"][int(c)] for c in s.params["source"]] == \
            [str(p) for p in paths]
    for i, p in enumerate(paths):
        assert torch.equal(squash.images[i], tutorial(p, T.Resize((size, size))))
        assert torch.equal(crop.images[i], tutorial(p, T.Resize(size), T.CenterCrop(size)))
    assert torch.equal(squash.images[1, 0], squash.images[1, 2])  # grey camera -> equal channels
    assert not torch.equal(squash.images[0], crop.images[0])  # chelsea is not square
    assert squash.label(0) == "index=0 source=chelsea.png"


def _fit_image_before_torchvision(image: Image.Image, size: int, fit: str) -> np.ndarray:
    """``_image_io.fit_image`` as it was before it called torchvision: the reference."""
    if fit == "squash":
        return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)
    new_w, new_h = (size, new_long) if width <= height else (new_long, size)
    resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top = round((new_h - size) / 2.0)
    left = round((new_w - size) / 2.0)
    return np.asarray(resized.crop((left, top, left + size, top + size)))


@pytest.mark.parametrize("fit", ["squash", "crop"])
@pytest.mark.parametrize("width, height, size", [
    (300, 200, 64),   # landscape, down
    (151, 317, 224),  # portrait, odd sides, up on the short side
    (224, 224, 224),  # already the size: no resampling
    (640, 97, 33),    # very wide, odd target
    (50, 51, 100),    # nearly square, up
])
def test_fit_image_gives_the_bytes_of_the_former_implementation(width: int, height: int,
                                                                size: int, fit: str) -> None:
    from actassert._support.image_io import fit_image

    pixels = np.random.default_rng(width * height + size).integers(0, 256, (height, width, 3))
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    obtained = fit_image(image, size, fit)
    assert obtained.shape == (size, size, 3) and obtained.dtype == np.uint8
    assert np.array_equal(obtained, _fit_image_before_torchvision(image, size, fit))


def test_load_images_single_path_and_file_errors(skimage_data: pathlib.Path,
                                                 tmp_path: pathlib.Path) -> None:
    one = load_images(skimage_data / "coffee.png", size=32)
    assert len(one) == 1 and one.categories["source"] == (str(skimage_data / "coffee.png"),)
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageLoadError, match=r"nope.png'?: no such file"):
        load_images([skimage_data / "coffee.png", missing])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageLoadError, match="notes.png: not an image pillow can read"):
        load_images(text)
    with pytest.raises(ImageLoadError, match="is a directory"):
        load_images(tmp_path)
    with pytest.raises(ImageLoadError, match="only http:// and https://"):
        load_images("ftp://example.org/cat.png")
    for kwargs, message in [({"fit": "stretch"}, "fit='stretch'"), ({"size": 2}, "size=2"),
                            ({"timeout": 0}, "timeout=0")]:
        with pytest.raises(StimulusError, match=message):
            load_images(skimage_data / "coffee.png", **kwargs)
    with pytest.raises(StimulusError, match="must not be empty"):
        load_images([])


class _Server:
    """A throwaway http.server on 127.0.0.1 serving fixed routes and logging every request."""

    def __init__(self, routes: dict[str, tuple[int, bytes]]) -> None:
        self.routes, self.log, self.release = routes, [], threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.log.append(self.path)
                if self.path == "/slow":
                    outer.release.wait(10)
                    return
                status, body = outer.routes.get(self.path, (404, b"missing"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(skimage_data: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    srv = _Server({"/cat.png": (200, (skimage_data / "chelsea.png").read_bytes()),
                   "/page.html": (200, b"<html>hello</html>"), "/boom": (500, b"")})
    yield srv
    srv.close()


def test_load_images_from_a_url_is_cached(server: _Server, skimage_data: pathlib.Path,
                                          tmp_path: pathlib.Path) -> None:
    url = server.url + "/cat.png"
    first = load_images(url, size=48, cache_dir=tmp_path)
    assert server.log == ["/cat.png"]
    cached = tmp_path / hashlib.sha256(url.encode()).hexdigest()
    assert cached.read_bytes() == (skimage_data / "chelsea.png").read_bytes()
    again = load_images([url, url], size=48, cache_dir=tmp_path)
    assert server.log == ["/cat.png"]  # the second call made no request
    local = load_images(skimage_data / "chelsea.png", size=48)
    assert torch.equal(first.images, local.images) and torch.equal(again.images[1], local.images[0])
    assert again.categories["source"] == (url,) and again.params["source"].tolist() == [0, 0]
    assert first.label(0) == "index=0 source=cat.png"


def test_load_images_default_cache_is_under_home(server: _Server, tmp_path: pathlib.Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    load_images(server.url + "/cat.png", size=16)
    assert len(list((tmp_path / ".cache" / "actassert" / "images").iterdir())) == 1


@pytest.mark.parametrize(("path", "message"), [
    ("/missing.png", "the server answered HTTP 404"),
    ("/boom", "the server answered HTTP 500"),
    ("/page.html", "not an image pillow can read"),
])
def test_load_images_url_errors_name_the_url(server: _Server, tmp_path: pathlib.Path,
                                             path: str, message: str) -> None:
    url = server.url + path
    with pytest.raises(ImageLoadError) as info:
        load_images(url, cache_dir=tmp_path)
    assert message in str(info.value) and url in str(info.value)
    assert list(tmp_path.iterdir()) == []  # failures are not cached


def test_load_images_timeout_and_unreachable(server: _Server, tmp_path: pathlib.Path) -> None:
    with pytest.raises(ImageLoadError, match=r"/slow: no answer within timeout=0.2 s"):
        load_images(server.url + "/slow", cache_dir=tmp_path, timeout=0.2)
    port = server.httpd.server_address[1]
    server.close()
    with pytest.raises(ImageLoadError, match=f"127.0.0.1:{port}/cat.png: could not connect"):
        load_images(f"http://127.0.0.1:{port}/cat.png", cache_dir=tmp_path, timeout=2)
    with pytest.raises(ImageLoadError, match="is not a valid URL"):
        load_images("http://", cache_dir=tmp_path)
