"""Natural images, as the tutorial starts: scikit-image's photos, their top-5 classes, kernel grids."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from actassert import drawing
from actassert._support.image_io import fit_image
from actassert.recording import record
from actassert.stimuli import Stimuli
from actassert.tutorial.design import PHOTOS
from actassert.tutorial.layer_figures import grid_figures

__all__ = ["PhotoResult", "Photos", "photo_section"]


@dataclass
class PhotoResult:
    """One photo and the network's five most probable classes (name, probability)."""

    name: str
    original_size: list[int]
    top5: list[tuple[str, float]]


@dataclass
class Photos:
    """The natural-images section: photos, classes and grids, or why it is missing."""

    photos: list[PhotoResult] = field(default_factory=list)
    strip: str | None = None
    grids: dict[str, tuple[str, str | None, list[int]]] = field(default_factory=dict)
    grid_photo: str | None = None
    missing: str | None = None


def _load(side: int, device: Any) -> tuple[Any, list[list[int]]] | None:
    """The photos squashed to ``side`` x ``side`` (the tutorial's ``Resize``), or None."""
    try:
        from skimage import data  # optional: scikit-image
    except ImportError:
        return None
    arrays, sizes = [], []
    for name in PHOTOS:
        pixels = getattr(data, name)()
        sizes.append([int(pixels.shape[1]), int(pixels.shape[0])])
        arrays.append(fit_image(Image.fromarray(pixels).convert("RGB"), side, "squash"))
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
    n = len(PHOTOS)
    masks = torch.ones(n, 1, side, side, dtype=torch.bool)
    stimuli = Stimuli(images.contiguous(), masks, {"index": torch.arange(n)}, {})
    return stimuli.to(device) if device is not None else stimuli, sizes


def photo_section(net: Any, layers: list[str], side: int, out: Path) -> Photos:
    """Show the photos to ``net``: top-5 classes of each, kernel grids of a few layers for the
    first one (the first, middle and last of ``layers``)."""
    loaded = _load(side, getattr(net, "device", None))
    if loaded is None:
        return Photos(missing="scikit-image is not installed (pip install scikit-image, or the "
                              "dev extra), so this section has no photos.")
    stimuli, sizes = loaded
    drawing.stimulus_strip(stimuli.images, labels=list(PHOTOS), cell=160, path=out / "photos.png")
    shown = sorted({layers[0], layers[len(layers) // 2], layers[-1]}, key=layers.index)
    with record(net, shown, register=False, keep_inputs=False) as acts, torch.no_grad():
        logits = net(stimuli.images)
    result = Photos(strip="photos.png", grid_photo=PHOTOS[0])
    probs = logits.float().softmax(dim=1).cpu() if logits.dim() == 2 else None
    names = getattr(net, "categories", None)
    for i, name in enumerate(PHOTOS):
        top: list[tuple[str, float]] = []
        if probs is not None:
            p, k = probs[i].topk(min(5, probs.shape[1]))
            top = [(names[j] if names and j < len(names) else f"output {j}", float(q))
                   for q, j in zip(p.tolist(), k.tolist(), strict=True)]
        result.photos.append(PhotoResult(name, sizes[i], top))
    for layer in shown:
        maps = acts[layer][0]
        if maps.dim() in (1, 3):
            result.grids[layer] = grid_figures(maps, layer, f"the photo '{PHOTOS[0]}'", out,
                                               "photo")
    return result
