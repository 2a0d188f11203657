"""The model zoo: every torchvision classification model, timm and Hugging Face models, random weights.

For each model, at a small size: record every leaf (``acts.skipped`` lists non-tensor outputs),
check the hooks change nothing (the outputs of that forward, bit-equal), compare the records with
torchvision's FX ``create_feature_extractor`` where FX traces (``torch.equal``), sweep
``reduce="foreground"`` on three depths against an oracle, and draw a kernel grid.

The oracle knows nothing of ``actassert.layout``: it finds the kernel dim as the one dim whose size
does not change when the image grows 1.5x (the shapes at the second size come from a forward on
the meta device, so cost nothing), the patch grid of tokens and their prefix count from how the
token count grows, and the foreground by hand (each position's share of the mask over its input
patch, with explicit loops). A swept layer is ``ok`` when the sweep matches the oracle, ``refused``
when the sweep raised ``SweepError``, ``unverified`` when the oracle cannot tell the layout (the
sweep answered anyway), and ``MISREAD`` otherwise. The run fails on any misread or failed check.

Usage: ``python scripts/zoo.py [--models NAME ...] [--size 64] [--out scripts/bench_results/zoo.json]``
(``--models`` reruns some, merging into the JSON; ``--subset`` runs :data:`SUBSET`, one per family;
``--merge A.json B.json`` joins runs split over processes; ``--readme`` writes the README's table).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import actassert as aa
from actassert.drawing import kernel_grid
from actassert.errors import NeverRanWarning, SweepError
from actassert.stimuli import hue_disc

OUT = Path(__file__).parent / "bench_results" / "zoo.json"
#: Models that need another input size: MaxViT's partitions fit 224 (then the oracle's second
#: size is 448), Inception-v3 needs at least 75 px.
SIZES = {"maxvit_t": 224, "inception_v3": 96, "vit_h_14": 56}  # ViT-H/14: a multiple of 14
GROWTH = {"maxvit_t": 2.0}
#: One model per family, for CI (tests/test_zoo.py).
SUBSET = ["tv:resnet18", "tv:mobilenet_v3_small", "tv:convnext_tiny", "tv:swin_t", "tv:vit_b_32",
          "tv:efficientnet_b0", "timm:vit_small_patch14_reg4_dinov2", "hf:vit"]
TIMM = ["resnet18", "convnext_atto", "vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224",
        "vit_small_patch14_reg4_dinov2", "swin_tiny_patch4_window7_224", "efficientnet_b0",
        "mobilenetv3_small_100", "regnetx_002", "poolformer_s12"]
HF = ["vit", "convnext", "dinov2"]
Builder = Callable[[int], nn.Module]


class Tensors(nn.Module):
    """A Hugging Face model returning its logits (or last hidden state) tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=x)
        return out.logits if hasattr(out, "logits") else out.last_hidden_state


def torchvision_builder(name: str) -> Builder:
    import torchvision

    def build(size: int) -> nn.Module:
        kwargs: dict[str, Any] = {"weights": None}
        if name.startswith("vit_"):
            kwargs["image_size"] = size
        if name == "maxvit_t":
            kwargs["input_size"] = (size, size)
        if name in ("inception_v3", "googlenet"):
            kwargs["init_weights"] = True
        return torchvision.models.get_model(name, **kwargs)
    return build


def timm_builder(name: str) -> Builder:
    import timm

    def build(size: int) -> nn.Module:
        extra = {"img_size": size} if any(k in name for k in ("vit", "deit", "swin")) else {}
        if "swin" in name:
            extra["window_size"] = size // 32
        return timm.create_model(name, pretrained=False, **extra)
    return build


