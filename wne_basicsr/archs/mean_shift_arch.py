"""MeanShift: a wrapper that subtracts a mean before its backbone and adds it back, with no scaling.

``mean: image`` removes each image's own mean (exactly translation-equivariant: f(x + b) = f(x) + b); a number removes
that fixed value (what SwinIR does with the dataset mean for RGB input, and not for one channel).
"""
from __future__ import annotations

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import Tensor, nn

from wne_basicsr.archs.wrapper_arch import _NormalizingWrapper, compute_dtype
from wne_basicsr.errors import OptionError


@ARCH_REGISTRY.register()
class MeanShift(_NormalizingWrapper):
    """f(x) = g(x − m) + m (direct) or x − g(x − m) (residual); m is each image's mean (``image``) or a number."""

    def __init__(self, backbone: dict | nn.Module | None = None, mean: float | str = 'image',
                 pred_mode: str = 'direct', pad_multiple: int | None = None) -> None:
        if mean != 'image' and (isinstance(mean, bool) or not isinstance(mean, (int, float))):
            raise OptionError(f'MeanShift: mean must be "image" (each image\'s own mean) or a number in the images\' '
                              f'range (e.g. 0.434, the mean of Train400), got {mean!r}')
        super().__init__(backbone, pred_mode, 'population', pad_multiple)
        self.mean = mean

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.to(compute_dtype(x))
            if self.mean == 'image':
                shift = xf.flatten(1).mean(dim=1).view(-1, 1, 1, 1)
            else:
                shift = torch.full((xf.shape[0], 1, 1, 1), float(self.mean), dtype=xf.dtype, device=xf.device)
            return xf - shift, (shift,)

    def denormalize(self, g: Tensor, x: Tensor, stats: tuple[Tensor, ...]) -> Tensor:
        (shift,) = stats
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.to(compute_dtype(x))
            gf = g.to(xf.dtype)
            return (gf + shift if self.pred_mode == 'direct' else xf - gf).to(x.dtype)

    def extra_repr(self) -> str:
        return f'mean={self.mean!r}, pred_mode={self.pred_mode}, pad_multiple={self.pad_multiple}'
