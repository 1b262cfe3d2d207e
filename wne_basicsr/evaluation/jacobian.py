"""A denoiser read as a locally adaptive filter: Jacobian rows ∂f(y)_p/∂y and the non-linearity ratio ρ (§7).

For an exactly NE denoiser every Jacobian row sums to 1 (f(y + b·1) = f(y) + b·1) and J_f(y)·y = f(y) (Euler's
relation for a positively 1-homogeneous map), so ρ(y) = ‖f(y) − J_f(y)·y‖ / ‖f(y)‖ = 0: at every input it is a linear
filter with weights that adapt to the input. Everything runs in float32 with TF32 off; pass networks in eval mode.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wne_basicsr.inference.forward import padded_forward
from wne_basicsr.inference.precision import tf32_disabled


def _single(y: Tensor) -> Tensor:
    """``y`` as one float32 1×C×H×W instance, detached."""
    if y.dim() == 3:
        y = y[None]
    if y.dim() != 4 or y.shape[0] != 1:
        raise ValueError(f'expected one C×H×W image (or a 1×C×H×W batch), got shape {tuple(y.shape)}')
    return y.detach().float()


def jacobian_rows(net: nn.Module, y: Tensor, pixels: Sequence[Sequence[int]], channel: int = 0) -> Tensor:
    """Rows ∂f(y)[channel, r, c]/∂y for each (r, c) of ``pixels`` by vector-Jacobian products: P×C×H×W."""
    y = _single(y).requires_grad_(True)
    height, width = y.shape[-2:]
    for row, col in pixels:
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(f'pixel ({row}, {col}) lies outside the {height}×{width} input')
    with tf32_disabled(), torch.enable_grad():
        out = padded_forward(net, y).float()
        rows = [torch.autograd.grad(out[0, channel, row, col], y, retain_graph=True)[0][0]
                for row, col in pixels]
    return torch.stack(rows)


def euler_terms(net: nn.Module, y: Tensor) -> tuple[Tensor, Tensor]:
    """f(y) and J_f(y)·y, by one forward-mode Jacobian-vector product (``torch.func.jvp``), both 1×C×H×W."""
    y = _single(y)
    with tf32_disabled(), torch.no_grad(), warnings.catch_warnings():
        # torch's forward-mode AD builds its own decompositions with torch.jit.script, which torch itself deprecates
        warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
        out, tangent = torch.func.jvp(lambda x: padded_forward(net, x).float(), (y,), (y,))
    return out.detach(), tangent.detach()


def nonlinearity_ratio(out: Tensor, tangent: Tensor) -> float:
    """ρ = ‖f(y) − J_f(y)·y‖ / ‖f(y)‖ from the two terms of ``euler_terms`` (norms in float64)."""
    return float((out.double() - tangent.double()).norm() / out.double().norm())


def jvp_ratio(net: nn.Module, y: Tensor) -> float:
    """The non-linearity ratio ρ(y) of ``net`` at the image ``y``: 0 for a positively 1-homogeneous map."""
    return nonlinearity_ratio(*euler_terms(net, y))