def hf_builder(name: str) -> Builder:
    import transformers as tf

    def build(size: int) -> nn.Module:
        small = {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2,
                 "intermediate_size": 128, "image_size": size}
        if name == "vit":
            model = tf.ViTForImageClassification(tf.ViTConfig(patch_size=16, **small))
        elif name == "dinov2":
            model = tf.Dinov2WithRegistersModel(tf.Dinov2WithRegistersConfig(
                patch_size=16, num_register_tokens=4, **small))
        else:
            model = tf.ConvNextForImageClassification(tf.ConvNextConfig(
                hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 2, 1]))
        return Tensors(model)
    return build


def builder(entry: str) -> Builder:
    source, _, name = entry.partition(":")
    return {"tv": torchvision_builder, "timm": timm_builder, "hf": hf_builder}[source](name)


def all_entries() -> list[str]:
    import torchvision

    return ([f"tv:{m}" for m in torchvision.models.list_models(module=torchvision.models)]
            + [f"timm:{m}" for m in TIMM] + [f"hf:{m}" for m in HF])


# --- the oracle ---------------------------------------------------------------------------------
def meta_shapes(build: Builder, size: int, layers: list[str], live: nn.Module
                ) -> dict[str, tuple[int, ...]]:
    """The output shapes of ``layers`` for one ``size`` image, on the meta device (no compute):
    the model built again for that size there, or (where building on meta fails, as for
    RegNet's) the live model run on meta copies of its weights."""
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        with torch.device("meta"):
            torch.manual_seed(0)
            module = build(size).eval()
    except Exception:
        module = live
        weights = {n: t.to("meta") for n, t in [*live.named_parameters(), *live.named_buffers()]}
        return _shapes_of(module, size, layers, shapes,
                          lambda x: torch.func.functional_call(live, weights, (x,)))
    return _shapes_of(module, size, layers, shapes, module)


