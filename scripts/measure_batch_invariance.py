"""Measure how much CPU activations differ between batch sizes (rounding only, eval mode).

Runs 4 random 224x224 images as one batch and one at a time through ResNet-18 (random init,
seed 0) and MobileNetV2 (ImageNet weights, offline), every module recorded, and prints each
network's largest difference relative to the layer's largest magnitude: the figure behind
assert_batch_invariant's default CPU tolerance (rtol=1e-4 for float32).

    python scripts/measure_batch_invariance.py
"""

from __future__ import annotations

import torch

from actassert import load_model
from actassert.invariance import batch_differences, default_tolerance

MODELS = [("resnet18", None), ("mobilenet_v2", "IMAGENET1K_V1")]


def main() -> None:
    images = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    rtol, _ = default_tolerance("batch", "cpu", torch.float32)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; default rtol {rtol:g}")
    for name, weights in MODELS:
        net = load_model(name, weights=weights, device="cpu")
        found = batch_differences(net, images)
        layer, worst = max(found.items(), key=lambda kv: kv[1])
        differing = sum(1 for v in found.values() if v > 0)
        print(f"{name}: max relative difference {worst:.3g} at {layer!r}; "
              f"{differing} of {len(found)} recorded tensors differ at all")


if __name__ == "__main__":
    main()
