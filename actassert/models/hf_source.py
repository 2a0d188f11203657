"""Hugging Face transformers vision models by name (``load_model("hf:google/vit-base-patch16-224")``).

``hf:NAME`` is a Hub id or a local folder written by ``save_pretrained``
(``pip install 'actassert[hf]'``). The model is built with transformers' own loaders:
``AutoModelForImageClassification`` when the saved architecture is a classifier
(``config.architectures`` names a ``...ForImageClassification``), ``AutoModel`` otherwise (a
backbone such as ``Dinov2Model``). Mean, std and input size come from the image processor saved
with it (``AutoImageProcessor``): a folder without ``preprocessor_config.json`` is refused, never
given a guessed normalisation.

Offline (``--actassert-offline``, ``ACTASSERT_OFFLINE=1`` or ``download=False``) every file is
read from the Hugging Face cache only (``local_files_only=True`` under ``HF_HUB_OFFLINE=1``), so
a missing file fails at once with ``WeightsUnavailableError``. ``weights=None`` (``NAME@none``)
builds the architecture from its config with a random initialisation seeded with ``seed``.

A transformers model returns a ``ModelOutput``; ``Network`` hands back its ``logits`` tensor, so
``network(images)`` and ``network.classify`` work as for any classifier (see ``Network.__call__``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from actassert.errors import MissingExtraError, ModelSourceError, WeightsUnavailableError
from actassert.models.built import Built, seeded
from actassert.models.timm_source import hub_offline
from actassert.weightfiles import downloads_allowed

__all__ = ["build_hf", "preprocessing"]


def _import_transformers(name: str) -> Any:
    try:
        import transformers  # optional: the hf extra
    except ImportError:
        raise MissingExtraError("transformers", "hf", f"load_model('hf:{name}')") from None
    return transformers


def _is_folder(name: str) -> bool:
    """Whether ``name`` means a local folder (it exists, or it is spelt as a path)."""
    if os.path.isdir(name):
        return True
    if name.startswith(("/", "./", "../", "~")) or os.path.isabs(name):
        raise ModelSourceError(f"hf:{name}: no folder {name!r}. Fix: give a folder written by "
                               "model.save_pretrained(folder) (with its image processor), or a "
                               "Hugging Face Hub id such as 'google/vit-base-patch16-224'.")
    return False


def _side(processor: Any, name: str) -> int:
    """The square input side an image processor produces (its centre crop, else its resize)."""
    crop = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop",
                                                            False) else None
    size = crop or getattr(processor, "size", None)
    fields = dict(size) if isinstance(size, Mapping) else {
        k: getattr(size, k, None) for k in ("height", "width", "shortest_edge")}
    height, width = fields.get("height"), fields.get("width")
    if height and width:
        if height != width:
            raise ModelSourceError(f"hf:{name}: its image processor makes {height}x{width} "
                                   "images; actassert's stimuli are square. Fix: load it with a "
                                   "factory returning actassert.Network(module, input_size=...)")
        return int(height)
    shortest = fields.get("shortest_edge")
    if shortest:
        return int(shortest)
    raise ModelSourceError(f"hf:{name}: its image processor names no input size "
                           f"(size={size!r}). Fix: save a processor with a size, or load it "
                           "with a factory returning actassert.Network(module, input_size=...)")


def preprocessing(transformers: Any, name: str, **load: Any
                  ) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    """``(mean, std, input side)`` from the model's image processor (``AutoImageProcessor``).

    Raises:
        ModelSourceError: no image processor saved with the model, or one without mean, std or
            a square size.
    """
    try:
        processor = transformers.AutoImageProcessor.from_pretrained(name, **load)
    except OSError as exc:
        first = (str(exc).strip().splitlines() or [""])[0].split(". ")[0]
        raise ModelSourceError(
            f"hf:{name}: no image processor to take mean, std and input size from ({first}). "
            "Fix: save it beside the model (AutoImageProcessor.from_pretrained(...)."
            "save_pretrained(folder), or e.g. ViTImageProcessor(image_mean=..., image_std=..., "
            "size=...).save_pretrained(folder)); actassert does not guess a normalisation."
        ) from None
    mean, std = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
    if not mean or not std or not getattr(processor, "do_normalize", True):
        raise ModelSourceError(f"hf:{name}: its image processor ({type(processor).__name__}) "
                               "gives no mean and std. Fix: save one with image_mean and "
                               "image_std, or load the model with a factory returning "
                               "actassert.Network(module, mean=..., std=...)")
    return tuple(float(m) for m in mean), tuple(float(s) for s in std), _side(processor, name)


def _auto_class(transformers: Any, config: Any) -> Any:
    """``AutoModelForImageClassification`` for a saved classifier, ``AutoModel`` otherwise."""
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith("ForImageClassification") for a in architectures):
        return transformers.AutoModelForImageClassification
    return transformers.AutoModel


def _categories(transformers: Any, config: Any) -> list[str] | None:
    """Class names from ``config.id2label`` for a classifier, unless they are placeholders."""
    labels = getattr(config, "id2label", None) or {}
    if _auto_class(transformers, config) is transformers.AutoModel or not labels:
        return None
    names = [str(labels[i]) for i in sorted(labels, key=int)]
    return None if all(n == f"LABEL_{i}" for i, n in enumerate(names)) else names


def _unavailable(name: str, offline: bool, exc: Exception) -> WeightsUnavailableError:
    """Why the model's files could not be loaded, with where they were looked for."""
    from huggingface_hub import constants  # optional: installed with transformers

    first = (str(exc).strip().splitlines() or [""])[0]
    why = ("not attempted (offline: ACTASSERT_OFFLINE=1 or --actassert-offline, so "
           "HF_HUB_OFFLINE=1 and local_files_only=True for the call)" if offline
           else f"failed: {type(exc).__name__}: {first}")
    folder = os.path.join(constants.HF_HUB_CACHE, "models--" + name.replace("/", "--"))
    fix = ("use weights=None (NAME@none) for a seeded random initialisation from the config, "
           "or fill the Hugging Face cache once with network access (python -c \"from "
           f"transformers import AutoModel; AutoModel.from_pretrained('{name}')\"; HF_HOME "
           "moves the cache), or unset ACTASSERT_OFFLINE / drop --actassert-offline.")
    return WeightsUnavailableError(f"hf:{name}", "DEFAULT", f"{name} (config.json and "
                                   "model.safetensors)", [f"Hugging Face cache: {folder}"], why,
                                   fix=fix)


