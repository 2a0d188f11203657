"""The macaque V1 numbers the study is read beside (layer 7): references drawn on the depth plots
and saved in ``summary.json``, never pass/fail."""

from __future__ import annotations

from typing import Any

__all__ = ["REFERENCES", "REFERENCE_LINES"]

#: Macaque V1 reference numbers drawn on the depth plots: references, not pass/fail.
REFERENCES: dict[str, dict[str, Any]] = {
    "circular_variance": {
        "median": 0.60, "quartiles": [0.33, 0.79], "cells": 300,
        "source": "Ringach, Shapley & Hawken 2002, J Neurosci 22:5639 (macaque V1, n about "
                  "300; median and quartiles from a third-party digitisation of the histogram, "
                  "eshedmargalit/p250: approximate)"},
    "suppression": {
        "median": 0.33, "share_at_least_0.1": 0.78, "cells": 190,
        "source": "Cavanaugh, Bair & Movshon 2002, J Neurophysiol 88:2530 (macaque V1, 190 "
                  "cells, from the histograms in Brain-Score's marques_cavanaugh2002a.py)"},
    "gsf_px": {
        "median": 22.0,
        "source": "Cavanaugh et al. 2002: median summation field about 0.8 degrees, about 22 px "
                  "at Brain-Score's 8-degree field over 224 px (28 px per degree)"},
}

#: The lines drawn on the depth plots, by experiment: 1 − CV for orientation (the index axis),
#: the summation field in px for size (the preferred-size axis).
REFERENCE_LINES: dict[str, tuple[float, str]] = {
    "orientation": (round(1 - REFERENCES["circular_variance"]["median"], 2),
                    "macaque V1 median 1 − CV {:.2f} (Ringach 2002)"),
    "size": (REFERENCES["gsf_px"]["median"],
             "macaque V1 median summation field ≈ {:g} px (Cavanaugh 2002)"),
}
