"""Root conftest: the test suite never touches the network, and uses the CPU unless asked."""

import os

# Weights come from the hub cache, weight directories or installed packages; never a download.
os.environ.setdefault("ACTASSERT_OFFLINE", "1")
# Matplotlib must never try to open a window in CI.
os.environ.setdefault("MPLBACKEND", "Agg")
