"""Difference grids: one diverging scale centred on zero for every map, the worst kernel marked."""

import numpy as np
import pytest

from actassert.drawing.differences import MARK, NEGATIVE, POSITIVE, difference_grid
from actassert.drawing.grids import grid_layout
from actassert.errors import DrawingError


def _centres(image, k: int, cols: int = 16):
    """The RGB colour at the centre of each kernel's map, read back from the PNG's pixels."""
    from actassert.drawing._common import MARGIN

    layout = grid_layout(np.zeros((k, 8, 8)), cols=cols, scale="shared")
    pitch_x, pitch_y = layout.pitch
    _, ch, cw = layout.cells.shape
    pixels = np.asarray(image)
    rows = (k - 1) // cols + 1
    head = pixels.shape[0] - MARGIN - rows * pitch_y + 9  # the rows end the image (no last gap)
    x0 = MARGIN + (layout.slot_w - cw - 2) // 2 + 1 + cw // 2
    return [tuple(pixels[head + (i // cols) * pitch_y + layout.label_h + 1 + ch // 2,
                         x0 + (i % cols) * pitch_x]) for i in range(k)]


def test_zero_is_white_in_every_map_and_the_scale_is_shared():
    d = np.zeros((3, 8, 8))
    d[1] = 0.001  # a small difference everywhere: pale red, not the full red of map 2
    d[2] = 0.5
    d[0, 0, 0] = -0.5
    image = difference_grid(d, worst=2, title="features.5")
    white, pale, red = _centres(image, 3)
    assert white == (255, 255, 255)  # map 0 is 0 at its centre: white, as everywhere zero is
    assert pale[0] > 250 and pale[1] > 250  # 0.001 of 0.5: almost white, not stretched to red
    assert red == POSITIVE
    assert MARK in {tuple(p) for p in np.asarray(image).reshape(-1, 3)}  # the worst outline


def test_the_header_names_the_scale_and_the_worst_kernel():
    from actassert.drawing import differences

    layout = grid_layout(np.zeros((2, 4, 4)), scale="shared")
    lines = [s for s, _ in differences._header(layout, "t", 0.25, 1, 0)]
    assert lines == ["t", "2 kernels of 4 x 4 positions; one diverging scale for every map: blue "
                          "-0.25, white 0, red +0.25 (the largest |difference|)",
                     "worst kernel K=001 outlined in green"]


def test_negative_is_blue_no_difference_is_white_and_bad_input_is_refused():
    d = np.zeros((2, 8, 8))
    d[1] = -2.0
    assert _centres(difference_grid(d), 2) == [(255, 255, 255), NEGATIVE]
    assert _centres(difference_grid(np.zeros((2, 8, 8))), 2) == [(255, 255, 255)] * 2
    with pytest.raises(DrawingError, match="worst=5 is not a kernel of a layer of 2 kernels"):
        difference_grid(d, worst=5)
