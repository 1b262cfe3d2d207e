"""Float PSNR (docs/method.md §5.1): −10·log10(MSE) on [0, 1] tensors, no quantisation and no border crop."""
from __future__ import annotations

import torch
from basicsr.utils.registry import METRIC_REGISTRY
from torch import Tensor

MIN_MSE = 1e-10  # caps identical images at 100 dB instead of inf


@METRIC_REGISTRY.register()
def calculate_psnr_float(img: Tensor, img2: Tensor, **kwargs) -> float:
    """Mean over the batch of per-image float PSNR between ``img`` (clamped to [0, 1]) and ``img2``, peak 1."""
    mse = (img.float().clamp(0, 1) - img2.float()).flatten(1).square().mean(dim=1)
    return float((-10 * torch.log10(mse.clamp_min(MIN_MSE))).mean())


calculate_psnr_float.takes_tensors = True
