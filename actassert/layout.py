"""Where a layer output keeps its kernels, decided from the module that produced it.

A sweep reduces each output to ``[N, K]``, so it must know which dim holds the ``K`` kernels and
which dims are space. The shape alone cannot say: ``[N, 16, 24, 384]`` from Swin-T on 64x96
images is ``[N, H, W, K]``, while ``[N, 16, 24, 24]`` could be either. :func:`decide` looks, in
this order, at:

1. ``channels="first"`` / ``"last"`` given by the user (kept as given).
2. The producing module: an ``nn.Linear`` puts ``out_features`` last, a ``LayerNorm`` over the last
   dim (``normalized_shape``, or a ``data_format="channels_last"`` norm) too; a ``Conv2d``,
   ``BatchNorm2d``, ``GroupNorm``, 2-d pooling or ``LayerNorm2d`` puts them on dim 1. An
   ``nn.Sequential`` is decided by its last child.
3. The shape against the image: a reading is a candidate when the dims it calls space form a grid
   with the image's aspect ratio (one stride ``s`` with each side ``floor`` or ``ceil`` of
   ``image side / s``). One candidate decides; none or two are refused, naming both readings and
   the ``channels=`` fix. Nothing is guessed.

Tokens ``[N, T, K]`` are a patch grid of ``gh x gw`` positions after ``P`` prefix tokens (class,
distillation, register tokens). ``P`` is the model's own ``num_prefix_tokens`` (timm) when it has
one, else the number of tokens in its ``class_token`` / ``cls_token`` / ``dist_token`` /
``distillation_token`` / ``reg_token`` / ``register_tokens`` parameters (torchvision, Hugging
Face), else 0. A layer with ``T = P + gh * gw`` (or ``T = gh * gw``) for exactly one grid fitting
the image is read so; two fitting readings are ambiguous and refused for reductions that need
space, which then also leave the prefix tokens out.

Window layouts ``[B, windows, tokens, C]``, as inside torchvision's MaxViT attention, are folded
back into ``[B, C, H, W]`` from the ``PartitionAttentionLayer`` around the module. Outputs whose
dim 0 is not the batch (windows or heads folded into it, as in timm's window attention) are
refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

import torch
from torch import nn

from actassert.errors import SweepError

__all__ = ["Context", "Layout", "decide", "declared_prefix", "fits_grid", "producer_rule",
           "feeding_module", "probe_shapes", "token_grids", "window_fold"]

#: Names of the parameters holding tokens put before the patch grid (timm, torchvision, HF).
PREFIX_PARAMETERS = ("class_token", "cls_token", "dist_token", "distillation_token", "reg_token",
                     "register_tokens")
_FIRST_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d,
                nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class Layout:
    """How one output is read: ``kernels`` ``"first"`` or ``"last"``, and for tokens the patch
    ``grid`` after ``prefix`` tokens; ``fold`` is a MaxViT window layout ``(p, gh, gw, swap)``;
    ``why`` says how it was decided."""

    kernels: str
    why: str
    grid: tuple[int, int] | None = None
    prefix: int = 0
    fold: tuple[int, int, int, bool] | None = None

    def kernels_first(self, maps: torch.Tensor, spatial: bool) -> torch.Tensor:
        """``maps`` with kernels on dim 1: ``[N, K, H, W]``, or tokens ``[N, K, T]``; with
        ``spatial`` tokens become their patch grid ``[N, K, gh, gw]`` (prefix tokens left out)."""
        if self.fold is not None:
            return _departition(maps, *self.fold)
        if self.kernels == "last" and maps.dim() in (3, 4):
            maps = maps.movedim(-1, 1)
        if maps.dim() == 3 and spatial and self.grid is not None:
            gh, gw = self.grid
            maps = maps[:, :, self.prefix:].reshape(maps.shape[0], maps.shape[1], gh, gw)
        return maps


def fits_grid(rows: int, cols: int, image: tuple[int, int]) -> bool:
    """Whether ``rows x cols`` positions can tile an ``image`` (height, width) with one stride.

    Each side must be ``floor`` or ``ceil`` of ``side / s`` for one stride ``s``.

    Example:
        >>> fits_grid(16, 24, (64, 96)), fits_grid(24, 384, (64, 96)), fits_grid(7, 7, (224, 224))
        (True, False, True)
    """
    if rows < 1 or cols < 1:
        return False
    low_h, high_h = image[0] / (rows + 1), (image[0] / (rows - 1) if rows > 1 else math.inf)
    low_w, high_w = image[1] / (cols + 1), (image[1] / (cols - 1) if cols > 1 else math.inf)
    return max(low_h, low_w) < min(high_h, high_w)


def declared_prefix(root: nn.Module) -> tuple[int | None, str]:
    """How many tokens precede the patch grid, as the model says, and where that was read.

    ``(None, ...)`` when the model declares nothing (then only ``T = gh * gw`` is a grid).
    """
    for name, module in root.named_modules():
        count = getattr(module, "num_prefix_tokens", None)
        if isinstance(count, int) and not isinstance(count, bool):
            return count, f"{name or type(root).__name__}.num_prefix_tokens = {count}"
    found = []
    total = 0
    for name, parameter in root.named_parameters():
        leaf = name.rpartition(".")[2]
        if leaf in PREFIX_PARAMETERS and parameter.dim() == 3 and parameter.shape[0] == 1:
            found.append(f"{name} ({parameter.shape[1]})")
            total += int(parameter.shape[1])
    if found:
        return total, "the token parameters " + ", ".join(found)
    return None, "no num_prefix_tokens and no class or register token parameters"


def producer_rule(module: nn.Module | None, shape: Sequence[int]) -> tuple[str, str] | None:
    """``("first" | "last", why)`` when the module's kind says where its kernels are."""
    if module is None or len(shape) < 3:
        return None
    kind = type(module).__name__
    if isinstance(module, nn.Linear) and shape[-1] == module.out_features:
        return "last", f"nn.Linear: out_features={module.out_features} on the last dim"
    data_format = getattr(module, "data_format", None)
    if data_format in ("channels_last", "channels_first") and "norm" in kind.lower():
        return ("last" if data_format == "channels_last" else "first",
                f"{kind}(data_format={data_format!r})")
    if isinstance(module, nn.LayerNorm):
        normalized = tuple(module.normalized_shape)
        if "2d" in kind.lower() and len(shape) == 4 and shape[1] == normalized[-1]:
            return "first", f"{kind}: normalises dim 1 of [N, C, H, W]"
        if "2d" not in kind.lower() and len(normalized) == 1 and shape[-1] == normalized[0]:
            return "last", f"{kind}: normalized_shape={normalized} on the last dim"
        return None
    if len(shape) == 4 and isinstance(module, _FIRST_TYPES):
        width = getattr(module, "out_channels", None) or getattr(module, "num_features", None) \
            or getattr(module, "num_channels", None)
        if width is None or shape[1] == width:
            return "first", f"{kind}: kernels on dim 1"
        return None
    if isinstance(module, nn.Sequential) and len(module):
        return producer_rule(module[-1], shape)
    return None


