"""Loading (layer 2, above the builders): ``load_model`` picks the builder of a name's source,
wraps what it built in a ``Network`` and keeps one cached copy per name, weights and device."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from actassert._support.device import resolve_device
from actassert.errors import WeightsFallbackWarning
from actassert.models.built import Built
from actassert.models.factory_source import build_factory, check_weights
from actassert.models.hf_source import build_hf
from actassert.models.names import ModelSpec, parse_model_name
from actassert.models.network import Network
from actassert.models.timm_source import build_timm
from actassert.models.torchvision_source import build_torchvision, pick_weights, weights_enum

if TYPE_CHECKING:
    from actassert.types import DeviceLike, WeightsLike

__all__ = ["Network", "load_model", "clear_model_cache", "cached_models", "WeightsFallbackWarning"]


_cache: dict[tuple[str, str | None, str], Network] = {}
_cache_lock = threading.Lock()


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
    enum = weights_enum(name)
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
        member, path = (None, None) if weights is None else pick_weights(name, enum, weights,
                                                                            download)
        resolved = (name, member.name, str(target)) if member is not None else key
        if resolved in _cache:  # "DEFAULT", "default" and the name it resolved to share one copy
            _cache[key] = _cache[resolved]
            return _cache[key]
        network = _guarded(build_torchvision(name, enum, member, path, seed), target)
        _cache[key] = _cache[resolved] = network
        return network


def _guarded(built: Built, device: Any) -> Network:
    """``built`` as a ``Network`` in eval mode on ``device``, its parameters frozen and the guard
    armed with ``built.reload``: what every source's model becomes in the cache."""
    network = Network(built.module.eval(), mean=built.mean, std=built.std,
                      input_size=built.input_size, name=built.name, weights=built.weights,
                      device=device, categories=built.categories)
    for parameter in network.module.parameters():
        parameter.requires_grad_(False)
    network._restore_parameters = built.reload
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
        built: Built = _build_other(spec, weights=weights, download=download, seed=seed)
        pretrained = spec.source == "timm" and weights is not None
        resolved = (built.name, built.weights, str(target)) if pretrained else key
        if resolved in _cache:  # "DEFAULT" and the tag it resolved to share one copy
            _cache[key] = _cache[resolved]
            return _cache[key]
        network = _guarded(built, target)
        _cache[key] = _cache[resolved] = network
        return network


def _build_other(spec: ModelSpec, *, weights: Any, download: bool | None, seed: int) -> Built:
    """Build a timm, hf or factory model (torchvision's are built once their weights are picked,
    in ``_load_torchvision``: the cache key needs the checkpoint they resolve to)."""
    if spec.source == "timm":
        return build_timm(spec.name, weights=weights, download=download, seed=seed)
    if spec.source == "hf":
        return build_hf(spec.name, weights=weights, download=download, seed=seed)
    if spec.source == "factory":
        return build_factory(spec.name, weights=weights, seed=seed)
    raise ValueError(f"{spec.source} models are built by _load_torchvision")
