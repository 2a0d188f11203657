"""timm models by name (``load_model("timm:convnext_tiny")``): weights through timm's own cache.

timm (``pip install 'actassert[timm]'``) downloads pretrained weights from the Hugging Face Hub
into its cache (``$HF_HOME/hub``, ``~/.cache/huggingface/hub`` by default). Offline
(``--actassert-offline``, ``ACTASSERT_OFFLINE=1`` or ``download=False``) the call runs in the
Hub's offline mode, so a file missing from that cache fails in well under a second instead of
retrying the network for about a minute. Mean, std and input size come from the model's
``pretrained_cfg`` (``timm.data.resolve_model_data_config``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.hub
from torch import nn

from actassert.errors import MissingExtraError, ModelNotFoundError, WeightsUnavailableError
from actassert.models.built import Built, seeded
from actassert.weightfiles import downloads_allowed

__all__ = ["build_timm", "preprocessing", "hub_offline"]

#: The environment variable of the Hugging Face Hub's offline mode.
ENV_HF_OFFLINE = "HF_HUB_OFFLINE"


def _import_timm(name: str) -> Any:
    try:
        import timm  # optional: the timm extra
    except ImportError:
        raise MissingExtraError("timm", "timm", f"load_model('timm:{name}')") from None
    return timm


@contextlib.contextmanager
def hub_offline(offline: bool = True) -> Iterator[None]:
    """Run the block in the Hugging Face Hub's offline mode (cache only, no network), then restore.

    ``HF_HUB_OFFLINE`` is read once, when ``huggingface_hub`` is imported, into
    ``huggingface_hub.constants.HF_HUB_OFFLINE``, which every download checks; so both the
    environment variable and that constant are set for the block and put back after it.
    """
    if not offline:
        yield
        return
    from huggingface_hub import constants  # optional: the timm extra

    before_env, before_flag = os.environ.get(ENV_HF_OFFLINE), constants.HF_HUB_OFFLINE
    os.environ[ENV_HF_OFFLINE] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before_flag
        if before_env is None:
            os.environ.pop(ENV_HF_OFFLINE, None)
        else:
            os.environ[ENV_HF_OFFLINE] = before_env


def preprocessing(module: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    """``(mean, std, input side)`` of a timm model, from its ``pretrained_cfg``."""
    from timm.data import resolve_model_data_config  # optional: the timm extra

    config = resolve_model_data_config(module)
    side = config["input_size"][-2]
    return tuple(config["mean"]), tuple(config["std"]), int(side)


def _split(timm: Any, name: str) -> tuple[str, str]:
    """``(architecture, tag)`` of ``"convnext_tiny.fb_in1k"``; checks the architecture exists."""
    arch, _, tag = name.partition(".")
    if not timm.is_model(arch):
        raise ModelNotFoundError(arch, timm.list_models(), source="timm")
    return arch, tag


def _tag(timm: Any, arch: str, named: str, weights: Any) -> str:
    """The pretrained tag to load (``""``: timm's default for ``arch``)."""
    if not isinstance(weights, str):
        raise TypeError(f"weights={weights!r} for timm:{arch}: give 'DEFAULT', a pretrained tag "
                        "such as 'fb_in1k', or None")
    tag = named if weights.upper() == "DEFAULT" else weights
    if named and tag != named:
        raise ValueError(f"timm:{arch}.{named} names the tag {named!r} but weights={weights!r}; "
                         "give the tag once")
    tags = [full.partition(".")[2] for full in timm.list_pretrained(f"{arch}.*")]
    if not tags:
        raise ValueError(f"timm:{arch} has no pretrained weights in timm; use weights=None for "
                         "a seeded random initialisation")
    if tag and tag not in tags:
        raise ValueError(f"weights={tag!r} is not a pretrained tag of timm:{arch}; choose one "
                         f"of DEFAULT, {', '.join(tags)}, or None")
    return tag


def _places(timm: Any, full: str) -> tuple[str, list[str]]:
    """What timm looks for to load ``full`` (``arch`` or ``arch.tag``), and every place it looks."""
    from huggingface_hub import constants  # optional: the timm extra

    cfg = timm.models.get_pretrained_cfg(full)
    places, wanted = [], ""
    if getattr(cfg, "hf_hub_id", None):
        folder = "models--" + cfg.hf_hub_id.replace("/", "--")
        wanted = f"{cfg.hf_hub_id} (model.safetensors or pytorch_model.bin)"
        places.append(f"Hugging Face cache: {os.path.join(constants.HF_HUB_CACHE, folder)}")
    if getattr(cfg, "url", None):
        filename = cfg.url.rsplit("/", 1)[-1]
        wanted = wanted or filename
        checkpoints = os.path.join(torch.hub.get_dir(), "checkpoints")
        places.append(f"torch hub cache: {os.path.join(checkpoints, filename)}")
    return wanted or full, places


def _create(timm: Any, full: str, *, pretrained: bool, seed: int) -> nn.Module:
    module: nn.Module = seeded(lambda: timm.create_model(full, pretrained=pretrained), seed)
    return module


def _load_pretrained(timm: Any, full: str, offline: bool) -> nn.Module:
    """``timm.create_model(full, pretrained=True)``, its failures as ``WeightsUnavailableError``."""
    from huggingface_hub.errors import HfHubHTTPError  # optional: the timm extra

    try:
        with hub_offline(offline):
            return _create(timm, full, pretrained=True, seed=0)
    except (OSError, HfHubHTTPError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        why = ("not attempted (offline: ACTASSERT_OFFLINE=1 or --actassert-offline, so "
               f"{ENV_HF_OFFLINE}=1 for the call)" if offline
               else f"failed: {type(exc).__name__}: {first}")
        fix = ("use weights=None for a seeded random initialisation, or fill the Hugging Face "
               f"cache once with network access (python -c \"import timm; "
               f"timm.create_model('{full}', pretrained=True)\"; HF_HOME moves the cache), or "
               "unset ACTASSERT_OFFLINE / drop --actassert-offline to let timm download it.")
        wanted, places = _places(timm, full)
        tag = getattr(timm.models.get_pretrained_cfg(full), "tag", None) or "DEFAULT"
        raise WeightsUnavailableError(f"timm:{full.partition('.')[0]}", tag, wanted, places, why,
                                      fix=fix) from None


def _categories(timm: Any, module: nn.Module) -> list[str] | None:
    """Class names of a timm ImageNet classifier (short form), if timm can tell."""
    data = timm.data
    if not hasattr(data, "infer_imagenet_subset"):  # timm < 0.9.8
        return None
    subset = data.infer_imagenet_subset(module)
    if not subset:
        return None
    names = data.ImageNetInfo(subset).label_descriptions(detailed=False)
    return [n.split(",")[0] for n in names]


def build_timm(name: str, *, weights: Any = "DEFAULT", download: bool | None = None,
               seed: int = 0) -> Built:
    """Build the timm model ``name`` (``"convnext_tiny"`` or ``"convnext_tiny.fb_in1k"``).

    Args:
        name: a timm architecture, optionally with a pretrained tag after a dot.
        weights: ``"DEFAULT"`` (the tag in ``name``, else timm's default), a pretrained tag, or
            ``None`` for a random initialisation seeded with ``seed``.
        download: ``False`` never downloads, ``None`` follows the offline policy.
        seed: the seed of a random initialisation; the global RNG is left alone.

    Raises:
        MissingExtraError: timm is not installed.
        ModelNotFoundError: no timm architecture ``name`` (closest names suggested).
        WeightsUnavailableError: pretrained weights not in the cache and not downloadable.
    """
    timm = _import_timm(name)
    arch, named = _split(timm, name)
    if weights is None:
        def fresh() -> nn.Module:
            return _create(timm, arch, pretrained=False, seed=seed)
        module = fresh()
    else:
        full = ".".join(p for p in (arch, _tag(timm, arch, named, weights)) if p)
        module = _load_pretrained(timm, full, offline=not downloads_allowed(download))

        def fresh() -> nn.Module:  # from the cache the first load filled
            with hub_offline():
                return _create(timm, full, pretrained=True, seed=0)

    def reload(target: nn.Module) -> None:
        target.load_state_dict(fresh().state_dict())

    mean, std, side = preprocessing(module)
    cfg: dict[str, Any] = getattr(module, "pretrained_cfg", None) or {}
    tag = cfg.get("tag") if weights is not None else None
    return Built(module, reload, mean, std, side, tag or ("DEFAULT" if weights else None),
                 f"timm:{arch}", _categories(timm, module))
