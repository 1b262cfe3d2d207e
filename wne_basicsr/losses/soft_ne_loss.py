"""Soft-NE (docs/method.md §3.2): per sample α ~ U[alpha] and m ~ U[mu]; train on L = loss(f(α·y + m), α·t + m).

There is no 1/α² weighting and no inversion inside the loss; logged metrics use (out − m)/max(α, eps).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from wne_basicsr.errors import OptionError


def _range(value: object, where: str) -> tuple[float, float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise OptionError(f'{where} must be [lo, hi] (two numbers), got {value!r}')
    lo, hi = float(value[0]), float(value[1])
    if lo > hi:
        raise OptionError(f'{where} must satisfy lo <= hi, got [{lo}, {hi}]')
    return lo, hi


@dataclass(frozen=True)
class SoftNE:
    """Random per-sample affine maps y ↦ α·y + m, drawn from torch's RNG (or a given generator)."""

    alpha: tuple[float, float] = (0.0, 1.0)
    mu: tuple[float, float] = (0.0, 1.0)
    eps: float = 1e-6

    @classmethod
    def from_opt(cls, opt: Mapping | None, where: str = 'train.soft_ne') -> SoftNE | None:
        """Build from ``{alpha: [lo, hi], mu: [lo, hi]}`` (both default to [0, 1]); None when the option is absent."""
        if opt is None:
            return None
        if not isinstance(opt, Mapping):
            raise OptionError(f'{where}: expected a dict like {{alpha: [0, 1], mu: [0, 1]}}, got {opt!r}')
        unknown = set(opt) - {'alpha', 'mu'}
        if unknown:
            raise OptionError(f'{where}: unknown keys {sorted(unknown)}; expected alpha and mu')
        alpha = _range(opt.get('alpha', [0, 1]), f'{where}.alpha')
        if alpha[0] < 0:
            raise OptionError(f'{where}.alpha must be >= 0 (a contrast), got {list(alpha)}')
        return cls(alpha, _range(opt.get('mu', [0, 1]), f'{where}.mu'))

    def draw(self, batch: int, device: torch.device | str = 'cpu',
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """α and m for ``batch`` samples, each shaped B×1×1×1."""
        u = torch.rand(2, batch, 1, 1, 1, generator=generator, device=device)
        alpha = self.alpha[0] + (self.alpha[1] - self.alpha[0]) * u[0]
        return alpha, self.mu[0] + (self.mu[1] - self.mu[0]) * u[1]

    @staticmethod
    def apply(x: Tensor, alpha: Tensor, m: Tensor) -> Tensor:
        """α·x + m, per sample."""
        return alpha * x + m

    def invert(self, x: Tensor, alpha: Tensor, m: Tensor) -> Tensor:
        """(x − m)/max(α, eps): an output mapped back to the untransformed scale, for logged metrics."""
        return (x - m) / alpha.clamp_min(self.eps)
