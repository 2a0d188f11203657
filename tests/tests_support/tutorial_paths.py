"""The tutorial's own ways of making stimuli and drawing kernel maps: the baselines that
actassert's vectorised generators and ``kernel_grid`` are timed against (``tests/*_bench.py`` and
``scripts/bench_targets.py``)."""

from __future__ import annotations

import colorsys

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision import transforms as T


def pil_hue_discs(hues: list[float], size: int = 224, radius: float = 0.2) -> torch.Tensor:
    """The tutorial's way: PIL-draw each disc on grey, then Resize + ToTensor, then stack."""
    transform = T.Compose([T.Resize((size, size)), T.ToTensor()])
    r, c = radius * size, size / 2
    images = []
    for hue in hues:
        image = Image.new("RGB", (size, size), (128, 128, 128))
        rgb = tuple(round(255 * x) for x in colorsys.hsv_to_rgb(hue / 360.0, 1.0, 1.0))
        ImageDraw.Draw(image).ellipse((c - r, c - r, c + r, c + r), fill=rgb)
        images.append(transform(image))
    return torch.stack(images)


def tutorial_subplots(maps: np.ndarray, cols: int = 16) -> Image.Image:
    """The tutorial's loop: one matplotlib subplot per kernel, matshow(cmap='gray'), 'K=000'."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = -(-maps.shape[0] // cols)
    fig = Figure(figsize=(18, 7 * rows / 4), dpi=100)
    for kernel_ind, kernel_act in enumerate(maps):
        ax = fig.add_subplot(rows, cols, kernel_ind + 1)
        ax.matshow(kernel_act, cmap="gray")
        ax.set_title(f"K={kernel_ind:03d}")  # the tutorial's "K=%.3d"
        ax.axis("off")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[:, :, :3].copy())
