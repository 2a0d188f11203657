"""The battery: checks every vision model should pass, run with no code at all.

``pytest --actassert-model NAME`` collects one test item per check and model (see
``battery/items.py``); ``actassert check NAME`` runs the same checks from the command line. Each
check is a function of a :class:`Subject` that returns report lines on success and raises
``AssertionError`` (with the project's fixed message layout) on failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actassert._support.messages import fail, listing
from actassert.assertions import assert_eval_mode
from actassert.battery.golden_check import check_golden
from actassert.battery.names import CHECKS
from actassert.battery.selectivity_check import check_selectivity
from actassert.battery.shared import leaf_pass, reference_of, stimuli_pass_of
from actassert.battery.subject import Subject
from actassert.invariance import (
    assert_hooks_transparent,
    check_batch_invariant,
    check_deterministic,
)
from actassert.layers import list_layers, root_module
from actassert.stimuli import load_images

__all__ = ["CHECKS", "zero_initialised", "run_check"]


def run_check(name: str, target: Subject) -> list[str]:
    """Run the check called ``name`` on ``target``; its report lines, or ``AssertionError``."""
    __tracebackhide__ = True
    if name not in _RUNNERS:
        raise ValueError(f"no battery check {name!r}; the checks are {', '.join(CHECKS)}")
    return _RUNNERS[name](target)


# -- the checks ---------------------------------------------------------------------------------

def _eval_mode(target: Subject) -> list[str]:
    __tracebackhide__ = True
    assert_eval_mode(target.net)
    return ["every module in eval mode"]


def _deterministic(target: Subject) -> list[str]:
    """``assert_deterministic(net, images[:4])``, its run 1 shared with batch invariance."""
    __tracebackhide__ = True
    reference = reference_of(target, "deterministic")
    check_deterministic(target.net, target.images[:4], "all", 2, None, None, reference)
    return ["every module's output repeats over 2 runs of 4 stimuli"]


def _batch_invariant(target: Subject) -> list[str]:
    """``assert_batch_invariant(net, images[:4])``, its batch run shared with determinism."""
    __tracebackhide__ = True
    check_batch_invariant(target.net, target.images[:4], "all", None, None,
                          reference_of(target, "batch_invariant"))
    return ["every module's output per image is the same in a batch of 4 and alone"]


def _hooks_transparent(target: Subject) -> list[str]:
    __tracebackhide__ = True
    assert_hooks_transparent(target.net, target.images[:4], target.layers)
    return [f"outputs bit-identical with {len(target.layers)} layers recorded"]


def _tensor_leaves(target: Subject) -> list[str]:
    return list_layers(target.net, leaves_only=True)


def _finite(target: Subject) -> list[str]:
    __tracebackhide__ = True
    layers = _tensor_leaves(target)
    counts = stimuli_pass_of(target, "finite").non_finite
    bad = [(key, count) for key, count in counts.items() if count]
    if bad:
        key, count = bad[0]
        module = type(dict(root_module(target.net).named_modules())[key.split("#")[0]]).__name__
        fail(f"finite activations check failed for {target.spec} ({len(layers)} layers, "
             f"{len(target.images)} stimuli)",
             "no NaN or Inf in any recorded layer",
             f"first layer with NaN or Inf: {key!r} ({module}): {count} values",
             [f"Later layers with NaN or Inf: {listing([f'{k!r} ({n})' for k, n in bad[1:]])}"
              if len(bad) > 1 else "Later layers: none"],
             f"inspect {key!r}: a division by zero, a log of 0, an overflow in half precision, or "
             "corrupt weights (load them again)")
    return [f"no NaN or Inf in {len(layers)} layers on {len(target.images)} stimuli"]


def _dead_masks(spans: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per layer with kernels, which kernels are dead (``[K]`` bools), from its per-image ranges
    ``[N, 2K]`` (min, then max; ``battery.shared.span``, which reads channels-last maps and
    tokens with ``channels="auto"``).

    A kernel is dead when its response is the same at every position of every image: its range
    (max - min) is at most 1e-6 of the layer's largest magnitude. A zeroed conv, a ReLU that
    never fires and the BatchNorm after a zeroed conv (a constant) all count: none of them
    carries information about the image; :func:`zero_initialised` tells the kernels a norm
    layer zeroes by design apart (the battery's check does not count them).
    """
    masks = {}
    for key, both in spans.items():
        if both.shape[1] == 0:
            continue
        k = both.shape[1] // 2
        low, high = both[:, :k].amin(0), both[:, k:].amax(0)
        scale = torch.maximum(low.abs().max(), high.abs().max())
        masks[key] = (high - low) <= 1e-6 * scale
    return masks


