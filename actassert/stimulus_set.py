"""The ``Stimuli`` set: images, foreground masks and per-image parameters; indexing, joins."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from actassert._support.device import resolve_device
from actassert.errors import StimulusError, closest

__all__ = ["Index", "Stimuli"]

Index = int | slice | Tensor | Sequence[int]
REPR_VALUES = 4
"""Sets of at most this many stimuli show their parameter values in ``repr``."""
_PARAM_DTYPES = (torch.float32, torch.int64)


@dataclass(frozen=True, eq=False, repr=False)
class Stimuli:
    """A batch of images with their foreground masks and the parameters that made them.

    Attributes:
        images: ``[N, 3, H, W]`` float32 in [0, 1], on any device.
        masks: ``[N, 1, H, W]`` bool, True on each stimulus' foreground, on the images' device.
        params: name -> ``Tensor[N]`` (float32 or int64), always kept on the CPU.
        categories: names of the parameters stored as int codes: ``{"kind": ("circle", ...)}``.
        background: the set's own blank, the (r, g, b) of the uniform image with no stimulus
            (the grey the generators draw on, the mean grey of a grating), or None when unknown
            (photos). ``sweep(..., baseline=True)`` shows it to record each kernel's baseline.

    Example:
        >>> from actassert.stimuli import hue_disc, shapes
        >>> s = hue_disc([0, 90, 180], size=32)
        >>> len(s), s[1].label(0), s.where(hue=90).params["hue"].tolist()
        (3, 'hue=90 radius=0.2 saturation=1 value=1 luma=0.7365', [90.0])
    """

    images: Tensor
    masks: Tensor
    params: dict[str, Tensor]
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    background: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        images, masks = self.images, self.masks
        if self.background is not None:
            object.__setattr__(self, "background", _rgb(self.background))
        if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
            raise StimulusError(f"images must be a tensor [N, 3, H, W]; got {describe(images)}")
        if images.dtype != torch.float32:
            raise StimulusError(f"images must be float32 in [0, 1]; got dtype {images.dtype}")
        n, _, h, w = images.shape
        if not isinstance(masks, Tensor) or masks.dtype != torch.bool or \
                tuple(masks.shape) != (n, 1, h, w):
            raise StimulusError(f"masks must be a bool tensor [{n}, 1, {h}, {w}] matching images; "
                                f"got {describe(masks)}")
        if masks.device != images.device:
            raise StimulusError(f"masks are on {masks.device} but images on {images.device}")
        params: dict[str, Tensor] = {}
        for key, value in dict(self.params).items():
            if not isinstance(value, Tensor) or value.dim() != 1 or value.shape[0] != n:
                raise StimulusError(f"params[{key!r}] must be a tensor [{n}] (one value per "
                                    f"image); got {describe(value)}")
            if value.dtype not in _PARAM_DTYPES:
                raise StimulusError(f"params[{key!r}] must be float32 or int64; got {value.dtype}")
            params[key] = value.cpu()
        categories: dict[str, tuple[str, ...]] = {}
        for key, names in dict(self.categories).items():
            names = tuple(names)
            codes = params.get(key)
            if codes is None or codes.dtype != torch.int64:
                raise StimulusError(f"categories[{key!r}] needs an int64 params[{key!r}] of codes")
            if len(set(names)) != len(names) or not all(isinstance(x, str) for x in names):
                raise StimulusError(f"categories[{key!r}]={names!r} must be distinct strings")
            if n and (int(codes.min()) < 0 or int(codes.max()) >= len(names)):
                raise StimulusError(f"params[{key!r}] holds codes outside 0..{len(names) - 1}")
            categories[key] = names
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "categories", categories)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        """Parameter names; for a small set their values, e.g. ``hue=[210.5], radius=[0.31]``."""
        n, _, h, w = self.images.shape
        if 0 < n <= REPR_VALUES:
            values = ", ".join(f"{key}=[{', '.join(self._text(key, i) for i in range(n))}]"
                               for key in self.params)
            return f"Stimuli(n={n}, {h}x{w} px, {values}, device={self.device})"
        return (f"Stimuli(n={n}, size={h}x{w}, params={list(self.params)}, "
                f"device={self.device})")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis' and IPython's pretty printers show ``repr`` (not every tensor field)."""
        printer.text(repr(self))

    @property
    def device(self) -> torch.device:
        """The device of ``images`` and ``masks``."""
        return self.images.device

    def _index(self, index: Index) -> slice | Tensor:
        n = len(self)
        if isinstance(index, slice):
            return index
        if isinstance(index, Tensor) and index.dim() == 0 and not index.is_floating_point():
            index = int(index)
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            i = int(index)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of range for {n} stimuli")
            i %= n
            return slice(i, i + 1)
        if isinstance(index, (Tensor, Sequence)) or hasattr(index, "__array__"):
            t = torch.as_tensor(index).cpu() if not isinstance(index, str) else torch.zeros(1)
            if t.numel() == 0 and t.dtype != torch.bool:
                t = torch.zeros(0, dtype=torch.int64)
            if t.dtype == torch.bool:
                if t.shape != (n,):
                    raise IndexError(f"a bool index must have shape [{n}]; got {list(t.shape)}")
                return t.nonzero().flatten()
            if t.dim() == 1 and not t.is_floating_point() and not t.is_complex():
                t = t.long()
                bad = (t < -n) | (t >= n)
                if bool(bad.any()):
                    raise IndexError(f"index {int(t[bad][0])} is out of range for {n} stimuli")
                return torch.remainder(t, n) if n else t
        raise TypeError(f"Stimuli indices are int, slice, a 1-D int/bool tensor or a sequence of "
                        f"ints; got {index!r}")

    def __getitem__(self, index: Index) -> Stimuli:
        """The stimuli at ``index``; an int keeps the batch dimension (a set of one)."""
        idx = self._index(index)
        if isinstance(idx, slice):
            return Stimuli(self.images[idx], self.masks[idx],
                           {k: v[idx] for k, v in self.params.items()}, self.categories,
                           self.background)
        on_device = idx.to(self.device)
        return Stimuli(self.images.index_select(0, on_device),
                       self.masks.index_select(0, on_device),
                       {k: v.index_select(0, idx) for k, v in self.params.items()},
                       self.categories, self.background)

    @classmethod
    def concat(cls, items: Iterable[Stimuli]) -> Stimuli:
        """Join stimulus sets with the same parameter names, image size and device.

        Categorical parameters are re-coded into the union of the vocabularies (first-seen order).

        Example:
            >>> from actassert.stimuli import shapes
            >>> both = Stimuli.concat([shapes("circle", [8]), shapes("square", [8])])
            >>> both.label(1)
            'kind=square'
        """
        sets = list(items)
        if not sets or not all(isinstance(s, Stimuli) for s in sets):
            raise StimulusError(f"Stimuli.concat needs one or more Stimuli; got {sets!r}")
        first = sets[0]
        for i, other in enumerate(sets[1:], start=1):
            if set(other.params) != set(first.params):
                raise StimulusError(f"cannot concatenate: set {i} has params {sorted(other.params)}"
                                    f" but set 0 has {sorted(first.params)}")
            if other.images.shape[2:] != first.images.shape[2:] or other.device != first.device:
                raise StimulusError(
                    f"cannot concatenate: set {i} is {tuple(other.images.shape[2:])} on "
                    f"{other.device}, set 0 {tuple(first.images.shape[2:])} on {first.device}; "
                    "make the sizes equal and use .to(device)")
        params: dict[str, Tensor] = {}
        categories: dict[str, tuple[str, ...]] = {}
        for key in first.params:
            if len({key in s.categories for s in sets}) > 1 or \
                    len({s.params[key].dtype for s in sets}) > 1:
                raise StimulusError(f"cannot concatenate: parameter {key!r} is categorical or "
                                    "of a dtype in some sets and not in others")
            if key not in first.categories:
                params[key] = torch.cat([s.params[key] for s in sets])
                continue
            vocab = list(dict.fromkeys(n for s in sets for n in s.categories[key]))
            recoded = [torch.tensor([vocab.index(n) for n in s.categories[key]],
                                    dtype=torch.int64)[s.params[key]] for s in sets]
            params[key], categories[key] = torch.cat(recoded), tuple(vocab)
        grounds = {s.background for s in sets}
        return cls(torch.cat([s.images for s in sets]), torch.cat([s.masks for s in sets]),
                   params, categories, grounds.pop() if len(grounds) == 1 else None)

    def __add__(self, other: Stimuli) -> Stimuli:
        if not isinstance(other, Stimuli):
            return NotImplemented
        return Stimuli.concat([self, other])

    def __radd__(self, other: Any) -> Stimuli:
        if isinstance(other, int) and other == 0:  # sum([...]) starts from 0
            return self
        return NotImplemented

    def to(self, device: torch.device | str) -> Stimuli:
        """The same stimuli with images and masks on ``device`` (params stay on the CPU)."""
        dev = to_device(device)
        return Stimuli(self.images.to(dev), self.masks.to(dev), self.params, self.categories,
                       self.background)

    def blank(self) -> Tensor:
        """The set's blank image ``[1, 3, H, W]`` (its ``background``) on the images' device.

        Raises:
            StimulusError: the set has no known background (photos, hand-made sets).

        Example:
            >>> from actassert.stimuli import hue_disc
            >>> hue_disc([0, 90], size=16).blank()[0, :, 0, 0].tolist()
            [0.5, 0.5, 0.5]
        """
        if self.background is None:
            raise StimulusError(
                "these stimuli have no known background, so there is no blank to show: build "
                "them with Stimuli(..., background=(r, g, b)), or pass the blank's grey level "
                "to sweep (baseline=0.5)")
        _, _, h, w = self.images.shape
        colour = torch.tensor(self.background, dtype=torch.float32, device=self.device)
        return colour.view(1, 3, 1, 1).expand(1, 3, h, w).contiguous()

    def batches(self, batch_size: int) -> Iterator[Stimuli]:
        """Consecutive sets of at most ``batch_size`` stimuli, in order (views, no copy).

        Example:
            >>> from actassert.stimuli import hue_disc
            >>> [len(b) for b in hue_disc(range(0, 360, 36), size=16).batches(4)]
            [4, 4, 2]
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or \
                batch_size < 1:
            raise StimulusError(f"batch_size={batch_size!r} must be a positive int")
        for start in range(0, len(self), int(batch_size)):
            yield self[start:start + int(batch_size)]

    def where(self, **conditions: object) -> Stimuli:
        """The stimuli whose parameters match every condition (possibly none).

        A condition is a value, a sequence of accepted values, a category name (or names), or a
        callable taking the parameter tensor and returning a bool tensor. Floats are compared
        after rounding the wanted value to float32, the dtype they are stored in.

        Example:
            >>> from actassert.stimuli import shapes
            >>> s = shapes(["circle", "square"], [10, 20], size=32)
            >>> len(s.where(kind="square")), len(s.where(size=lambda v: v > 15))
            (2, 2)
        """
        keep = torch.ones(len(self), dtype=torch.bool)
        for key, wanted in conditions.items():
            if key not in self.params:
                hint = closest(key, self.params)
                raise StimulusError(f"where({key}=...): no parameter {key!r}; parameters are "
                                    f"{', '.join(self.params)}"
                                    + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            column = self.params[key]
            if callable(wanted):
                hit = torch.as_tensor(wanted(column))
                if hit.dtype != torch.bool or hit.shape != column.shape:
                    raise StimulusError(f"where({key}=callable) must return a bool tensor "
                                        f"[{len(self)}]; got {describe(hit)}")
            else:
                if isinstance(wanted, Tensor) or hasattr(wanted, "__array__"):
                    values = torch.as_tensor(wanted).flatten().tolist()
                elif isinstance(wanted, (Sequence, set, frozenset)) and not isinstance(wanted, str):
                    values = list(wanted)
                else:
                    values = [wanted]
                if key in self.categories:
                    values = [self._code(key, v) for v in values]
                try:
                    hit = torch.isin(column, torch.tensor(values, dtype=column.dtype))
                except (TypeError, ValueError, RuntimeError):
                    raise StimulusError(f"where({key}={wanted!r}): {key} holds numbers; pass a "
                                        "number, a sequence of numbers or a callable") from None
            keep &= hit
        return self[keep]

    def _code(self, key: str, name: Any) -> int:
        names = self.categories[key]
        if name not in names:
            raise StimulusError(f"{key} {name!r} is not one of {', '.join(names)}")
        return names.index(name)

    def label(self, i: int, keys: Sequence[str] | None = None) -> str:
        """A short label of image ``i``'s parameters for plot titles, e.g. ``"hue=90 radius=0.2"``.

        ``keys`` defaults to the parameters that vary across this set (all when none varies).
        Floats show 4 significant digits; paths and URLs show their last component.
        """
        row = self._index(i)
        assert isinstance(row, slice)
        if keys is None:
            keys = [k for k, v in self.params.items() if bool((v != v[:1]).any())]
            keys = keys or list(self.params)
        return " ".join(f"{key}={self._text(key, row.start)}" for key in keys)

    def _text(self, key: str, i: int) -> str:
        """Image ``i``'s value of ``key``: 4 significant digits, a category's last path part."""
        value = self.params[key][i].item()
        if key in self.categories:
            return self.categories[key][int(value)].rstrip("/").rsplit("/", 1)[-1]
        return f"{value:.4g}" if isinstance(value, float) else str(value)


def _rgb(value: Any) -> tuple[float, float, float]:
    """A background as an (r, g, b) triple in [0, 1]; a single number is a grey level."""
    triple = (value,) * 3 if isinstance(value, numbers.Real) else tuple(value) \
        if isinstance(value, Sequence) else ()
    if len(triple) != 3 or not all(isinstance(c, numbers.Real) and not isinstance(c, bool)
                                   and 0.0 <= float(c) <= 1.0 for c in triple):
        raise StimulusError(f"background={value!r} is not a grey level or an (r, g, b) triple "
                            "in [0, 1]")
    return (float(triple[0]), float(triple[1]), float(triple[2]))


def to_device(device: Any) -> torch.device:
    """Resolve a ``device=`` argument (None means CPU), raising ``StimulusError`` if unusable."""
    if device is None:
        return torch.device("cpu")
    try:
        return resolve_device(device)
    except ValueError as err:
        raise StimulusError(f"device={device!r}: {err}") from None


def describe(x: Any) -> str:
    """A short description of a bad argument for error messages (a tensor by dtype and shape)."""
    if isinstance(x, Tensor):
        return f"a {x.dtype} tensor of shape {list(x.shape)} on {x.device}"
    return f"{type(x).__name__} {x!r}"[:120]
