"""Degraded copies of evaluation images: seeded noise of a family at σ, or JPEG at a quality (docs/method.md §3.1).

JPEG is an evaluation-only degradation: the clean image is rounded to 8 bits, then encoded and decoded by OpenCV's
libjpeg at quality q (deterministic, no seed). Colour images go through OpenCV in BGR order, as JPEG files expect.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from wne_basicsr.data.noise import NOISE_TYPES, eval_noisy

JPEG = 'jpeg'
DEGRADATIONS = (*NOISE_TYPES, JPEG)


def level_column(degradation: str) -> str:
    """The sweep CSV column holding a degradation's level: ``quality`` for JPEG, else ``sigma_8bit``."""
    return 'quality' if degradation == JPEG else 'sigma_8bit'


def jpeg_degrade(clean: Tensor, quality: int) -> Tensor:
    """The C×H×W image ``clean`` in [0, 1] rounded to uint8, JPEG-encoded and decoded at ``quality``, in [0, 1]."""
    img = (clean.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    img = img[..., 0] if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode('.jpg', np.ascontiguousarray(img), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f'OpenCV could not JPEG-encode a {tuple(clean.shape)} image at quality {quality}')
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    decoded = decoded[..., None] if decoded.ndim == 2 else cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return torch.from_numpy(np.ascontiguousarray(decoded.transpose(2, 0, 1))).float().div(255).to(clean.device)


def degraded_copy(clean: Tensor, degradation: str, level: float, stem: str, seed: int = 0, draw: int = 0) -> Tensor:
    """Copy ``draw`` of an evaluation image: seeded noise of family ``degradation`` at σ = ``level`` (8-bit units), or
    JPEG at quality ``level``."""
    if degradation == JPEG:
        return jpeg_degrade(clean, int(level))
    return eval_noisy(clean, degradation, level, stem, seed, draw)
