"""Failure artefacts: the results folder of a test, the figures written into it, and the gallery."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actassert._support.html import figure_html, page
from actassert.errors import DrawingError
from actassert.evidence import TestRecord

__all__ = ["safe_name", "Artefacts", "write_artefacts", "write_gallery", "clean_results",
           "META_FILE", "GALLERY_FILE", "kernel_maps"]

META_FILE = "actassert.json"
GALLERY_FILE = "index.html"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def safe_name(nodeid: str, *, limit: int = 96) -> str:
    """A unique, file-system-safe folder name for a test node id.

    Every character outside ``A-Za-z0-9._=+-`` becomes ``-`` (runs collapsed), the result is cut
    to ``limit`` characters, and 8 hex digits of the node id's sha1 are appended, so two node ids
    never share a folder even when they differ only in characters that were replaced.

    Example:
        >>> safe_name("tests/test_x.py::test_x[resnet50-layer1.0.conv2]")
        'tests-test_x.py-test_x-resnet50-layer1.0.conv2-812563db'
    """
    readable = _UNSAFE.sub("-", nodeid).strip("-.") or "test"
    digest = hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:8]
    return f"{readable[:limit].rstrip('-.')}-{digest}"


def _slug(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-.")[:60] or "x"


@dataclass
class Artefacts:
    """What was written for one test: the files, and what the cap left out."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


class _Writer:
    """Writes figures into one folder until the per-test cap is reached, counting what it left out."""

    def __init__(self, folder: Path, cap: int) -> None:
        self.out = Artefacts(folder)
        self.cap = cap
        self.names: set[str] = set()

    def full(self) -> bool:
        return len(self.out.files) >= self.cap

    def save(self, name: str, draw: Any) -> None:
        if self.full():
            self.out.skipped += 1
            return
        base, n = name, 1
        while name in self.names:
            n += 1
            name = base.replace(".png", f"-{n}.png")
        self.names.add(name)
        path = self.out.folder / name
        try:
            draw(path)
        except Exception as exc:  # a figure that cannot be drawn must not hide the test's failure
            self.out.problems.append(f"{name}: {type(exc).__name__}: {exc}")
            return
        self.out.files.append(path)


def _unnormalise(images: Any, model: Any) -> Any:
    unnormalise = getattr(model, "unnormalise", None)
    return images if unnormalise is None else unnormalise(images)


#: Tokens before the patch grid that a ViT may carry (class token, register tokens).
MAX_PREFIX_TOKENS = 8


def _patch_grid(tokens: int) -> tuple[int, int] | None:
    """``(prefix tokens, side)`` when ``tokens`` minus a few prefix tokens form a square grid."""
    for prefix in range(min(MAX_PREFIX_TOKENS, tokens - 1) + 1):
        side = round((tokens - prefix) ** 0.5)
        if side >= 2 and side * side == tokens - prefix:
            return prefix, side
    return None


def kernel_maps(value: Any, *, channels_first: bool) -> tuple[Any, str]:
    """An output ``[N, ...]`` as kernel maps ``[N, K, H, W]`` or ``[N, K]`` for a kernel grid.

    ``[N, H, W, K]`` maps (Swin, ConvNeXt's norm and MLP; read so when ``channels_first`` is
    False and the shape looks like it) become ``K`` maps; tokens (``[N, T, K]``, or ``[N, K, T]``
    when ``channels_first``) become ``K`` maps over their patch grid, with up to
    ``MAX_PREFIX_TOKENS`` leading tokens (class, registers) left out.

    Returns:
        The maps and a note for the caption, or ``None`` and why the output cannot be drawn.
    """
    from actassert.measures import looks_channels_last  # torch guard: plugin load path

    shape = list(value.shape)
    if value.dim() == 2 or (value.dim() == 4 and (channels_first or not looks_channels_last(shape))):
        return value, ""
    if value.dim() == 4:
        return value.movedim(-1, 1), " (channels-last [N, H, W, K], drawn as K maps)"
    if value.dim() != 3:
        return None, f"output of shape {shape} has no [N, K, H, W] or [N, K] kernels to draw"
    tokens = value if channels_first else value.movedim(-1, 1)  # [N, K, T]
    grid = _patch_grid(tokens.shape[2])
    if grid is None:
        return None, (f"tokens of shape {shape}: {tokens.shape[2]} tokens form no square patch "
                      f"grid (after up to {MAX_PREFIX_TOKENS} prefix tokens), so none is drawn")
    prefix, side = grid
    maps = tokens[:, :, prefix:].reshape(tokens.shape[0], tokens.shape[1], side, side)
    left = f", first {prefix} token(s) left out" if prefix else ""
    return maps, f" (tokens as a {side}x{side} patch grid{left})"


