"""Which modules compute differently in train and eval mode, and which of a model are in train mode."""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.dropout import _DropoutNd

__all__ = ["mode_dependent", "training_mode_dependent"]


def mode_dependent(module: nn.Module) -> bool:
    """True for modules known to compute differently in train and eval mode.

    Dropout (p > 0), BatchNorm and InstanceNorm tracking running statistics, RReLU, torchvision's
    StochasticDepth, and attention or recurrent layers with dropout. A custom module reading
    ``self.training`` cannot be told apart and counts as mode-independent.

    Example:
        >>> mode_dependent(nn.BatchNorm2d(4)), mode_dependent(nn.Conv2d(3, 4, 3))
        (True, False)
    """
    if isinstance(module, _NormBase):
        return bool(module.track_running_stats)
    if isinstance(module, nn.RReLU):
        return True
    if isinstance(module, (_DropoutNd, nn.MultiheadAttention, nn.RNNBase)):
        return float(getattr(module, "p", getattr(module, "dropout", 0.0))) > 0
    return type(module).__name__ == "StochasticDepth" and float(getattr(module, "p", 0)) > 0


def training_mode_dependent(module: nn.Module) -> list[str]:
    """The names of ``module``'s mode-dependent submodules that are in train mode.

    Example:
        >>> training_mode_dependent(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout()).train())
        ['1']
    """
    return [name or "(root)" for name, m in module.named_modules()
            if m.training and mode_dependent(m)]
