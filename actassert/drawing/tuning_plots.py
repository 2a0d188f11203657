"""Tuning plots: response against the swept parameter, one matplotlib panel per kernel."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PIL import Image

from actassert._support.kernel_ids import kernel_positions
from actassert.drawing._common import as_float_array, check_int, save_png
from actassert.errors import DrawingError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["Panel", "TuningLayout", "TuningLike", "render_tuning", "tuning_kernels",
           "tuning_layout", "tuning_plot"]

_UNITS = {"hue": "degrees", "orientation": "degrees", "phase": "degrees", "size": "px",
          "spatial_frequency": "cycles per image", "radius": "fraction of the side"}
"""Units of the stimulus parameters, for axis labels (``size (px)``)."""
_DEGREES = ("hue", "orientation", "phase")
_PER_ROW = 4  # panels per row


class TuningLike(Protocol):
    """What ``tuning_plot`` reads from a tuning object (``actassert.tuning.Tuning`` fits).

    Optional attributes read with ``getattr``: ``kernel_ids`` (``Tensor[K]``, default
    ``arange(K)``) and ``focus`` (kernel ids an assertion named; drawn first, titled in red).
    """

    values: Any
    curves: Any
    circular: float | None
    scale: str
    parameter: str
    layer: str | None

    def preferred(self) -> Any: ...

    def selectivity(self) -> Any: ...


def _kernel_positions(kernels: Any, ids: np.ndarray) -> list[int]:
    if hasattr(kernels, "detach"):
        kernels = kernels.detach().cpu().flatten().tolist()
    elif isinstance(kernels, np.ndarray):
        kernels = kernels.ravel().tolist()
    wanted = [kernels] if isinstance(kernels, (int, np.integer)) else list(kernels)
    return kernel_positions(wanted, ids.tolist(), "this tuning", DrawingError)


class _Curves:
    """The arrays of a tuning object, read once as numpy (CPU, float64)."""

    def __init__(self, tuning: TuningLike) -> None:
        self.values = as_float_array(tuning.values, "tuning.values").reshape(-1)
        self.curves = as_float_array(tuning.curves, "tuning.curves")
        if (self.curves.ndim != 2 or self.curves.shape[0] != len(self.values)
                or 0 in self.curves.shape):
            raise DrawingError(f"tuning.curves must be [V values, K kernels] with "
                               f"V={len(self.values)}; got shape {tuple(self.curves.shape)}")
        n_k = self.curves.shape[1]
        raw_ids = getattr(tuning, "kernel_ids", None)
        self.ids = (np.arange(n_k) if raw_ids is None else
                    as_float_array(raw_ids, "tuning.kernel_ids").astype(np.int64).reshape(-1))
        try:
            self.index: np.ndarray | None = as_float_array(tuning.selectivity(),
                                                           "selectivity").reshape(-1)
        except ValueError:  # e.g. fewer than 3 values: no index, kernels ordered by peak
            self.index = None
        self.focus_order = [int(k) for k in (getattr(tuning, "focus", None) or [])]
        self.focus = set(self.focus_order)
        self.focus_reason: str | None = getattr(tuning, "focus_reason", None)

    def choose(self, kernels: Any, max_kernels: int) -> tuple[list[int], str]:
        """Positions of the kernels to draw, in order, and how they were chosen (for a title)."""
        if kernels is not None:
            chosen = _kernel_positions(kernels, self.ids)
            how = ("as requested" if len(chosen) <= max_kernels
                   else f"first {max_kernels} of {len(chosen)} requested")
            return chosen[:max_kernels], how
        if self.focus_reason:  # a failed assertion: exactly the kernels its message names
            chosen = _kernel_positions(self.focus_order, self.ids)
            return chosen[:max_kernels], self.focus_reason
        score = (self.index if self.index is not None
                 else np.nan_to_num(self.curves.max(axis=0), nan=-np.inf))
        order = [int(i) for i in np.argsort(-score, kind="stable")]
        named = [i for i in order if int(self.ids[i]) in self.focus]
        chosen = (named + [i for i in order if int(self.ids[i]) not in self.focus])
        how = "most selective first" if self.index is not None else "strongest first"
        return chosen[:max_kernels], ("named kernels, then " if named else "") + how


def tuning_kernels(tuning: TuningLike, kernels: int | Sequence[int] | Tensor | None = None, *,
                   max_kernels: int = 16) -> list[int]:
    """The kernel ids ``tuning_plot`` draws, in panel order.

    Kernels in ``tuning.focus`` (named by an assertion) first, then the most selective (highest
    ``tuning.selectivity()``; ties keep layer order). When ``selectivity()`` raises ``ValueError``
    (fewer than 3 sampled values), the kernels with the highest peak response instead.

    Args:
        tuning: as ``tuning_plot``.
        kernels: as ``tuning_plot``.
        max_kernels: as ``tuning_plot``.

    Returns:
        The kernel ids (as in ``tuning.kernel_ids``), at most ``max_kernels``.

    Example:
        >>> tun = Tuning([0.0, 1, 2], torch.tensor([[0.0, 1, 0], [1, 1, 1], [0, 1, 0.5]]))
        >>> tuning_kernels(tun, max_kernels=2)
        [0, 2]
    """
    max_kernels = check_int(max_kernels, "max_kernels", 1)
    data = _Curves(tuning)
    return [int(data.ids[i]) for i in data.choose(kernels, max_kernels)[0]]


@dataclass(frozen=True)
class Panel:
    """One kernel's panel of a tuning plot.

    Attributes:
        column: the kernel's position in ``tuning.curves``.
        title: ``K=012  index 0.43``.
        named: the kernel is in ``tuning.focus`` (title in red).
        preferred: the preferred value (star and dashed line).
        peak: the highest finite response (0 when there is none).
        xlabel: the x axis label (bottom panels of linear plots), else None.
        ylabel: the y axis label (first panel of a row of linear plots), else None.
    """

    column: int
    title: str
    named: bool
    preferred: float
    peak: float
    xlabel: str | None
    ylabel: str | None


@dataclass(frozen=True)
class TuningLayout:
    """What a tuning plot shows; computed by ``tuning_layout``, drawn by ``render_tuning``.

    Attributes:
        values: the sampled parameter values ``[V]``.
        curves: the responses ``[V, K]``.
        panels: the panels, in order.
        title: the figure's title (layer, parameter, how many kernels and how they were chosen).
        polar: polar axes.
        period: the period of a circular parameter, else None.
        log: a log x axis.
        hue: markers in their own hues (a hue sweep over 360 degrees).
        unit: the unit suffix of polar tick labels (``°``), or "".
    """

    values: np.ndarray
    curves: np.ndarray
    panels: list[Panel]
    title: str
    polar: bool
    period: float | None
    log: bool
    hue: bool
    unit: str

    @property
    def shape(self) -> tuple[int, int]:
        """Rows of panels and panels per row."""
        return _panel_grid(len(self.panels))


def _panel_grid(n: int) -> tuple[int, int]:
    """Rows and columns of ``n`` panels, at most four to a row."""
    ncols = min(_PER_ROW, n)
    return -(-n // ncols), ncols


def _panels(data: _Curves, chosen: list[int], preferred: np.ndarray, parameter: str,
            polar: bool) -> list[Panel]:
    """One panel per chosen kernel, axis labels only along the bottom and the left of the grid."""
    n = len(chosen)
    nrows, ncols = _panel_grid(n)
    digits = max(3, len(str(int(data.ids.max()))))
    unit = _UNITS.get(parameter)
    xlabel = f"{parameter} ({unit})" if unit else parameter
    panels = []
    for slot, pos in enumerate(chosen):
        kid = int(data.ids[pos])
        y = data.curves[:, pos]
        index = "" if data.index is None else f"  index {data.index[pos]:.2f}"
        bottom = slot // ncols == nrows - 1 or slot + ncols >= n
        panels.append(Panel(
            column=pos, title=f"K={kid:0{digits}d}{index}", named=kid in data.focus,
            preferred=float(preferred[pos]),
            peak=float(np.nanmax(y)) if np.isfinite(y).any() else 0.0,
            xlabel=xlabel if bottom and not polar else None,
            ylabel="mean response" if slot % ncols == 0 and not polar else None))
    return panels


def tuning_layout(tuning: TuningLike, kernels: int | Sequence[int] | Tensor | None = None, *,
                  max_kernels: int = 16, polar: bool | None = None) -> TuningLayout:
    """Check ``tuning_plot``'s arguments and work out its panels (no matplotlib).

    Args:
        tuning: as ``tuning_plot``.
        kernels: as ``tuning_plot``.
        max_kernels: as ``tuning_plot``.
        polar: as ``tuning_plot``.

    Returns:
        The plot's layout.

    Raises:
        DrawingError: as ``tuning_plot``.
    """
    max_kernels = check_int(max_kernels, "max_kernels", 1)
    data = _Curves(tuning)
    circular = getattr(tuning, "circular", None)
    parameter = str(getattr(tuning, "parameter", "value"))
    layer = getattr(tuning, "layer", None)
    if polar is None:
        polar = circular is not None
    elif polar and circular is None:
        raise DrawingError(f"polar=True needs a circular parameter; {parameter!r} has "
                           "circular=None (use polar=False or None)")
    preferred = as_float_array(tuning.preferred(), "preferred").reshape(-1)
    chosen, how = data.choose(kernels, max_kernels)
    where = "unnamed layer" if layer is None else str(layer)
    return TuningLayout(
        values=data.values, curves=data.curves,
        panels=_panels(data, chosen, preferred, parameter, polar),
        title=f"{where}: {parameter} tuning, {len(chosen)} of {data.curves.shape[1]} kernels "
              f"({how})",
        polar=polar, period=None if circular is None else float(circular),
        log=getattr(tuning, "scale", "linear") == "log",
        hue=parameter.lower() == "hue" and circular is not None and float(circular) == 360.0,
        unit="°" if parameter in _DEGREES else "")


def render_tuning(layout: TuningLayout) -> Image.Image:
    """Draw a tuning plot from its layout on matplotlib's Agg canvas (pyplot is never used).

    Args:
        layout: from ``tuning_layout``.

    Returns:
        The figure as an RGB ``PIL.Image.Image``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # matplotlib: slow to import
    from matplotlib.colors import hsv_to_rgb  # matplotlib: slow to import
    from matplotlib.figure import Figure  # matplotlib: slow to import

    nrows, ncols = layout.shape
    width = 2.9 * ncols + 0.2  # inches at 100 dpi
    fig = Figure(figsize=(width, 2.6 * nrows + 0.45), dpi=100, layout="constrained")
    # one or two panels are narrower than the title: wrap it (11 pt is at most ~9 px a character)
    fig.suptitle(textwrap.fill(layout.title, width=max(20, int(width * 100 / 9))), fontsize=11)
    values = layout.values
    colours: Any = hsv_to_rgb(np.stack([np.mod(values, 360) / 360, np.full_like(values, 0.9),
                                        np.full_like(values, 0.9)], 1)) if layout.hue else "C0"
    for slot, panel in enumerate(layout.panels):
        ax = fig.add_subplot(nrows, ncols, slot + 1, projection="polar" if layout.polar else None)
        _draw_panel(ax, layout, panel, colours)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(np.ascontiguousarray(rgba[:, :, :3]), "RGB")