def _grids(writer: _Writer, label: str, acts: Any, index: int, caption: str, *,
           channels_first: bool = False) -> None:
    """One kernel grid per recorded output that has kernels (see :func:`kernel_maps`)."""
    from actassert import drawing  # plugin load path: numpy, PIL

    for key in list(acts):
        if key.partition("#")[0].endswith(":attn"):  # attention weights: one map per head
            _attention_figure(writer, label, key, acts[key], index)
            continue
        value, note = kernel_maps(acts[key], channels_first=channels_first)
        if value is None or value.shape[0] == 0:
            writer.out.problems.append(f"{key}: {note or 'no image to draw'}")
            continue
        i = min(index, value.shape[0] - 1)
        title = f"{label} {key}{note}, {caption.format(i=i)}"
        writer.save(f"grid-{_slug(label)}-{_slug(key)}.png",
                    lambda p, v=value[i], t=title: drawing.kernel_grid(v, title=t, path=p))


def _attention_figure(writer: _Writer, label: str, key: str, weights: Any, index: int) -> None:
    """Each head's attention from the class token of image ``index``, or why it is not drawn."""
    from actassert import drawing  # plugin load path: numpy, PIL
    from actassert.drawing.attention import attention_layout  # plugin load path: numpy, PIL

    i = min(index, weights.shape[0] - 1)
    try:
        if weights.dim() != 4:
            raise DrawingError(f"reduced to shape {list(weights.shape)}, not [N, heads, T, S]")
        attention_layout(weights[i])  # a grid that cannot be decided: say so
    except DrawingError as exc:
        writer.out.problems.append(f"{key}: {str(exc).splitlines()[0]}")
        return
    writer.save(f"attention-{_slug(label)}-{_slug(key)}.png",  # image i alone is converted
                lambda p: drawing.attention_grid(weights[i], title=f"{label} {key}, image {i}",
                                                 path=p))


def _sweep_figures(writer: _Writer, record: TestRecord, label: str, responses: Any) -> None:
    """A sweep's stimulus strip and the kernel grids of the stimulus its assertion named (else
    the first), from the maps captured while the test ran: the network is never called here."""
    from actassert import drawing  # plugin load path: numpy, PIL

    shown = getattr(responses, "shown", None)
    if shown is None or len(shown) == 0:
        return
    named = [t for t in record.tunings if getattr(t, "responses", None) is responses and t.focus]
    focus = responses.preferred_stimulus(named[0]) if named else 0
    maps = responses.maps.get(focus)
    caption = f"stimulus {focus}: {shown.label(focus)}"
    if maps is None and 0 in responses.maps:
        writer.out.problems.append(f"{label}: no maps of stimulus {focus} were captured; the "
                                   "kernel grids show stimulus 0")
        focus, maps, caption = 0, responses.maps[0], f"stimulus 0: {shown.label(0)}"
    writer.save(f"stimuli-{_slug(label)}.png", lambda p, s=shown, m=focus:
                drawing.stimulus_strip(s.images, labels=[s.label(i) for i in range(len(s))],
                                       highlight=m, path=p))
    writer.out.problems.extend(f"{label}: {p}" for p in responses.problems)
    if maps is None:
        writer.out.skipped += len(responses)
        return
    # captured after the sweep's own to_channels_first: kernels are on dim 0 already
    _grids(writer, label, {k: v.unsqueeze(0) for k, v in maps.items()}, 0, caption,
           channels_first=True)