def zero_initialised(net: Any, key: str, kernels: int) -> torch.Tensor | None:
    """Which of layer ``key``'s kernels a normalisation layer zeroes by design, or None.

    timm's ``zero_init_last`` and torchvision's ``zero_init_residual=True`` start the last
    BatchNorm of each residual block with weight 0, so that the block begins as the identity:
    its output is then its bias at every position, constant but not dead. The same holds for
    any norm layer (BatchNorm, LayerNorm, GroupNorm, InstanceNorm, and subclasses such as
    timm's ``LayerNorm2d``) with one weight per kernel that is exactly 0.
    """
    try:  # one lookup down the dotted path, not a dict of every module per layer asked
        module: nn.Module | None = root_module(net).get_submodule(key.split("#")[0])
    except AttributeError:  # a container's field (``attn.0``) or no such module
        module = None
    norms = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
    weight = getattr(module, "weight", None)
    if not isinstance(module, norms) or not isinstance(weight, torch.Tensor) \
            or weight.dim() != 1 or weight.numel() != kernels:
        return None
    return (weight.detach() == 0).cpu()


def _photos(side: int, device: Any) -> torch.Tensor | None:
    """scikit-image's photos, when it is installed: natural images for the dead-kernel check."""
    try:
        import skimage  # optional: scikit-image
    except ImportError:
        return None
    folder = Path(skimage.__file__).parent / "data"
    files = [folder / n for n in ("chelsea.png", "coffee.png", "astronaut.png")
             if (folder / n).is_file()]
    return load_images([str(f) for f in files], size=side).to(device).images if files else None


def _dead_kernels(target: Subject) -> list[str]:
    __tracebackhide__ = True
    images = target.images
    photos = _photos(images.shape[-1], images.device)
    spans = dict(stimuli_pass_of(target, "dead_kernels").spans)  # the stimuli, then the photos
    if photos is not None:
        for key, more in leaf_pass(target.net, photos).spans.items():
            spans[key] = torch.cat([spans[key], more]) if key in spans else more
        images = torch.cat([images, photos])
    shares, designed = _dead_shares_by_design(target.net, spans)
    over = [(k, s) for k, s in shares.items() if s > target.options.max_dead]
    worst = sorted(shares.items(), key=lambda kv: -kv[1])[:5]
    summary = ", ".join(f"{k} {s:.0%}" for k, s in worst if s > 0) or "none"
    shown = f"{len(images)} images ({'stimuli and photos' if photos is not None else 'stimuli'})"
    if over:
        key, share = over[0]
        fail(f"dead kernels check failed for {target.spec} ({len(shares)} layers, {shown})",
             f"at most {target.options.max_dead:.0%} of each layer's kernels dead (the same "
             "response at every position of every image)",
             f"first layer over it: {key!r}: {share:.0%} of its kernels dead",
             [f"Layers over it: {listing([f'{k!r} {s:.0%}' for k, s in over])}",
              f"Most dead: {summary}"],
             f"check the weights of {key!r} (zeroed or pruned?); raise the limit with "
             "--actassert-max-dead if this is intended")
    lines = [f"dead kernels on {shown}, worst layers: {summary}"]
    if designed:
        lines.append("zero-initialised by design (a norm layer's weight of 0, its output the "
                     f"bias: not counted as dead): {len(designed)} layers, "
                     + listing([f"{k} {n} kernels" for k, n in designed.items()]))
    return lines


def _dead_shares_by_design(net: Any, spans: Mapping[str, torch.Tensor]
                           ) -> tuple[dict[str, float], dict[str, int]]:
    """The share of dead kernels per layer (from its ranges, see :func:`_dead_masks`) without
    those zero-initialised by design, and the count of those per layer that has any."""
    shares, designed = {}, {}
    for key, dead in _dead_masks(spans).items():
        zeroed = zero_initialised(net, key, len(dead))
        if zeroed is not None and bool((dead & zeroed).any()):
            designed[key] = int((dead & zeroed).sum())
            dead = dead & ~zeroed
        shares[key] = float(dead.double().mean())
    return shares, designed


_RUNNERS: dict[str, Callable[[Subject], list[str]]] = {
    "eval_mode": _eval_mode, "deterministic": _deterministic,
    "batch_invariant": _batch_invariant, "hooks_transparent": _hooks_transparent,
    "finite": _finite, "dead_kernels": _dead_kernels, "golden": check_golden,
    "selectivity": check_selectivity,
}
