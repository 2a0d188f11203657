"""Pretrained networks: ``load_model`` (torchvision, timm or a factory; device; one cached copy) and ``Network``."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torchvision.models as tvm
from torch import nn

from actassert._support.compiled import original
from actassert._support.device import resolve_device
from actassert._support.modes import training_mode_dependent
from actassert.errors import (
    DeterminismWarning,
    ModelNotFoundError,
    WeightsFallbackWarning,
    WeightsUnavailableError,
)
from actassert.models.factory_source import check_weights
from actassert.models.names import Built, ModelSpec, build, parse_model_name
from actassert.weightfiles import resolve_checkpoint

if TYPE_CHECKING:
    from actassert.types import DeviceLike, WeightsLike

__all__ = ["Network", "load_model", "clear_model_cache", "cached_models", "WeightsFallbackWarning"]


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
    from transformers.utils import ModelOutput

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


_cache: dict[tuple[str, str | None, str], Network] = {}
_cache_lock = threading.Lock()


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


def cached_models() -> list[Network]:
    """Every network ``load_model`` holds in its per-process cache (each once)."""
    return list({id(n): n for n in _cache.values()}.values())


def clear_model_cache() -> None:
    """Forget every cached network (the next ``load_model`` builds it anew)."""
    _cache.clear()


def evict(network: Network) -> None:
    """Forget one cached network under every key it is cached by."""
    for key in [k for k, v in _cache.items() if v is network]:
        del _cache[key]


def _weights_enum(name: str) -> Any:
    valid = tvm.list_models(module=tvm)
    if name not in valid:
        raise ModelNotFoundError(name, valid)
    return tvm.get_model_weights(name)


def _pick_weights(name: str, enum: Any, weights: Any, download: bool | None) -> tuple[Any, Any]:
    """Resolve ``weights`` to an enum member and a local checkpoint path."""
    if isinstance(weights, str) and weights.upper() != "DEFAULT":
        member = getattr(enum, weights, None)
        if member is None or not isinstance(member, enum):
            options = ", ".join(["DEFAULT", *(m.name for m in enum)])
            raise ValueError(f"weights={weights!r} is not a weights name of {name}; "
                             f"choose one of {options}, or None")
        return member, resolve_checkpoint(member.url, model=name, weights=member.name,
                                          download=download)
    if not isinstance(weights, str):
        return weights, resolve_checkpoint(weights.url, model=name, weights=weights.name,
                                           download=download)
    default = enum.DEFAULT
    try:
        return default, resolve_checkpoint(default.url, model=name, weights=default.name,
                                           download=False)
    except WeightsUnavailableError as missing:
        for other in enum:
            if other is default:
                continue
            with contextlib.suppress(WeightsUnavailableError):
                path = resolve_checkpoint(other.url, model=name, weights=other.name, download=False)
                warnings.warn(WeightsFallbackWarning(
                    f"{name}: default weights {default.name} are not on this machine; using "
                    f"{other.name} found at {path}. Ask for weights={default.name!r} to insist."),
                    stacklevel=4)
                return other, path
        if download is False:
            raise missing
        return default, resolve_checkpoint(default.url, model=name, weights=default.name,
                                           download=download)


@contextlib.contextmanager
def _state_dict_from(enum_cls: Any, path: Any) -> Iterator[None]:
    """Make torchvision's builders read the checkpoint at ``path`` (``weights_only=True``)."""
    original = enum_cls.get_state_dict

    def get_state_dict(self: Any, *args: Any, **kwargs: Any) -> Any:
        return torch.load(path, map_location="cpu", weights_only=True)

    enum_cls.get_state_dict = get_state_dict
    try:
        yield
    finally:
        enum_cls.get_state_dict = original


def _build(name: str, member: Any, path: Any, seed: int) -> tuple[nn.Module, Any]:
    if member is None:
        def init(module: nn.Module | None = None) -> nn.Module:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                fresh = tvm.get_model(name, weights=None)
            if module is not None:
                module.load_state_dict(fresh.state_dict())
            return fresh
        return init(), init

    def build() -> nn.Module:
        with _state_dict_from(type(member), path):
            return tvm.get_model(name, weights=member)

    def reload(module: nn.Module) -> None:
        module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    return build(), reload


