"""The battery's selectivity check: colour and size tuning across the default layers, beside the
same layers of the untrained twin, reported, and asserted only when a threshold is given
(``--actassert-min-colour``, ``--actassert-size-grows``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actassert._support.messages import fail
from actassert.assertions import assert_prefers_larger
from actassert.measures import sweep
from actassert.models.loading import load_model
from actassert.models.names import parse_model_name, parse_model_spec
from actassert.proportions import fisher_exact
from actassert.stimuli import Stimuli, hue_disc, shapes
from actassert.tuning import median_preferred

if TYPE_CHECKING:
    from actassert.battery.subject import Subject

__all__ = ["CONTROL_SEED", "MIN_INDEX", "check_selectivity", "control_twin",
           "selectivity_stimuli"]

#: The selectivity index from which a kernel counts as selective (as in the tutorial).
MIN_INDEX = 0.3
#: The seed of the untrained twin the check compares with.
CONTROL_SEED = 0


def control_twin(target: Subject) -> tuple[Any, str]:
    """The untrained twin of ``target`` (random init, ``CONTROL_SEED``), or None and why not."""
    name, _ = parse_model_spec(target.spec)
    if getattr(target.net, "weights", None) is None:
        return None, "control not run: the model is itself randomly initialised"
    if parse_model_name(name).source == "factory":
        return None, "control not run: a factory model has no random-initialisation path"
    twin = load_model(name, weights=None, device=target.images.device, seed=CONTROL_SEED,
                      download=False)
    return twin, f"untrained twin (random init, seed {CONTROL_SEED})"


def _colour_shares(net: Any, discs: Any, layers: list[str]) -> dict[str, tuple[int, int]]:
    """Colour-selective kernels (responsive, index >= MIN_INDEX, blank subtracted) and K."""
    colour = sweep(net, discs, layers, reduce="foreground", channels="auto", baseline=True)
    out = {}
    for k in colour:
        tuning = colour.tuning("hue", k)
        out[k] = (int(tuning.selective(MIN_INDEX).sum()), tuning.kernels)
    return out


def selectivity_stimuli(side: int, device: Any = None) -> tuple[Stimuli, Stimuli]:
    """The check's stimuli: 12 luminance-matched hue discs and 8 circle sizes (4% to 64% of
    the side)."""
    discs = hue_disc(range(0, 360, 30), size=side, radius=0.25, luminance="matched",
                     device=device)
    circles = shapes("circle", [round(side * f) for f in (0.04, 0.07, 0.1, 0.15, 0.22, 0.32,
                                                          0.45, 0.64)], size=side, device=device)
    return discs, circles


def check_selectivity(target: Subject) -> list[str]:
    """Sweep 12 hue discs and 8 circle sizes through the default layers; report, and assert
    what the options ask for."""
    __tracebackhide__ = True
    net, layers, options = target.net, target.layers, target.options
    discs, circles = selectivity_stimuli(target.images.shape[-1], target.images.device)
    # channels="auto": the default layers may mix layouts (ConvNeXt, Swin), and tokens (ViT)
    counts = _colour_shares(net, discs, layers)
    size = sweep(net, circles, layers, reduce="centre", channels="auto", baseline=True)
    shares = {k: n / total for k, (n, total) in counts.items()}
    size_tunings = [size.tuning("size", k, scale="log") for k in size]
    medians = {t.layer: median_preferred(t.preferred(), log=True) for t in size_tunings}
    lines = ["colour-selective kernels (responsive, index >= 0.3, above the blank): "
             + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()),
             "median preferred size (centre response): "
             + ", ".join(f"{k} {v:.0f} px" for k, v in medians.items())]
    twin, note = control_twin(target)
    if twin is None:
        lines.append(note)
    else:
        other = _colour_shares(twin, discs, layers)
        lines.append(f"{note}, colour-selective: " + ", ".join(
            f"{k} {n / total:.0%} (trained {shares[k]:.0%}, Fisher's exact p = "
            f"{fisher_exact(counts[k][0], counts[k][1], n, total):.2g})"
            for k, (n, total) in other.items()))
    best = max(shares, key=lambda k: shares[k])
    if options.min_colour is not None and shares[best] < options.min_colour:
        fail(f"colour selectivity check failed for {target.spec} ({len(shares)} layers, "
             f"{len(discs)} hue discs)",
             f"some layer with at least {options.min_colour:.0%} colour-selective kernels",
             f"at most {shares[best]:.0%}, in {best!r}", lines,
             "lower --actassert-min-colour, or check the model: colour tuning goes when a "
             "network is trained on grey images or its early layers are re-initialised")
    if options.size_grows:
        assert_prefers_larger(size_tunings[0], size_tunings[-1], min_index=None)
    return lines
