"""NE defect of a network (docs/method.md §5.3): how far f(a·y + b) is from a·f(y) + b over random affine draws."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from basicsr.utils.registry import METRIC_REGISTRY
from torch import Tensor, nn

from wne_basicsr.data.noise import seeded_generator
from wne_basicsr.errors import OptionError
from wne_basicsr.inference.forward import eval_mode, whole_image_forward
from wne_basicsr.inference.precision import autocast, tf32_disabled


def ne_defect(net: nn.Module, x: Tensor, num_affine: int = 8, a_range: Sequence[float] = (0.5, 1.5),
              b_range: Sequence[float] = (-0.25, 0.25), tau: float = 1e-6,
              generator: torch.Generator | None = None, dtype: torch.dtype | None = None) -> float:
    """Mean over the instances of ``x`` and ``num_affine`` draws of ‖f(a·y+b) − (a·f(y)+b)‖ / (‖a·f(y)+b‖ + τ).

    a ~ U(a_range) and b ~ U(b_range) ([0, 1] units) are drawn per (instance, draw) on the CPU from ``generator``.
    Eval mode, nothing clamped, TF32 off; norms are taken per instance in float64. The forward passes run in float32
    whatever the caller's context (autocast off inside, half-precision ``x`` cast up), or under autocast in ``dtype``
    (bf16 / fp16) when it is given, to measure what that precision costs.
    """
    if num_affine < 1:
        raise OptionError(f'ne_defect: num_affine must be >= 1, got {num_affine}')
    a_lo, a_hi = (float(v) for v in a_range)
    b_lo, b_hi = (float(v) for v in b_range)
    shape = (num_affine, x.shape[0], 1, 1, 1)
    a = a_lo + (a_hi - a_lo) * torch.rand(shape, generator=generator)
    b = b_lo + (b_hi - b_lo) * torch.rand(shape, generator=generator)
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    ratios = []
    with tf32_disabled(), eval_mode(net), autocast(x.device, dtype):
        fy = whole_image_forward(net, x).double()
        for a_k, b_k in zip(a.to(x.device), b.to(x.device)):
            target = a_k.double() * fy + b_k.double()
            moved = whole_image_forward(net, a_k.to(x.dtype) * x + b_k.to(x.dtype)).double()
            error = (moved - target).flatten(1).norm(dim=1)
            ratios.append(error / (target.flatten(1).norm(dim=1) + tau))
    return float(torch.cat(ratios).mean())


@METRIC_REGISTRY.register()
def calculate_ne_defect(img: object, img2: object, net: nn.Module | None = None, lq: Tensor | None = None,
                        num_affine: int = 8, a_range: Sequence[float] = (0.5, 1.5),
                        b_range: Sequence[float] = (-0.25, 0.25), tau: float = 1e-6, seed: int = 0,
                        **kwargs) -> float:
    """NE defect of the bare network ``net`` on the noisy input ``lq`` (lower is better; ``img``/``img2`` unused).

    The affine draws are seeded by (seed, 'ne'), so every validation pass uses the same draws.
    """
    if net is None or lq is None:
        raise ValueError('calculate_ne_defect needs net= (the bare network) and lq= (the noisy input tensor)')
    return ne_defect(net, lq, int(num_affine), a_range, b_range, float(tau), seeded_generator(seed, 'ne'))


calculate_ne_defect.needs_network = True
calculate_ne_defect.better = 'lower'