def load_model(name: str, *, weights: WeightsLike = "DEFAULT", device: DeviceLike = "auto",
               download: bool | None = None, seed: int = 0) -> Network:
    """Load a torchvision or timm model, or a factory's, in eval mode, once per process.

    Names: ``"resnet50"`` or ``"torchvision:resnet50"`` (torchvision), ``"timm:convnext_tiny"``
    (timm, the ``timm`` extra; mean, std and input size from its ``pretrained_cfg``, weights
    through timm's Hugging Face cache, which offline is searched without network access),
    ``"hf:google/vit-base-patch16-224"`` or ``"hf:FOLDER"`` (Hugging Face transformers, the ``hf``
    extra; mean, std and input size from its image processor; see ``actassert.models.hf_source``), or
    ``"my_pkg.models:build"``: a zero-argument factory returning an ``nn.Module`` (ImageNet
    mean/std, 224 px) or an :class:`Network` (its own mean, std and input size), called under
    ``torch.manual_seed(seed)``.

    Weights resolution, in order: torch's hub cache, the weight directories named with
    ``--actassert-weights-dir``/ini ``actassert_weights_dir``/``ACTASSERT_WEIGHTS_DIR``,
    installed packages known to carry torchvision's own files, then a download (unless offline).
    The sha256 prefix in torchvision's checkpoint names is verified; files load with
    ``weights_only=True``. ``weights="DEFAULT"`` is torchvision's default checkpoint; when that
    file is not on this machine but another checkpoint of the same model is, that one is used
    with a :class:`WeightsFallbackWarning` (``network.weights`` says which).

    Args:
        name: a torchvision classification model (``"resnet50"``, ``"mobilenet_v2"``, ...),
            ``"timm:NAME"``, ``"hf:NAME"`` or ``"module.path:factory"``.
        weights: ``"DEFAULT"``, a weights name (``"IMAGENET1K_V1"``; for timm a pretrained tag
            such as ``"fb_in1k"``), a weights enum member, or ``None`` for a random
            initialisation seeded with ``seed``. A factory builds its own weights: ``"DEFAULT"``
            and ``None`` both call it.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        download: ``False`` never downloads, ``None`` follows ``ACTASSERT_OFFLINE``/the plugin.
        seed: the seed of a random initialisation (``weights=None``).

    Returns:
        The cached :class:`Network`; mean, std and input size come from the weights' metadata.

    Raises:
        ModelNotFoundError: ``name`` is not a torchvision classification model (or timm model).
        ModelSourceError: an unknown ``SOURCE:`` prefix, or a factory that cannot be imported,
            raises or returns no model.
        MissingExtraError: a ``timm:`` name without timm installed (``hf:``: transformers).
        WeightsUnavailableError: the checkpoint is nowhere on this machine and not downloadable.

    Example:
        >>> net = load_model("resnet18", weights=None, device="cpu")
        >>> net.input_size, net.mean
        (224, (0.485, 0.456, 0.406))
    """
    spec = parse_model_name(name)
    if spec.source != "torchvision":
        return _load_built(spec, weights, device, download, seed)
    return _load_torchvision(spec.name, weights, device, download, seed)


def _load_torchvision(name: str, weights: Any, device: Any, download: bool | None,
                      seed: int) -> Network:
    """``load_model`` for torchvision models: resolve the weights, build, wrap, cache."""
    enum = _weights_enum(name)
    if weights is not None and not isinstance(weights, (str, enum)):
        raise TypeError(f"weights={weights!r} is not a weights name ('DEFAULT', "
                        f"{', '.join(repr(m.name) for m in enum)}), a {enum.__name__} member, "
                        "or None")
    target = resolve_device(device)
    requested = weights if weights is None or isinstance(weights, str) else weights.name
    key = (name, requested if weights is not None else f"random:{seed}", str(target))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        member, path = (None, None) if weights is None else _pick_weights(name, enum, weights,
                                                                            download)
        resolved = (name, member.name, str(target)) if member is not None else key
        if resolved in _cache:  # "DEFAULT", "default" and the name it resolved to share one copy
            _cache[key] = _cache[resolved]
            return _cache[key]
        module, restore = _build(name, member, path, seed)
        meta_source = member or enum.DEFAULT
        transform = meta_source.transforms()
        network = Network(module.eval(), mean=transform.mean, std=transform.std,
                          input_size=transform.crop_size[0], name=name,
                          weights=member.name if member is not None else None, device=target,
                          categories=meta_source.meta.get("categories"))
        _cache[key] = _cache[resolved] = _guarded(network, restore)
        return network


def _guarded(network: Network, restore: Any) -> Network:
    """Freeze ``network``'s parameters and arm the guard with ``restore`` (reloads weights)."""
    for parameter in network.module.parameters():
        parameter.requires_grad_(False)
    network._restore_parameters = restore
    network._fingerprint = network.fingerprint()
    return network


def _load_built(spec: ModelSpec, weights: Any, device: Any, download: bool | None,
                seed: int) -> Network:
    """``load_model`` for timm, hf models and factories: build, wrap in a ``Network``, cache."""
    target = resolve_device(device)
    if spec.source == "factory":  # a factory builds its own weights: one copy per seed
        check_weights(spec.name, weights)
        requested: str | None = f"factory:{seed}"
    else:
        requested = f"random:{seed}" if weights is None else str(weights)
    key = (spec.label, requested, str(target))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        built: Built = build(spec, weights=weights, download=download, seed=seed)
        pretrained = spec.source == "timm" and weights is not None
        resolved = (built.name, built.weights, str(target)) if pretrained else key
        if resolved in _cache:  # "DEFAULT" and the tag it resolved to share one copy
            _cache[key] = _cache[resolved]
            return _cache[key]
        network = Network(built.module.eval(), mean=built.mean, std=built.std,
                          input_size=built.input_size, name=built.name, weights=built.weights,
                          device=target, categories=built.categories)
        _cache[key] = _cache[resolved] = _guarded(network, built.reload)
        return network