def write_artefacts(record: TestRecord, folder: Path, *, max_images: int = 16) -> Artefacts:
    """Draw what ``record`` holds into ``folder``: tuning plots, stimuli, kernel grids.

    Order of priority under the cap ``max_images``: figures an assertion asked for (a regression
    check's grids); tuning plots of the assertions' tunings; for each sweep, its stimuli and the kernel grids of its layers for the stimulus an assertion
    named (maps captured during the test); for each ``record`` block, its input and kernel grids.
    Nothing here runs a network, and a figure that fails is listed in ``problems``.

    Raises:
        OSError: ``folder`` cannot be created.
    """
    from actassert import drawing  # plugin load path: numpy, PIL

    folder.mkdir(parents=True, exist_ok=True)
    writer = _Writer(folder, max_images)
    for name, draw in record.figures:  # asked for by an assertion: first under the cap
        writer.save(name, draw)
    for tuning in record.tunings:
        name = f"tuning-{_slug(tuning.layer or 'layer')}-{_slug(tuning.parameter)}.png"
        writer.save(name, lambda p, t=tuning: drawing.tuning_plot(t, path=p))
    for label, responses in record.responses:
        try:
            _sweep_figures(writer, record, label, responses)
        except Exception as exc:  # a figure must never hide the test's own failure
            writer.out.problems.append(f"{label}: {type(exc).__name__}: {exc}")
    for label, acts in record.activations:
        if acts.inputs:
            images = _unnormalise(acts.inputs[0], acts.model)
            writer.save(f"input-{_slug(label)}.png",
                        lambda p, x=images: drawing.stimulus_strip(x, highlight=0, path=p))
        _grids(writer, label, acts, 0, "image {i}")
    return writer.out


def write_meta(folder: Path, nodeid: str, outcome: str, message: str, files: list[Path]) -> None:
    """The folder's index card, read back by the gallery (also across xdist workers)."""
    data = {"nodeid": nodeid, "outcome": outcome, "message": message,
            "files": [f.name for f in files]}
    (folder / META_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")


def clean_results(root: Path) -> None:
    """Remove the test folders a previous run left (only folders actassert wrote) and the gallery."""
    if not root.is_dir():
        return
    for child in root.iterdir():
        if child.is_dir() and (child / META_FILE).is_file():
            shutil.rmtree(child, ignore_errors=True)
    (root / GALLERY_FILE).unlink(missing_ok=True)


_GALLERY_STYLE = """body { margin: 1.5rem; background: #fafafa; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.05rem; margin: 0 0 .4rem; word-break: break-all; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 1rem;
  margin-bottom: 1.2rem; }
.failed h2 { color: #b00020; } .passed h2 { color: #1b5e20; }
pre { background: #f3f3f3; padding: .5rem; overflow-x: auto; font-size: .8rem; }
figure img { max-width: 360px; max-height: 260px; }
figcaption { font-size: .75rem; color: #555; }
"""


def write_gallery(root: Path) -> Path | None:
    """Write ``root/index.html`` listing every test folder (from their index cards); None if none."""
    cards = []
    for meta in sorted(root.glob(f"*/{META_FILE}")):
        try:
            cards.append((meta.parent, json.loads(meta.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    if not cards:
        return None
    cards.sort(key=lambda c: c[1].get("nodeid", ""))
    parts = []
    for folder, card in cards:
        figures = "".join(figure_html(f"{folder.name}/{f}", f, alt=f)
                          for f in card.get("files", []))
        outcome = html.escape(card.get("outcome", ""))
        parts.append(f'<section class="{outcome}"><h2>{html.escape(card.get("nodeid", ""))} '
                     f"({outcome})</h2><pre>{html.escape(card.get('message', ''))}</pre>"
                     f"{figures}</section>")
    failed = sum(1 for _, c in cards if c.get("outcome") == "failed")
    files = sum(len(c.get("files", [])) for _, c in cards)
    summary = f"{len(cards)} tests with artefacts ({failed} failed), {files} figures."
    body = f"<h1>actassert: failure gallery</h1>\n<p>{summary}</p>\n" + "\n".join(parts)
    target = root / GALLERY_FILE
    target.write_text(page("actassert: failure gallery", body, style=_GALLERY_STYLE),
                      encoding="utf-8")
    return target
