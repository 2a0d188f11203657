"""The study behind ``actassert tutorial``: colour, size and orientation across depth, as a report (layer 7).

``run_tutorial(net, out)`` sweeps the stimuli of :class:`Design` through activation layers spread
over the network (``default_layers``) and writes the figures, ``summary.json`` (every number of
the page) and ``report.html``; ``measure`` gives the numbers alone, without figures.
"""

from actassert._support.progress import Progress
from actassert.layer_choice import ACTIVATIONS, default_layers
from actassert.tutorial.design import Design
from actassert.tutorial.measure import Measured, measure
from actassert.tutorial.run import Report, run_tutorial

__all__ = ["ACTIVATIONS", "Design", "Measured", "Progress", "Report", "default_layers", "measure",
           "run_tutorial"]