def _shapes_of(module: nn.Module, size: int, layers: list[str],
               shapes: dict[str, tuple[int, ...]], call: Callable[[torch.Tensor], Any]
               ) -> dict[str, tuple[int, ...]]:
    """Run ``call`` on a meta image with hooks on ``module``'s ``layers`` noting their shapes."""
    modules = dict(module.named_modules())

    def keeper(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: object, output: object) -> None:
            if isinstance(output, torch.Tensor):
                shapes.setdefault(name, tuple(output.shape))
        return hook

    handles = [modules[n].register_forward_hook(keeper(n)) for n in layers if n in modules]
    try:
        with torch.no_grad():
            call(torch.zeros(1, 3, size, size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return shapes


def hand_cover(masks: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Each position's share of the mask over its input patch (adaptive-pooling boundaries)."""
    n, _, h, w = masks.shape
    cover = torch.zeros(n, rows, cols, dtype=torch.float64)
    for i in range(rows):
        top, bottom = (i * h) // rows, -((-(i + 1) * h) // rows)
        for j in range(cols):
            left, right = (j * w) // cols, -((-(j + 1) * w) // cols)
            cover[:, i, j] = masks[:, 0, top:bottom, left:right].double().mean(dim=(1, 2))
    return cover


def oracle(out: torch.Tensor, small: tuple[int, ...], big: tuple[int, ...] | None,
           masks: torch.Tensor, ratio: float) -> torch.Tensor | None:
    """The foreground response ``[N, K]`` by hand, or None when the layout cannot be told."""
    if out.dim() == 2:
        return out.double()
    if big is None or len(big) != len(small):
        return None
    fixed = [d for d in range(1, len(small)) if small[d] == big[d]]
    if len(fixed) == len(small) - 1:  # nothing grew: a 1x1 map has kernels on its one long dim
        fixed = [d for d in fixed if small[d] > 1]
    if len(fixed) != 1:
        return None
    maps = out.movedim(fixed[0], -1).double()  # [N, ..., K]
    if maps.dim() == 4:
        cover = hand_cover(masks, maps.shape[1], maps.shape[2])
        return torch.einsum("nhwk,nhw->nk", maps, cover) / cover.sum(dim=(1, 2))[:, None]
    if maps.dim() != 3:
        return None
    t_small, t_big = small[3 - fixed[0]], big[3 - fixed[0]]  # the token dim: 1 or 2
    area = (t_big - t_small) / (ratio ** 2 - 1)  # T = prefix + side^2, side grows with the image
    side = round(math.sqrt(max(area, 0)))
    prefix = t_small - side * side
    if side < 1 or prefix < 0 or abs(side * side - area) > 1e-6 * max(area, 1):
        return None
    grid = maps[:, prefix:].reshape(len(maps), side, side, -1)
    cover = hand_cover(masks, side, side)
    return torch.einsum("nhwk,nhw->nk", grid, cover) / cover.sum(dim=(1, 2))[:, None]


# --- the checks ---------------------------------------------------------------------------------
def fx_agreement(net: aa.Network, images: torch.Tensor, acts: Any, leaves: list[str]
                 ) -> tuple[int, int, int, list[str]] | str:
    """``(equal, compared, FX's own errors, first unexplained)`` between records and FX's feature extractor, or why FX was skipped."""
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nodes = set(get_graph_node_names(net.module)[1])
            names = [n for n in leaves if n in nodes and n in acts]
            if not names:
                return "no leaf is an FX node"
            # FX returns the very tensors of the graph: an in-place ReLU after a BatchNorm would
            # change FX's record of the BatchNorm, so its copy runs with in-place ops turned off
            module = net.module
            if any(getattr(m, "inplace", False) is True for m in module.modules()):
                module = copy.deepcopy(module)
                for m in module.modules():
                    if getattr(m, "inplace", False) is True:
                        m.inplace = False
            extractor = create_feature_extractor(module, return_nodes=names)
            with torch.no_grad():
                out = extractor(net.preprocess(images))
    except Exception as exc:  # FX does not trace every model: recorded, not a failure
        return f"does not trace ({type(exc).__name__})"
    unequal = [n for n in names if not (isinstance(out[n], torch.Tensor)
                                        and torch.equal(out[n], acts[n]))]
    blamed = [n for n in unequal if fx_is_wrong(net, images, n, acts[n])]
    return len(names) - len(unequal), len(names), len(blamed), [n for n in unequal
                                                               if n not in blamed][:5]


def fx_is_wrong(net: aa.Network, images: torch.Tensor, name: str, recorded: torch.Tensor) -> bool:
    """Whether a record FX disagrees with is what module ``name`` returns when called again on
    the input it had in a plain forward (so FX's node of that name is another value: torchvision's
    FX names ``ln_1`` of its ViT encoder blocks after ``ln_2``)."""
    module = dict(net.module.named_modules())[name]
    seen: list[tuple[Any, ...]] = []
    handle = module.register_forward_pre_hook(
        lambda m, args: None if seen else seen.append(tuple(copy.deepcopy(a) for a in args)))
    try:
        with torch.no_grad():
            net(images)
            again = module(*seen[0]) if seen else None
    finally:
        handle.remove()
    return isinstance(again, torch.Tensor) and torch.equal(again, recorded)


def sweep_depths(net: aa.Network, build: Builder, size: int, acts: Any, leaves: list[str],
                 name: str) -> list[dict[str, Any]]:
    """Foreground sweeps of three depths (first, middle, last leaf with kernels) vs the oracle."""
    discs = hue_disc([0, 120], size=size, radius=0.3)
    with_kernels = [n for n in leaves if n in acts and acts[n].dim() in (3, 4)]
    if not with_kernels:
        return []
    picks = sorted({with_kernels[0], with_kernels[len(with_kernels) // 2], with_kernels[-1]},
                   key=with_kernels.index)
    ratio = GROWTH.get(name, 1.5)
    big = meta_shapes(build, round(size * ratio), picks, net.module)
    rows = []
    for layer in picks:
        row: dict[str, Any] = {"layer": layer, "shape": list(acts[layer].shape)}
        try:
            got = aa.sweep(net, discs, [layer], reduce="foreground")[layer].double()
        except SweepError as exc:
            row.update(verdict="refused", why=str(exc).splitlines()[0])
            rows.append(row)
            continue
        expected = oracle(acts[layer], tuple(acts[layer].shape), big.get(layer), discs.masks, ratio)
        if expected is None:
            row["verdict"] = "unverified"
        elif got.shape != expected.shape:
            row.update(verdict="MISREAD", got=list(got.shape), expected=list(expected.shape))
        else:
            diff = float((got - expected).abs().max() / expected.abs().max().clamp_min(1e-12))
            row.update(verdict="ok" if diff < 1e-4 else "MISREAD", difference=diff)
        rows.append(row)
    return rows


def snapshot(acts: Any) -> dict[str, torch.Tensor]:
    """The records as a plain dict (``Activations`` looks each key up in O(1))."""
    return {key: acts[key] for key in acts}


def run_model(entry: str, size: int) -> dict[str, Any]:
    """Every check on one model; a row of the table."""
    start = time.perf_counter()
    size = SIZES.get(entry.partition(":")[2], size)
    build = builder(entry)
    torch.manual_seed(0)
    net = aa.Network(build(size).eval(), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                     device="cpu", name=entry)
    images = hue_disc([0, 120], size=size, radius=0.3).images
    leaves = aa.list_layers(net, leaves_only=True)
    row: dict[str, Any] = {"model": entry, "size": size, "leaves": len(leaves)}
    with torch.no_grad():
        plain = net(images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeverRanWarning)
        with aa.record(net, leaves, skip_non_tensors=True, register=False) as acts, \
                torch.no_grad():
            hooked = net(images)
    # what assert_hooks_transparent checks, on the forward that recorded (it would run another
    # hooked forward of every leaf)
    row.update(skipped=len(acts.skipped), transparent=bool(torch.equal(plain, hooked)))
    acts = snapshot(acts)
    row["recorded"] = len(acts)
    fx = fx_agreement(net, images, acts, leaves)
    row["fx"] = list(fx) if isinstance(fx, tuple) else fx
    row["sweeps"] = sweep_depths(net, build, size, acts, leaves, entry.partition(":")[2])
    drawn = [s["layer"] for s in row["sweeps"] if s["verdict"] == "ok" and acts[s["layer"]].dim() > 2]
    if drawn:
        resp = aa.sweep(net, hue_disc([0], size=size, radius=0.3), [drawn[0]], reduce="mean")
        maps = resp.layouts[drawn[0]].kernels_first(acts[drawn[0]], True)[0]
        row["grid_px"] = list(kernel_grid(maps, title=drawn[0]).size)
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def passed(row: dict[str, Any]) -> bool:
    """No misread, hooks transparent, FX equal wherever it traced."""
    fx = row.get("fx")
    return ("error" not in row and row.get("transparent", False)
            and not any(s["verdict"] == "MISREAD" for s in row.get("sweeps", []))
            and (not isinstance(fx, list) or fx[0] + fx[2] == fx[1]))


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The counts the README quotes."""
    sweeps = [s for r in rows for s in r.get("sweeps", [])]
    fx = [r["fx"] for r in rows if isinstance(r.get("fx"), list)]
    diffs = [s["difference"] for s in sweeps if "difference" in s]
    source = {k: sum(1 for r in rows if r["model"].startswith(k + ":")) for k in ("tv", "timm", "hf")}
    return {"models": len(rows), "passed": sum(passed(r) for r in rows), **source,
            "leaves": sum(r.get("recorded", 0) for r in rows),
            "fx_equal": sum(f[0] for f in fx), "fx_compared": sum(f[1] for f in fx),
            "fx_misnamed": sum(f[2] for f in fx),
            "fx_models": len(fx), "swept": len(sweeps),
            **{v: sum(1 for s in sweeps if s["verdict"] == v)
               for v in ("ok", "refused", "unverified", "MISREAD")},
            "max_difference": max(diffs) if diffs else None,
            "seconds": round(sum(r.get("seconds", 0) for r in rows), 1)}


README = Path(__file__).parents[1] / "README.md"
BEGIN, END = "<!-- zoo table: python scripts/zoo.py --readme -->", "<!-- end of zoo table -->"


def readme_block(rows: list[dict[str, Any]]) -> str:
    """The README's zoo table: one row per source, then all, from the JSON's rows."""
    lines = [BEGIN, "| models | passed | leaves recorded | FX equal / compared (models traced) | "
             "FX nodes misnamed | layers swept: ok / refused / unverified / misread | "
             "largest relative difference | seconds |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    groups = [(label, [r for r in rows if r["model"].startswith(key + ":")])
              for label, key in (("torchvision", "tv"), ("timm", "timm"), ("Hugging Face", "hf"))]
    for label, group in [*groups, ("all", rows)]:
        t = totals(group)
        diff = "-" if t["max_difference"] is None else f"{t['max_difference']:.1e}"
        lines.append(f"| {label}: {t['models']} | {t['passed']} | {t['leaves']} | "
                     f"{t['fx_equal']} / {t['fx_compared']} ({t['fx_models']}) | "
                     f"{t['fx_misnamed']} | {t['ok']} / {t['refused']} / {t['unverified']} / "
                     f"{t['MISREAD']} | {diff} | {t['seconds']} |")
    done = {r["model"] for r in rows}
    missing = [e for e in all_entries() if e not in done]
    failed = [r["model"] for r in rows if not passed(r)]
    lines += ["", f"Not run yet: {', '.join(missing) if missing else 'none'}. "
              f"Failed: {', '.join(failed) if failed else 'none'}."]
    return "\n".join([*lines, END])


def write_readme(rows: list[dict[str, Any]]) -> None:
    """Put :func:`readme_block` between the README's markers."""
    text = README.read_text(encoding="utf-8")
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    README.write_text(text[:start] + readme_block(rows) + text[stop:], encoding="utf-8")


def merge(parts: list[Path], out: Path) -> int:
    """Write the rows of ``parts`` (later ones win) to ``out`` in :func:`all_entries`' order."""
    rows: dict[str, dict[str, Any]] = {}
    for part in parts:
        rows.update({r["model"]: r for r in json.loads(part.read_text())["rows"]})
    order = {e: i for i, e in enumerate(all_entries())}
    table = sorted(rows.values(), key=lambda r: order.get(r["model"], len(order)))
    out.write_text(json.dumps({"totals": totals(table), "rows": table}, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="entries like tv:resnet18 timm:NAME hf:vit")
    parser.add_argument("--subset", action="store_true", help="one model per family (CI)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--readme", action="store_true",
                        help="only write the README's zoo table from the saved JSON")
    parser.add_argument("--merge", nargs="*", type=Path, default=[],
                        help="only merge the rows of these JSON files (runs split over "
                             "processes) into --out, in the order of the full zoo")
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    if args.readme:
        write_readme(json.loads(args.out.read_text())["rows"])
        return 0
    entries = args.models or (SUBSET if args.subset else all_entries())
    partial = args.models or args.subset  # the rest of the saved run stays as it is
    old = json.loads(args.out.read_text())["rows"] if partial and args.out.exists() else []
    rows = {r["model"]: r for r in old}
    for entry in entries:
        try:
            rows[entry] = run_model(entry, args.size)
        except Exception as exc:  # a failed check is a row, so the table shows every model
            rows[entry] = {"model": entry, "error": f"{type(exc).__name__}: {exc}"[:300]}
        print(json.dumps({k: v for k, v in rows[entry].items() if k != "sweeps"}), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table = list(rows.values())
        args.out.write_text(json.dumps({"totals": totals(table), "rows": table}, indent=1) + "\n")
    table = list(rows.values())
    print(json.dumps(totals(table)))
    return 0 if all(passed(r) for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