def _draw_panel(ax: Any, layout: TuningLayout, panel: Panel, colours: Any) -> None:
    """One kernel's curve on ``ax`` (a matplotlib ``Axes``), titled, with its axis labels."""
    ax.set_title(panel.title, fontsize=9, color="#c00000" if panel.named else "black",
                 pad=10 if layout.polar else 4)
    ax.tick_params(labelsize=7)
    y = layout.curves[:, panel.column]
    if layout.polar and layout.period is not None:  # polar axes need a period (tuning_layout)
        _polar_panel(ax, layout.values, y, layout.period, colours, panel, layout.unit)
        return
    _linear_panel(ax, layout.values, y, colours, panel, log=layout.log, period=layout.period,
                  hue=layout.hue)
    if panel.xlabel is not None:
        ax.set_xlabel(panel.xlabel, fontsize=8)
    if panel.ylabel is not None:
        ax.set_ylabel(panel.ylabel, fontsize=8)


def _polar_panel(ax: Any, values: np.ndarray, y: np.ndarray, period: float, colours: Any,
                 panel: Panel, unit: str) -> None:
    theta = values * (2 * np.pi / period)
    ax.plot(np.append(theta, theta[:1]), np.append(y, y[:1]), color="0.35", lw=1, zorder=2)
    ax.scatter(theta, y, c=colours, s=16, zorder=3, edgecolors="none")
    peak = panel.peak
    lo = min(0.0, float(np.nanmin(y)) if np.isfinite(y).any() else 0.0)
    hi = peak if peak > lo else lo + 1.0
    ax.set_ylim(lo, hi + 0.08 * (hi - lo))
    tp = panel.preferred * 2 * np.pi / period
    ax.plot([tp, tp], [lo, peak], color="black", lw=0.8, ls="--", zorder=1)
    ax.plot([tp], [peak], marker="*", ms=11, color="black", mec="white", mew=0.5, zorder=4)
    ticks = np.arange(8) * (2 * np.pi / 8)
    ax.set_xticks(ticks, [f"{period * i / 8:g}{unit}" for i in range(8)])
    ax.yaxis.set_major_locator(_max_ticks(3))


