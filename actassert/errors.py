"""The exceptions actassert raises: one base class, specific errors mixing in the builtin they resemble."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "ActAssertError",
    "LayerNotFoundError",
    "ModelNotFoundError",
    "ModelSourceError",
    "MissingExtraError",
    "WeightsUnavailableError",
    "StimulusError",
    "ImageLoadError",
    "RecordingError",
    "SweepError",
    "TuningError",
    "DrawingError",
    "ActAssertWarning",
    "NeverRanWarning",
    "DeterminismWarning",
    "WeightsFallbackWarning",
    "GoldenError",
    "GoldenFileError",
    "closest",
]


def closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Return up to ``n`` candidates that look most like ``name``, best first.

    Example:
        >>> closest("layer2.0.con1", ["layer2.0.conv1", "layer2.0.conv2", "fc"])
        ['layer2.0.conv1', 'layer2.0.conv2']
    """
    pool = list(candidates)
    matches = difflib.get_close_matches(name, pool, n=n, cutoff=0.6)
    if not matches:
        prefix = name.split(".")[0]
        matches = [c for c in pool if c.startswith(prefix)][:n]
    return matches


class ActAssertError(Exception):
    """Base class of every error actassert raises on purpose."""

    def __str__(self) -> str:
        """The message as written: ``KeyError`` would otherwise quote it, ``OSError`` reformat it."""
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class LayerNotFoundError(ActAssertError, KeyError):
    """A layer name or pattern matches no module of the model.

    The message names the closest valid names and points to ``list_layers``.
    """

    def __init__(self, name: str, valid: Sequence[str], model_name: str = "the model") -> None:
        self.name = name
        self.suggestions = closest(name, valid)
        hint = (
            f" Did you mean: {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else ""
        )
        message = (
            f"no layer {name!r} in {model_name}.{hint} "
            "Hint: actassert.list_layers(model) (or `actassert layers MODEL`) lists every "
            "recordable name; glob patterns such as 'layer*.0.conv*' are accepted."
        )
        super().__init__(message)



class ModelNotFoundError(ActAssertError, KeyError):
    """The model name is not a torchvision classification model."""

    def __init__(self, name: str, valid: Sequence[str], *, source: str = "torchvision") -> None:
        self.name = name
        self.suggestions = closest(name, valid)
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        listing = ("timm.list_models() lists them" if source == "timm" else
                   "torchvision.models.list_models(torchvision.models) lists them")
        kind = "timm model" if source == "timm" else "torchvision classification model"
        super().__init__(
            f"no {kind} called {name!r}.{hint} Hint: {listing}; "
            "wrap your own nn.Module with actassert.Network(module, mean=..., std=...), or "
            "load it by factory: load_model('my_pkg.models:build')."
        )



class WeightsUnavailableError(ActAssertError, FileNotFoundError):
    """The checkpoint file of a model's weights is nowhere on this machine and cannot be downloaded.

    Attributes:
        filename: the checkpoint file expected, e.g. ``mobilenet_v2-b0353104.pth``.
        searched: every place looked in, in order.
    """

    def __init__(self, model: str, weights: str, filename: str, searched: Sequence[str],
                 reason: str = "", *, fix: str | None = None) -> None:
        self.model = model
        self.weights = weights
        self.filename = filename
        self.searched = list(searched)
        places = "\n".join(f"  - {p}" for p in self.searched)
        why = f"\nDownload: {reason}" if reason else ""
        fix = fix or (
            f"put {filename} in one of those places (a directory named with "
            "--actassert-weights-dir, the ini key actassert_weights_dir or ACTASSERT_WEIGHTS_DIR), "
            "or use weights=None for a seeded random initialisation.")
        message = (
            f"weights {weights} of {model} are unavailable: no file {filename!r} in\n{places}{why}\n"
            f"Fix: {fix}"
        )
        ActAssertError.__init__(self, message)
        labels = "; ".join(p.split(":")[0] for p in self.searched) or "nowhere"
        self.summary = (f"weights {weights} of {model} are unavailable: {filename} is in none of "
                        f"{len(self.searched)} places searched ({labels})"
                        + (f"; download {reason}" if reason else ""))



class ModelSourceError(ActAssertError, ValueError):
    """A model name that names no known source (``timm:``, ``torchvision:``) or a user factory
    (``my_pkg.models:build``) that cannot be imported, fails or returns no network."""


class MissingExtraError(ActAssertError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""

    def __init__(self, package: str, extra: str, needed_for: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{needed_for} needs {package}, which is not installed. "
                         f"Fix: pip install 'actassert[{extra}]' (or pip install {package}).")



class StimulusError(ActAssertError, ValueError):
    """A stimulus generator got an argument it cannot draw; the message quotes the bad value."""


class ImageLoadError(ActAssertError, OSError):
    """A natural image could not be read from a file or fetched from a URL."""


class RecordingError(ActAssertError, RuntimeError):
    """Recording a layer failed: an output that is not a tensor, or a misuse of ``record``."""


class SweepError(ActAssertError, ValueError):
    """A sweep was asked for something it cannot do; the message names the argument."""


class TuningError(ActAssertError, ValueError):
    """A tuning curve cannot be built or measured from these arguments; the message quotes them."""


class DrawingError(ActAssertError, ValueError):
    """A figure cannot be drawn from these arguments; the message quotes the bad value."""


class ForwardStopped(Exception):
    """Raised inside a forward by ``record(stop_early=True)`` once every requested layer is done.

    Internal: not in ``__all__``, and not an :class:`ActAssertError`, so ``except
    ActAssertError`` never swallows it. ``Activations.run`` catches it; only a network called
    directly inside a ``record(stop_early=True)`` block lets it through.
    """


class ActAssertWarning(UserWarning):
    """Base of actassert's warnings: something was undone, skipped or missing, not fatal."""


class NeverRanWarning(ActAssertWarning):
    """A requested layer (or call of it) produced nothing in any forward of a ``record`` block."""


class DeterminismWarning(ActAssertWarning, RuntimeWarning):
    """Something inside ``deterministic()`` switched a determinism flag back (cuDNN benchmark on)."""


class WeightsFallbackWarning(ActAssertWarning):
    """``weights="DEFAULT"`` used another checkpoint of the model found on this machine."""


class GoldenError(ActAssertError, ValueError):
    """Data given to an activation regression check cannot be summarised or compared."""


class GoldenFileError(ActAssertError, ValueError):
    """A golden file is missing a part, truncated or corrupt; the message names the file and the fix."""