#: Modules whose output keeps the layout of their input (activations, dropout, identity).
_KEEPS_LAYOUT = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
                 nn.Tanh, nn.LeakyReLU, nn.Mish, nn.ELU, nn.Dropout, nn.Identity)


def feeding_module(modules: Mapping[str, nn.Module], name: str) -> nn.Module | None:
    """The module (of ``modules``, by name) feeding module ``name``, when the structure says: an
    activation, dropout or identity right after a sibling in an ``nn.Sequential`` or in an MLP
    block (a parent class named ``...Mlp`` / ``...MLP``, which run their children in order)."""
    parent_name = name.rpartition(".")[0]
    module, parent = modules.get(name), modules.get(parent_name)
    if not isinstance(module, _KEEPS_LAYOUT) or parent is None or not (
            isinstance(parent, nn.Sequential) or type(parent).__name__.lower().endswith("mlp")):
        return None
    children = [child for _, child in parent.named_children()]
    at = children.index(module)
    while at > 0 and isinstance(children[at - 1], _KEEPS_LAYOUT):  # Linear -> GELU -> Dropout
        at -= 1
    return children[at - 1] if at > 0 else None


def window_fold(modules: Mapping[str, nn.Module], name: str, shape: Sequence[int]
                ) -> tuple[int, int, int, bool] | None:
    """``(p, gh, gw, swap)`` when module ``name`` (of ``modules``) runs inside a torchvision MaxViT
    ``PartitionAttentionLayer`` on ``[B, windows, tokens, C]``: what folds its output back."""
    parts = name.split(".") if name else []
    for depth in range(len(parts) - 1, 0, -1):
        owner = modules.get(".".join(parts[:depth]))
        if owner is None or not all(hasattr(owner, a) for a in ("partition_swap", "grid_size", "p",
                                                                 "departition_op")):
            continue
        if parts[depth] not in ("attn_layer", "mlp_layer", "stochastic_dropout"):
            return None
        grid: Sequence[int] = getattr(owner, "grid_size")  # noqa: B009 (an attribute, not a module)
        rows, cols = int(grid[0]), int(grid[1])
        p = int(getattr(owner, "p"))  # noqa: B009
        if len(shape) != 4 or shape[1] * shape[2] != rows * cols or rows % p or cols % p:
            return None
        return p, rows // p, cols // p, getattr(owner, "partition_type", "") == "grid"
    return None