def _linear_panel(ax: Any, values: np.ndarray, y: np.ndarray, colours: Any, panel: Panel, *,
                  log: bool, period: float | None, hue: bool) -> None:
    ax.plot(values, y, color="0.35", lw=1, zorder=2)
    ax.scatter(values, y, c=colours, s=16, zorder=3, edgecolors="none")
    ax.axvline(panel.preferred, color="black", lw=0.8, ls="--", zorder=1)
    ax.plot([panel.preferred], [panel.peak], marker="*", ms=11, color="black", mec="white",
            mew=0.5, zorder=4)
    if log:
        ax.set_xscale("log")
        if len(values) <= 10:  # label the sampled sizes themselves, not powers of ten
            ax.set_xticks(values, [f"{v:.3g}" for v in values], minor=False)
            ax.set_xticks([], minor=True)
    if period is not None:
        ax.set_xlim(0, period)
    if hue:  # a strip of the hues along the bottom, under the curve
        finite = y[np.isfinite(y)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        span = hi - lo if hi > lo else 1.0
        ax.set_ylim(lo - 0.22 * span, hi + 0.08 * span)
        strip = ax.inset_axes((0.0, 0.0, 1.0, 0.08))
        strip.imshow(np.linspace(0, 1, 256)[None, :], cmap="hsv", aspect="auto",
                     extent=(0, 360, 0, 1))
        strip.set_axis_off()
    ax.yaxis.set_major_locator(_max_ticks(4))


def _max_ticks(n: int) -> Any:
    from matplotlib.ticker import MaxNLocator  # matplotlib: slow to import

    return MaxNLocator(n)


def tuning_plot(tuning: TuningLike, kernels: int | Sequence[int] | Tensor | None = None, *,
                path: str | os.PathLike[str] | None = None, max_kernels: int = 16,
                polar: bool | None = None) -> Image.Image:
    """Plot response against the swept parameter, one small panel per kernel.

    By default the ``max_kernels`` most selective kernels are drawn, most selective first, and
    kernels in ``tuning.focus`` (the ones an assertion named) before them with red titles; see
    ``tuning_kernels``. Each panel is titled ``K=012  index 0.43`` (the kernel's id in the layer
    and its selectivity index) and marks the preferred value with a star and a dashed line. A
    circular parameter is drawn on a polar axis by default (angle = value / period, ticks in the
    parameter's units, the curve closed); hue (``parameter="hue"``, period 360) gets markers in
    their own hues and, on a linear axis, a hue colour bar along the bottom. A ``scale="log"``
    parameter (size, spatial frequency) gets a log x axis labelled with the sampled values.
    Rendered on matplotlib's Agg canvas directly, so the user's pyplot backend is never touched.

    Args:
        tuning: an ``actassert.tuning.Tuning`` or any object with its attributes (``TuningLike``).
        kernels: kernel ids (as in ``tuning.kernel_ids``) to draw instead of the most selective.
        path: if given, the PNG is also saved there (parent folders created).
        max_kernels: at most this many panels; a longer ``kernels`` list is cut and the figure's
            title says so.
        polar: polar axes; None means polar for circular parameters.

    Returns:
        The figure as an RGB ``PIL.Image.Image`` (100 dpi, about 290x260 px per panel, 4 panels
        per row).

    Raises:
        DrawingError: an unknown kernel id, ``polar=True`` for a non-circular parameter, a bad
            ``max_kernels``, or curves that are not ``[V, K]``.

    Example:
        >>> hues = torch.arange(0.0, 360.0, 10.0)
        >>> tun = Tuning(hues, torch.rand(36, 64), circular=360, parameter="hue", layer="conv1")
        >>> tuning_plot(tun, max_kernels=8, path=tmp / "hue.png").mode
        'RGB'
    """
    image = render_tuning(tuning_layout(tuning, kernels, max_kernels=max_kernels, polar=polar))
    if path is not None:
        save_png(image, path)
    return image
