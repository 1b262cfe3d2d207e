"""Layers that commute with y ↦ a·y + b: bias-free BatchNorm (scale only), affine convolution and sort pooling."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BiasFreeBatchNorm2d(nn.Module):
    """Scale-only batch norm: x / (√var + eps) · weight, no mean subtraction and no bias (docs/method.md §2.1).

    Deliberately not a ``nn.BatchNorm2d`` subclass, so ``convert_sync_batchnorm`` never replaces it.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.register_buffer('running_var', torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            var = x.transpose(0, 1).flatten(1).var(dim=1, correction=1)
            with torch.no_grad():
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var.detach())
        else:
            var = self.running_var
        return x / (var.sqrt() + self.eps).view(1, -1, 1, 1) * self.weight.view(1, -1, 1, 1)


class AffineConv2d(nn.Module):
    """Bias-free convolution whose kernels sum to one (roll(w) − w + 1/n), after reflect padding: exactly NE."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def affine_kernel(self) -> Tensor:
        """Kernels K[j] = w[j−1 mod n] − w[j] + 1/n per output channel (flattened row-major over in, kh, kw)."""
        flat = self.weight.flatten(1)
        kernel = torch.roll(flat, shifts=1, dims=1) - flat + 1.0 / flat.shape[1]
        return kernel.view_as(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        if self.padding:
            p = self.padding
            x = F.pad(x, (p, p, p, p), mode='reflect' if min(x.shape[-2:]) > p else 'replicate')
        return F.conv2d(x, self.affine_kernel())


class SortPool(nn.Module):
    """Sorts adjacent channel pairs (2k, 2k+1) into (min, max): an NE replacement for ReLU."""

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] % 2:
            raise ValueError(f'SortPool needs an even number of channels, got {x.shape[1]}')
        pairs = x.unflatten(1, (-1, 2))
        u1, u2 = pairs[:, :, 0], pairs[:, :, 1]
        gap = F.relu(u1 - u2)
        return torch.stack((u1 - gap, u2 + gap), dim=2).flatten(1, 2)