def _builder(transformers: Any, name: str, config: Any, weights: Any, seed: int,
             load: dict[str, Any]) -> Callable[[], nn.Module]:
    """A function building the model: from the config (``weights=None``) or pretrained."""
    auto = _auto_class(transformers, config)
    if weights is None:
        return lambda: seeded(lambda: auto.from_config(config), seed)
    if not (isinstance(weights, str) and weights.upper() == "DEFAULT"):
        raise ValueError(f"weights={weights!r} for hf:{name}: give 'DEFAULT' (the weights saved "
                         "with the model) or None (a seeded random initialisation)")

    def pretrained() -> nn.Module:
        with hub_offline(load.get("local_files_only", False)):
            module: nn.Module = auto.from_pretrained(name, **load)
        return module

    return pretrained


def build_hf(name: str, *, weights: Any = "DEFAULT", download: bool | None = None,
             seed: int = 0) -> Built:
    """Build the transformers model ``name`` (a Hub id or a ``save_pretrained`` folder).

    Args:
        name: ``"google/vit-base-patch16-224"`` or a local folder.
        weights: ``"DEFAULT"`` (the saved weights) or ``None`` for a random initialisation
            from the config, seeded with ``seed``.
        download: ``False`` never downloads, ``None`` follows the offline policy.
        seed: the seed of a random initialisation; the global RNG is left alone.

    Raises:
        MissingExtraError: transformers is not installed.
        ModelSourceError: a folder that does not exist, or no usable image processor.
        WeightsUnavailableError: the model's files are not in the cache and cannot be downloaded.
    """
    transformers = _import_transformers(name)
    local = _is_folder(name)
    offline = not local and not downloads_allowed(download)
    load: dict[str, Any] = {"local_files_only": True} if offline or local else {}
    try:
        with hub_offline(offline):
            config = transformers.AutoConfig.from_pretrained(name, **load)
            mean, std, side = preprocessing(transformers, name, **load)
        build = _builder(transformers, name, config, weights, seed, load)
        module = build()
    except OSError as exc:
        raise _unavailable(name, offline, exc) from None
    if weights is not None:  # reload from the files the first load read
        load = {"local_files_only": True}
        build = _builder(transformers, name, config, weights, seed, load)

    def reload(target: nn.Module) -> None:
        target.load_state_dict(build().state_dict())

    return Built(module, reload, mean, std, side, None if weights is None else "DEFAULT",
                 f"hf:{name}", _categories(transformers, config))
