"""``Network``: a vision module with its preprocessing, device and eval-mode guard (layer 2).

Every builder (torchvision, timm, Hugging Face, a factory) ends in one; :mod:`actassert.models.loading` makes
and caches them.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from actassert._support.compiled import original
from actassert._support.device import resolve_device
from actassert._support.modes import training_mode_dependent
from actassert.errors import DeterminismWarning

if TYPE_CHECKING:
    from actassert.types import DeviceLike

__all__ = ["Network"]


class Network:
    """A vision network with its preprocessing: call it with images in [0, 1].

    ``Network`` owns the normalisation (mean/std from the weights' metadata, never hard-coded),
    the device and the eval-mode guard. Layer names given to ``record`` are relative to
    ``network.module``.

    ``Network`` never changes the module's train/eval flags: a module wrapped in train mode
    stays in train mode and runs in it, so ``assert_eval_mode(network)`` and the determinism
    checks see the forgotten ``.eval()``. Wrapping a module whose Dropout, BatchNorm, ... are
    in train mode warns (:class:`~actassert.errors.DeterminismWarning`) with their names.
    ``load_model`` returns its models in eval mode.

    Args:
        module: any ``nn.Module`` taking normalised ``[N, 3, H, W]`` images.
        mean: per-channel mean subtracted from images in [0, 1]; ``None`` for no normalisation.
        std: per-channel standard deviation; ``None`` for no normalisation.
        input_size: the side the network was trained on (stimuli default to it).
        name: a label for messages and reports.
        weights: the name of the weights loaded, or ``None``.
        device: where the module runs (``"auto"``: CUDA when available); the module is moved there.
        categories: class names of the output units, if known.

    Example:
        >>> import torch
        >>> net = Network(torch.nn.Conv2d(3, 8, 3), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
        >>> net(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 8, 30, 30])
    """

    def __init__(self, module: nn.Module, *, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, input_size: int = 224,
                 name: str | None = None, weights: str | None = None,
                 device: DeviceLike = "auto", categories: Sequence[str] | None = None) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"Network wraps a torch.nn.Module, got {type(module).__name__} "
                            f"{module!r:.60}; for a torchvision model by name use load_model(name)")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither (no normalisation)")
        if std is not None and any(s <= 0 for s in std):
            raise ValueError(f"std={tuple(std)} must be positive in every channel")
        if mean is not None and std is not None and len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
        self.device = resolve_device(device)
        self.module = module.to(self.device)
        self.name = name or type(original(module)).__name__  # a compiled one: what it wraps
        _warn_train_mode(module, self.name)
        self.weights = weights
        self.input_size = int(input_size)
        self.categories = list(categories) if categories is not None else None
        self.mean = tuple(float(m) for m in mean) if mean is not None else None
        self.std = tuple(float(s) for s in std) if std is not None else None
        shape = (1, -1, 1, 1)
        self._mean = torch.tensor(self.mean, device=self.device).view(shape) if mean else None
        self._std = torch.tensor(self.std, device=self.device).view(shape) if std else None
        self._restore_parameters: Any = None
        self._fingerprint = self.fingerprint()

    def __repr__(self) -> str:
        return f"Network({self.name!r}, weights={self.weights!r}, device='{self.device}')"

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Check ``images`` ([N, 3, H, W] in [0, 1]), move them to the device and normalise them.

        Floating-point images of another dtype than the network's (float64 from numpy, say) are
        converted to the network's dtype, as torchvision's transforms give float32 images: pixel
        values in [0, 1] lose nothing that matters. Integer images are refused (divide by 255).
        """
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor [N, 3, H, W], got {type(images).__name__}"
                            + ("; convert with torch.from_numpy(array)"
                               if type(images).__module__ == "numpy" else ""))
        if images.dim() == 3:
            raise ValueError(f"images has shape {tuple(images.shape)}; add the batch dimension "
                             "with images.unsqueeze(0)")
        channels = len(self.mean) if self.mean is not None else images.shape[1]
        if images.dim() != 4 or images.shape[1] != channels:
            raise ValueError(f"images must be [N, {channels}, H, W], got {tuple(images.shape)}"
                             + _layout_fix(images, channels))
        if images.shape[0] == 0:
            raise ValueError(f"images has no image (shape {tuple(images.shape)})")
        if not images.is_floating_point():
            raise ValueError(f"images must be floating point in [0, 1], got {images.dtype}; "
                             "divide uint8 images by 255")
        x = images.to(self.device, dtype=self._dtype(images.dtype), non_blocking=True)
        low, high = torch.stack(torch.aminmax(x)).tolist()  # one device sync, not two
        if math.isnan(low) or math.isnan(high):  # aminmax propagates NaN
            nan = int(torch.isnan(x).sum())
            raise ValueError(f"images contain {nan} NaN values of {x.numel()} "
                             f"({'all of them' if nan == x.numel() else 'some'}); an image that "
                             "failed to load or a division by zero? Fix: check the images with "
                             "torch.isnan(images).any() before calling the network")
        if self._mean is not None and self._std is not None:
            if low < -1e-3 or high > 1 + 1e-3:
                hint = ("divide 0..255 pixel values by 255" if low >= 0 and high > 2
                        else f"{self.name} normalises them itself, so pass unnormalised images")
                raise ValueError(f"images range over [{low:.3g}, {high:.3g}], not [0, 1]; {hint}")
            x = (x - self._mean.to(x.dtype)) / self._std.to(x.dtype)
        return x

    def _dtype(self, given: torch.dtype) -> torch.dtype:
        """The dtype of the network's first floating-point parameter (or ``given``)."""
        for parameter in self.module.parameters():
            if parameter.is_floating_point():
                return parameter.dtype
        return given

    def unnormalise(self, images: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`preprocess`' normalisation, for display: back to [0, 1] (clamped).

        Example:
            >>> net = Network(torch.nn.Identity(), mean=(0.5,) * 3, std=(0.25,) * 3)
            >>> net.unnormalise(net.preprocess(torch.full((1, 3, 2, 2), 0.75)))[0, 0, 0, 0].item()
            0.75
        """
        if self._mean is None or self._std is None:
            return images
        mean, std = self._mean.to(images.device), self._std.to(images.device)
        return (images * std + mean).clamp(0, 1)

    def __call__(self, images: torch.Tensor) -> Any:
        """Run the network on ``images`` in [0, 1] without gradients; returns the module's output.

        The return type is ``Any`` because it is whatever the wrapped module returns: a logits
        tensor for classifiers, a dict or tuple for detection and multi-head models. A Hugging
        Face ``ModelOutput`` with ``logits`` (``ImageClassifierOutput``) gives its ``logits``
        tensor, as a torchvision classifier would; hooks (and ``record``) still see what each
        module returned, the root's ``ModelOutput`` included. A ``ModelOutput`` without logits (a
        backbone's ``last_hidden_state``, ...) is returned as it is.
        """
        x = self.preprocess(images)
        with torch.no_grad():
            return _logits(self.module(x))

    def classify(self, images: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` class probabilities and indices per image, ``([N, k], [N, k])``."""
        logits = self(images)
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            got = (f"a tensor of shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor)
                   else f"a {type(logits).__name__}")
            raise TypeError(f"{self.name}.classify needs logits [N, classes], but the module "
                            f"returned {got}. Fix: classify a classifier (for Hugging Face, one "
                            "saved as ...ForImageClassification), or read the output yourself "
                            "with network(images)")
        return logits.softmax(dim=1).topk(k, dim=1)

    # --- the guard that keeps a shared, cached copy pristine -------------------------------
    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """A cheap identity of the module's parameters and buffers (objects and in-place versions)."""
        return tuple((name, id(t), t._version) for name, t in
                     [*self.module.named_parameters(), *self.module.named_buffers()])

    def problems(self) -> list[str]:
        """What a test changed in this network: train mode, leftover hooks, changed weights."""
        found = []
        training = [n or "<root>" for n, m in self.module.named_modules() if m.training]
        if training:
            found.append(f"modules left in train mode: {', '.join(training[:5])}"
                         + (" ..." if len(training) > 5 else ""))
        hooked = [n or "<root>" for n, m in self.module.named_modules()
                  if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks]
        if hooked:
            found.append(f"hooks left on: {', '.join(hooked[:5])}" + (" ..." if len(hooked) > 5 else ""))
        if self.fingerprint() != self._fingerprint:
            found.append("parameters or buffers were modified or replaced")
        return found

    def restore(self) -> list[str]:
        """Undo what :meth:`problems` finds (eval mode, hooks removed, weights reloaded); return it."""
        found = self.problems()
        if not found:
            return found
        self.module.eval()
        for module in self.module.modules():
            module._forward_hooks.clear()
            module._forward_pre_hooks.clear()
            module._backward_hooks.clear()
        if self.fingerprint() != self._fingerprint and self._restore_parameters is not None:
            self._restore_parameters(self.module)
        self._fingerprint = self.fingerprint()
        return found


def _logits(output: Any) -> Any:
    """``output.logits`` for a Hugging Face ``ModelOutput`` that has them, else ``output``."""
    if "transformers" not in sys.modules:  # no ModelOutput can exist: transformers is optional
        return output
    from transformers.utils import ModelOutput  # optional: loaded only if already imported

    logits = getattr(output, "logits", None) if isinstance(output, ModelOutput) else None
    return logits if isinstance(logits, torch.Tensor) else output


def _warn_train_mode(module: nn.Module, label: str) -> None:
    """Warn when ``module``'s mode-dependent submodules are in train mode (a forgotten eval)."""
    training = training_mode_dependent(module)
    if training:
        shown = ", ".join(repr(n) for n in training[:5]) + (" ..." if len(training) > 5 else "")
        warnings.warn(f"Network({label}): {len(training)} mode-dependent modules are in train "
                      f"mode ({shown}), so outputs depend on the batch and the random state. "
                      "Fix: call model.eval() before wrapping it (actassert leaves the mode "
                      "as you set it)", DeterminismWarning, stacklevel=3)


def _layout_fix(images: torch.Tensor, channels: int) -> str:
    """The fix for a wrong image layout: grey images, or channels last (HWC)."""
    if images.dim() != 4:
        return ""
    if images.shape[1] == 1 and channels == 3:
        return "; grey images have 1 channel: repeat it with images.expand(-1, 3, -1, -1)"
    if images.shape[3] == channels:
        return (f"; this looks channels-last [N, H, W, {channels}] (as PIL and numpy give): use "
                "images.permute(0, 3, 1, 2)")
    return ""
