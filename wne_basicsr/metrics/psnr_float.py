"""Float PSNR (docs/method.md §5.1): −10·log10(MSE) on [0, 1] tensors, no quantisation and no border crop."""
from __future__ import annotations

import torch
from basicsr.utils.registry import METRIC_REGISTRY
from torch import Tensor

MIN_MSE = 1e-10  # caps identical images at 100 dB instead of inf


def psnr_db(x: Tensor, ref: Tensor, clamp: bool = False) -> Tensor:
    """Float64 PSNR (peak 1) of each image of B×C×H×W ``x`` (a C×H×W image counts as one) against ``ref``;
    ``x`` is clamped to [0, 1] first when asked (outputs), never otherwise (noisy inputs)."""
    x, ref = (t if t.dim() == 4 else t[None] for t in (x.double(), ref.double()))
    mse = ((x.clamp(0, 1) if clamp else x) - ref).flatten(1).square().mean(dim=1)
    return -10 * torch.log10(mse.clamp_min(MIN_MSE))


@METRIC_REGISTRY.register()
def calculate_psnr_float(img: Tensor, img2: Tensor, **kwargs) -> float:
    """Mean over the batch of per-image float PSNR between ``img`` (clamped to [0, 1]) and ``img2``, peak 1."""
    return float(psnr_db(img, img2, clamp=True).mean())


calculate_psnr_float.takes_tensors = True
