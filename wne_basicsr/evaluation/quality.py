"""The measurements of a sweep point (docs/method.md §5.1–5.3): input and output PSNR, SSIM and the NE defect over
the seeded noisy copies of each image."""
from __future__ import annotations

import numpy as np
import torch
from basicsr.metrics import calculate_psnr, calculate_ssim
from torch import Tensor, nn

from wne_basicsr.data.degradations import degraded_copy
from wne_basicsr.data.noise import seeded_generator
from wne_basicsr.evaluation.sweep_config import NEDefectSpec
from wne_basicsr.inference.forward import whole_image_forward
from wne_basicsr.inference.precision import autocast, batch_format
from wne_basicsr.metrics.ne_defect import ne_defect
from wne_basicsr.metrics.psnr_float import psnr_db
from wne_basicsr.metrics.ssim_paper import paper_ssim

QUALITY_COLUMNS = ('input_psnr_db', 'psnr_float_db', 'psnr_uint8_db', 'ssim', 'ssim_uint8')


def uint8_metrics(out: Tensor, clean: Tensor) -> tuple[float, float]:
    """BasicSR's PSNR and SSIM (11×11 Gaussian) of round(clamp(out)·255) against the uint8 ground truth (crop 0)."""
    out8, clean8 = ((t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy() for t in (out, clean))
    return float(calculate_psnr(out8, clean8, crop_border=0)), float(calculate_ssim(out8, clean8, crop_border=0))


def evaluate_quality(net: nn.Module, images: list[tuple[str, Tensor]], noise: str, level: float, n_averages: int,
                     seed: int = 0, batch_size: int = 8, device: torch.device | str = 'cpu',
                     dtype: torch.dtype | None = None, channels_last: bool = False) -> dict[str, float]:
    """Input PSNR, float/uint8 PSNR, paper/uint8 SSIM at one σ (or JPEG quality) ``level``: mean over draws
    k < ``n_averages``, then images.

    The network runs under autocast in ``dtype`` (None: fp32), on channels-last batches if asked.
    """
    per_image = []
    for stem, clean in images:
        noisy = torch.stack([degraded_copy(clean, noise, level, stem, seed, k) for k in range(n_averages)])
        with autocast(device, dtype):
            out = torch.cat([whole_image_forward(net, batch_format(chunk.to(device), channels_last)).float().cpu()
                             for chunk in noisy.split(batch_size)]).clamp(0, 1)
        ref = clean.expand_as(noisy)
        psnr8, ssim8 = np.mean([uint8_metrics(o, clean) for o in out], axis=0)
        per_image.append([float(psnr_db(noisy, ref).mean()), float(psnr_db(out, ref).mean()), psnr8,
                          float(np.mean([paper_ssim(o, clean) for o in out])), ssim8])
    return dict(zip(QUALITY_COLUMNS, (float(v) for v in np.mean(per_image, axis=0))))


def evaluate_ne_defect(net: nn.Module, images: list[tuple[str, Tensor]], noise: str, level: float,
                       spec: NEDefectSpec, seed: int = 0, device: torch.device | str = 'cpu') -> dict[str, float]:
    """Mean NE defect over images (K affine draws on degraded copy 0, seeded by (seed, stem, level, 0, 'ne')) and its
    count."""
    values = []
    for stem, clean in images[:spec.max_images]:
        noisy = degraded_copy(clean, noise, level, stem, seed, 0)[None].to(device)
        generator = seeded_generator(seed, stem, f'{float(level):.6f}', 0, 'ne')
        values.append(ne_defect(net, noisy, spec.num_affine, spec.a_range, spec.b_range, spec.tau, generator))
    return {'ne_defect': float(np.mean(values)), 'ne_evaluations': len(values) * spec.num_affine}
