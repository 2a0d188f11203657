"""The figures a failing test leaves behind: kernel grids, tuning plots, stimulus strips (PNG)
(layer 0): no torch, nothing of actassert but errors and _support.

One module per figure, each split into a layout (pure computation into a small dataclass) and a
render (PIL or matplotlib drawing from that layout): ``grids`` (``kernel_grid``),
``tuning_plots`` (``tuning_plot``, ``tuning_kernels``), ``strips`` (``stimulus_strip``) and
``attention`` (``attention_grid``: each head's map for the class token), on
the shared helpers of ``_common`` (page colours and spacing, fonts and text fitting, reading
arrays, ``save_png``).

The documented exception to the torch-import rule (issue 13: modules outside the plugin's
load path import torch at the top): this package never imports torch, at the top or inside a
function. Figures take Tensors duck-typed (``.detach().cpu()``) and numpy arrays alike, so they
can be drawn from saved arrays in a process without torch; matplotlib, too, is imported only
when a tuning plot is drawn, and never pyplot. tests/test_drawing.py checks both.
"""

from __future__ import annotations

from actassert.drawing._common import save_png
from actassert.drawing.attention import attention_grid
from actassert.drawing.grids import kernel_grid
from actassert.drawing.strips import stimulus_strip
from actassert.drawing.tuning_plots import TuningLike, tuning_kernels, tuning_plot
from actassert.drawing.tuning_plots import _Curves as _Curves  # read by test_reliability.py
from actassert.errors import DrawingError

__all__ = [
    "DrawingError", "TuningLike", "attention_grid", "kernel_grid", "save_png", "stimulus_strip",
    "tuning_kernels", "tuning_plot",
]
