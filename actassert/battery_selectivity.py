"""The battery's selectivity check: colour and size tuning across the default layers, reported,
and asserted only when a threshold is given (``--actassert-min-colour``, ``--actassert-size-grows``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actassert._messages import fail
from actassert.assertions import assert_prefers_larger
from actassert.measures import sweep
from actassert.stimuli import hue_disc, shapes
from actassert.tuning import median_preferred

if TYPE_CHECKING:
    from actassert.battery import Subject

__all__ = ["check_selectivity", "MIN_INDEX"]

#: The selectivity index from which a kernel counts as selective (as in the tutorial).
MIN_INDEX = 0.3


def check_selectivity(target: Subject) -> list[str]:
    """Sweep 12 hue discs and 8 circle sizes through the default layers; report, and assert
    what the options ask for."""
    __tracebackhide__ = True
    net, layers, options = target.net, target.layers, target.options
    side = target.images.shape[-1]
    device = target.images.device
    discs = hue_disc(range(0, 360, 30), size=side, radius=0.25, luminance="matched",
                     device=device)
    circles = shapes("circle", [round(side * f) for f in (0.04, 0.07, 0.1, 0.15, 0.22, 0.32,
                                                          0.45, 0.64)], size=side, device=device)
    # channels="auto": the default layers may mix layouts (ConvNeXt, Swin), and tokens (ViT)
    colour = sweep(net, discs, layers, reduce="foreground", channels="auto")
    size = sweep(net, circles, layers, reduce="centre", channels="auto")
    shares = {k: colour.tuning("hue", k).fraction_selective(MIN_INDEX) for k in colour}
    size_tunings = [size.tuning("size", k, scale="log") for k in size]
    medians = {t.layer: median_preferred(t.preferred(), log=True) for t in size_tunings}
    lines = ["colour-selective kernels (index >= 0.3): "
             + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()),
             "median preferred size (centre response): "
             + ", ".join(f"{k} {v:.0f} px" for k, v in medians.items())]
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