def _departition(maps: torch.Tensor, p: int, gh: int, gw: int, swap: bool) -> torch.Tensor:
    """``[B, windows, tokens, C]`` back to ``[B, C, H, W]``, as ``PartitionAttentionLayer`` does."""
    if swap:
        maps = maps.swapaxes(-2, -3)
    b, _, _, c = maps.shape
    return maps.reshape(b, gh, gw, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, gh * p, gw * p)


def token_grids(tokens: int, image: tuple[int, int], prefix: int | None
                ) -> list[tuple[int, int, int]]:
    """Every ``(prefix, gh, gw)`` with ``tokens = prefix + gh * gw`` and a grid fitting ``image``;
    ``prefix`` is 0 or the model's declared count.

    Example:
        >>> token_grids(25, (64, 96), 1), token_grids(17, (64, 64), None)
        ([(1, 4, 6)], [])
    """
    found = []
    for p in sorted({0, prefix or 0}):
        count = tokens - p
        for rows in range(1, count + 1):
            if count % rows == 0 and fits_grid(rows, count // rows, image):
                found.append((p, rows, count // rows))
    return found


@dataclass(frozen=True)
class Context:
    """What :func:`decide` knows about one swept output besides its shape."""

    layer: str
    image: tuple[int, int]
    batch: int | None = None
    module: nn.Module | None = None
    channels: str | None = None
    prefix: tuple[int | None, str] = (None, "")
    fold: tuple[int, int, int, bool] | None = None
    feeder: nn.Module | None = None  # the module feeding an activation (see feeding_module)
    spatial: bool = True  # the reduction needs space (foreground, threshold, centre)
    probed: bool = True  # False: an undecided output gives Layout("probe") instead of an error
    probe: tuple[int, ...] | None = None  # the output's shape for one image PROBE_GROWTH larger


def decide(shape: Sequence[int], ctx: Context) -> Layout:
    """The :class:`Layout` of an output of ``shape``, or a ``SweepError`` saying why none can be
    chosen and how to choose (see the module docstring for the rules).

    Example:
        >>> decide((2, 16, 24, 384), Context("features.1.0.mlp.1", (64, 96))).kernels
        'last'
    """
    shape = tuple(int(s) for s in shape)
    if ctx.channels not in (None, "auto", "first", "last"):
        raise SweepError(f"channels={ctx.channels!r} is not 'first', 'last' or 'auto'")
    if ctx.batch is not None and len(shape) >= 2 and shape[0] != ctx.batch:
        raise SweepError(_not_the_batch(shape, ctx))
    if len(shape) == 2:
        return Layout("first", "[N, K]")
    if ctx.fold is not None and len(shape) == 4:
        p, gh, gw, swap = ctx.fold
        return Layout("last", f"MaxViT {'grid' if swap else 'window'} partitions of {p}x{p} "
                      f"folded back into a {gh * p}x{gw * p} map", fold=ctx.fold)
    if len(shape) == 3:
        return _decide_tokens(shape, ctx)
    if len(shape) != 4:
        return Layout("first", f"{len(shape)}-d output, read as given")
    return _decide_map(shape, ctx)


def _decide_map(shape: tuple[int, ...], ctx: Context) -> Layout:
    """A 4-d output: kernels on dim 1 (``[N, K, H, W]``) or last (``[N, H, W, K]``)."""
    fits = {"first": fits_grid(shape[2], shape[3], ctx.image),
            "last": fits_grid(shape[1], shape[2], ctx.image)}
    if ctx.channels in ("first", "last"):
        return Layout(ctx.channels, f"channels={ctx.channels!r}")
    rule = _rule(ctx, shape)
    if rule is not None:
        kernels, why = rule
        if kernels == "last" and ctx.spatial and not fits["last"]:
            _refuse(shape, ctx, why, f"kernels last, but dims 1-2 ({shape[1]}x{shape[2]}) do not "
                    f"tile the {_side(ctx.image)} image: positions grouped otherwise, as in "
                    "window attention [B, windows, tokens, C]", "last")
        return Layout(kernels, why)
    candidates = [k for k, ok in fits.items() if ok]
    if len(candidates) == 1:
        kernels = candidates[0]
        space = shape[2:] if kernels == "first" else shape[1:3]
        return Layout(kernels, f"only {_reading(kernels)} has a {space[0]}x{space[1]} space that "
                      f"tiles the {_side(ctx.image)} image")
    problem = "both readings tile the image" if candidates else "neither reading tiles the image"
    probed = _probed(shape, ctx, (3, 1))
    if probed is None:
        return Layout("probe", problem)
    if probed == "":
        _refuse(shape, ctx, _kind(ctx.module) + " (its kind does not say)", problem,
                *(candidates or ("first", "last")))
    return Layout(probed, _probe_why(shape, ctx))


def _decide_tokens(shape: tuple[int, ...], ctx: Context) -> Layout:
    """A 3-d output: tokens ``[N, T, K]`` (``"last"``) or ``[N, K, T]`` (``"first"``)."""
    count = ctx.prefix[0]
    grids = {"last": token_grids(shape[1], ctx.image, count),
             "first": token_grids(shape[2], ctx.image, count)}
    if ctx.channels in ("first", "last"):
        kernels, why = ctx.channels, f"channels={ctx.channels!r}"
    elif (rule := _rule(ctx, shape)) is not None:
        kernels, why = rule
    elif len(readable := _token_readings(grids, count)) == 1:
        kernels = readable[0]
        why = f"only {_tokens(kernels)} has a token count forming a patch grid" + (
            f" after the model's {count} prefix token(s)" if count else "")
    else:
        problem = ("both readings form a patch grid" if readable else
                   "neither reading forms a patch grid")
        probed = _probed(shape, ctx, (2, 1))
        if probed is None:
            return Layout("probe", problem)
        if probed == "":
            _refuse(shape, ctx, _kind(ctx.module) + " (its kind does not say)", problem,
                    *(readable or ("last", "first")))
        kernels, why = probed, _probe_why(shape, ctx)
    found = grids[kernels]
    if len(found) == 1:
        p, gh, gw = found[0]
        return Layout(kernels, f"{why}; {gh}x{gw} patch grid after {p} prefix token(s) "
                      f"({ctx.prefix[1]})", grid=(gh, gw), prefix=p)
    if ctx.spatial:
        tokens = shape[1] if kernels == "last" else shape[2]
        options = ", ".join(f"{p} + {gh}x{gw}" for p, gh, gw in found)
        _refuse(shape, ctx, why, f"{tokens} tokens " + (
            f"split into prefix + grid more than one way ({options})" if found else
            f"form no patch grid fitting the image after 0 or {count or 0} prefix tokens "
            f"({ctx.prefix[1]})"), kernels, tokens_fix=True)
    return Layout(kernels, why + "; no single patch grid (fine: this reduction needs none)")


#: How much larger the probe's image is than the stimuli (see :func:`probe_shapes`).
PROBE_GROWTH = 1.5


def _probed(shape: tuple[int, ...], ctx: Context, dims: tuple[int, int]) -> str | None:
    """``"first"`` / ``"last"`` from the probe: the kernels are on whichever of ``dims`` (the
    ``"last"`` reading's, then the ``"first"`` one's) kept its size when the image grew; ``""``
    when the probe cannot tell (or failed); None when no probe was run yet."""
    if not ctx.probed:
        return None
    probe = ctx.probe
    if probe is None or len(probe) != len(shape):
        return ""
    kept = [d for d in dims if shape[d] == probe[d]]
    if len(kept) != 1:
        return ""
    return "last" if kept[0] == dims[0] else "first"


def _probe_why(shape: tuple[int, ...], ctx: Context) -> str:
    return (f"a probe forward at {PROBE_GROWTH}x the image size (meta device) gave "
            f"{list(ctx.probe or ())} for {list(shape)}: the kernels are the dim that kept its size")


def probe_shapes(root: nn.Module, names: Sequence[str], image: tuple[int, int],
                 dtype: torch.dtype) -> dict[str, tuple[int, ...]]:
    """The output shapes of modules ``names`` for one image ``PROBE_GROWTH`` times larger,
    from a forward on PyTorch's meta device (shapes only: no data, no compute, the model's own
    weights untouched). A model that cannot run there, or at that size, gives ``{}``."""
    size = (1, 3, round(image[0] * PROBE_GROWTH), round(image[1] * PROBE_GROWTH))
    tensors = {n: t.to("meta") for n, t in [*root.named_parameters(), *root.named_buffers()]}
    modules = dict(root.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}

    def keeper(name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(module: nn.Module, args: object, output: object) -> None:
            if isinstance(output, torch.Tensor) and name not in shapes:
                shapes[name] = tuple(output.shape)
        return hook

    handles = [modules[n].register_forward_hook(keeper(n)) for n in names if n in modules]
    try:
        with torch.no_grad():
            torch.func.functional_call(root, tensors, (torch.zeros(size, dtype=dtype,
                                                                   device="meta"),))
    except Exception:  # a model that cannot run on meta tensors or at that size: no probe
        return {}
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _rule(ctx: Context, shape: tuple[int, ...]) -> tuple[str, str] | None:
    """What the producing module says (:func:`producer_rule`), or the module feeding it."""
    rule = producer_rule(ctx.module, shape)
    if rule is None and ctx.feeder is not None:
        fed = producer_rule(ctx.feeder, shape)
        if fed is not None:
            rule = fed[0], (f"{_kind(ctx.module)} keeps the layout of the {fed[1]} before it")
    return rule


def _token_readings(grids: dict[str, list[tuple[int, int, int]]], count: int | None) -> list[str]:
    """The readings of a 3-d output whose token count forms a patch grid; when the model declares
    prefix tokens and just one reading's count is those tokens plus a grid, that one."""
    readable = [k for k, found in grids.items() if found]
    if count and len(readable) == 2:
        with_prefix = [k for k in readable if any(p == count for p, _, _ in grids[k])]
        if len(with_prefix) == 1:
            return with_prefix
    return readable


def _tokens(kernels: str) -> str:
    return "[N, K, T]" if kernels == "first" else "[N, T, K]"


def _reading(kernels: str) -> str:
    return "[N, K, H, W]" if kernels == "first" else "[N, H, W, K]"


def _side(image: tuple[int, int]) -> str:
    return f"{image[0]}x{image[1]}"


def _kind(module: nn.Module | None) -> str:
    return type(module).__name__ if module is not None else "an unknown module"


def _refuse(shape: tuple[int, ...], ctx: Context, producer: str, problem: str, *candidates: str,
            tokens_fix: bool = False) -> NoReturn:
    """Raise the ``SweepError`` of an output whose layout cannot be decided."""
    names = {"first": "channels='first' (kernels on dim 1)",
             "last": "channels='last' (kernels on the last dim)"}
    fix = ("sweep with reduce='mean' or 'median' (they need no grid), or give the model a "
           "num_prefix_tokens attribute (timm's name) saying how many tokens precede the grid"
           if tokens_fix else
           f"pass {' or '.join(names[c] for c in candidates)} to sweep if you know the layout, "
           "or sweep another layer")
    raise SweepError("\n".join([
        f"sweep cannot tell how to read the output of layer {ctx.layer!r}",
        f"Expected: one reading of its shape whose space fits the {_side(ctx.image)} images",
        f"Obtained: shape {list(shape)}: {problem}",
        f"Produced by: {producer}; candidates: {', '.join(names[c] for c in candidates)}",
        f"Fix: {fix}"]))


def _not_the_batch(shape: tuple[int, ...], ctx: Context) -> str:
    """The message for an output whose dim 0 is not the batch of images."""
    parent = ctx.layer.rpartition(".")[0] or "the block around it"
    return "\n".join([
        f"layer {ctx.layer!r} does not give one row per image",
        f"Expected: dim 0 of size {ctx.batch} (the images in the batch)",
        f"Obtained: shape {list(shape)}: windows or heads folded into the batch dim, as inside "
        "window attention",
        f"Fix: sweep a module whose output is per image, such as {parent!r}"])
