"""Noise families with unit standard deviation, σ options in 8-bit units, and seeded draws (METHOD.md §3.1).

y = x + (σ/255)·ε with ε i.i.d. of unit std. Gaussian, Laplace and uniform noise have zero mean. Rayleigh noise is
deliberately **not re-centred**: it has unit std and mean +1.9131 (the paper's Rayleigh experiment depends on it).
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

_RAYLEIGH_STD = math.sqrt((4 - math.pi) / 2)
NOISE_MEANS = {'gaussian': 0.0, 'laplace': 0.0, 'uniform': 0.0, 'rayleigh': math.sqrt(math.pi / 2) / _RAYLEIGH_STD}
NOISE_TYPES = tuple(NOISE_MEANS)


def unit_noise(noise_type: str, shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None = None,
               device: torch.device | str = 'cpu') -> Tensor:
    """Float32 noise of unit standard deviation of one family (mean as in ``NOISE_MEANS``)."""
    if noise_type == 'gaussian':
        return torch.randn(shape, generator=generator, device=device)
    u = torch.rand(shape, generator=generator, device=device)
    if noise_type == 'uniform':
        return (2 * u - 1) * math.sqrt(3)
    if noise_type == 'laplace':
        centred = u - 0.5  # Laplace(0, 1) by the inverse CDF, then divided by √2 for unit std
        tail = (1 - 2 * centred.abs()).clamp_min(torch.finfo(torch.float32).tiny)
        return -torch.sign(centred) * torch.log(tail) / math.sqrt(2)
    if noise_type == 'rayleigh':
        v = (1 - u).clamp_min(torch.finfo(torch.float32).tiny)
        return torch.sqrt(-2 * torch.log(v)) / _RAYLEIGH_STD
    raise ValueError(f'Unknown noise type {noise_type!r}; expected one of {NOISE_TYPES}')


@dataclass(frozen=True)
class NoiseSpec:
    """A noise family with a fixed σ or a σ range drawn uniformly per sample, σ in 8-bit units."""

    type: str = 'gaussian'
    sigma: float | None = None
    sigma_range: tuple[float, float] | None = None

    @classmethod
    def from_opt(cls, opt: Mapping | None, where: str = 'noise') -> NoiseSpec:
        """Build from an options dict ``{type, sigma}`` or ``{type, sigma_range: [lo, hi]}``, validating it."""
        if not isinstance(opt, Mapping):
            raise ValueError(f'{where}: expected a dict like {{type: gaussian, sigma: 25}}, got {opt!r}')
        unknown = set(opt) - {'type', 'sigma', 'sigma_range'}
        if unknown:
            raise ValueError(f'{where}: unknown keys {sorted(unknown)}; expected type, sigma or sigma_range')
        noise_type = opt.get('type', 'gaussian')
        if noise_type not in NOISE_TYPES:
            raise ValueError(f'{where}.type: unknown noise type {noise_type!r}; expected one of {NOISE_TYPES}')
        sigma, sigma_range = opt.get('sigma'), opt.get('sigma_range')
        if (sigma is None) == (sigma_range is None):
            raise ValueError(f'{where}: give exactly one of "sigma" (fixed) or "sigma_range" ([lo, hi]), 8-bit units')
        if sigma is not None:
            sigma = _number(sigma, f'{where}.sigma')
            if sigma < 0:
                raise ValueError(f'{where}.sigma must be >= 0 (8-bit units), got {sigma}')
            return cls(noise_type, sigma, None)
        if not isinstance(sigma_range, (list, tuple)) or len(sigma_range) != 2:
            raise ValueError(f'{where}.sigma_range must be [lo, hi] in 8-bit units, got {sigma_range!r}')
        lo, hi = (_number(v, f'{where}.sigma_range') for v in sigma_range)
        if lo < 0 or lo > hi:
            raise ValueError(f'{where}.sigma_range must satisfy 0 <= lo <= hi, got [{lo}, {hi}]')
        return cls(noise_type, None, (lo, hi))

    def sample_sigma(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` σ values in 8-bit units: the fixed σ, or U[lo, hi] draws."""
        if self.sigma is not None:
            return torch.full((n,), float(self.sigma))
        lo, hi = self.sigma_range
        return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64).float()

    def add(self, clean: Tensor, sigma: float | Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``clean + σ/255·ε`` for one C×H×W instance or a batch (σ per sample); never clipped."""
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        if clean.dim() == 4 and sigma.dim() == 1:
            sigma = sigma.view(-1, 1, 1, 1)
        return clean + sigma / 255.0 * unit_noise(self.type, clean.shape, generator)

    @property
    def tag(self) -> str:
        """Short text naming the family and σ, for logs and file names."""
        level = f'{self.sigma:g}' if self.sigma is not None else f'{self.sigma_range[0]:g}-{self.sigma_range[1]:g}'
        return f'{self.type}{level}'


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{where} must be a number (8-bit units), got {value!r}')
    return float(value)


def seeded_generator(*parts: object) -> torch.Generator:
    """A CPU generator seeded with 63 bits of SHA-256 of ``'|'.join(parts)``: stable across runs and machines."""
    digest = hashlib.sha256('|'.join(str(p) for p in parts).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], 'big') >> 1)


def worker_generator(name: str, seed: int | None = None) -> torch.Generator:
    """A training stream for this process (DataLoader worker or main): from ``seed`` if given, else torch's seed."""
    info = torch.utils.data.get_worker_info()
    base = seed if seed is not None else torch.initial_seed()
    return seeded_generator(name, base, info.id if info is not None else -1)


def eval_noisy(clean: Tensor, noise_type: str, sigma: float, stem: str, seed: int = 0, draw: int = 0) -> Tensor:
    """The deterministic noisy copy ``draw`` of an evaluation image (seeded by seed, image stem, σ, draw; §5.1)."""
    generator = seeded_generator(seed, stem, f'{float(sigma):.6f}', draw)
    return clean + float(sigma) / 255.0 * unit_noise(noise_type, clean.shape, generator)
