"""The paper's SSIM (docs/method.md §5.2): ×255 floats clamped to [0, 255], 7×7 uniform window, sample covariance,
3-pixel border crop (scikit-image's defaults)."""
from __future__ import annotations

from basicsr.utils.registry import METRIC_REGISTRY
from skimage.metrics import structural_similarity
from torch import Tensor


def paper_ssim(x: Tensor, ref: Tensor) -> float:
    """SSIM of one C×H×W image in [0, 1] (values outside are clamped) against its reference, mean over channels."""
    a, b = ((t.detach().double().cpu() * 255).clamp(0, 255).numpy() for t in (x, ref))
    if a.shape[0] == 1:
        return float(structural_similarity(a[0], b[0], data_range=255))
    return float(structural_similarity(a, b, data_range=255, channel_axis=0))


@METRIC_REGISTRY.register()
def calculate_ssim_paper(img: Tensor, img2: Tensor, **kwargs) -> float:
    """Mean over the batch of the paper's SSIM between ``img`` and ``img2`` (B×C×H×W tensors in [0, 1])."""
    return sum(paper_ssim(x, y) for x, y in zip(img, img2)) / len(img)


calculate_ssim_paper.takes_tensors = True
