"""Noise families with unit standard deviation, σ options in 8-bit units, and seeded draws (docs/method.md §3.1).

y = x + (σ/255)·ε with ε i.i.d. of unit std. Gaussian, Laplace and uniform noise have zero mean. Rayleigh noise is
deliberately **not re-centred**: it has unit std and mean +1.9131 (the paper's Rayleigh experiment depends on it).
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from wne_basicsr.errors import OptionError

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
    raise OptionError(f'option noise: unknown noise type {noise_type!r}; expected one of {NOISE_TYPES}')


@dataclass(frozen=True)
class NoiseSpec:
    """A noise family with a fixed σ or a σ range drawn uniformly per sample, σ in 8-bit units; or, for evaluation
    sets only, JPEG at a ``quality`` (``{type: jpeg, quality: q}``)."""

    type: str = 'gaussian'
    sigma: float | None = None
    sigma_range: tuple[float, float] | None = None
    quality: int | None = None

    @classmethod
    def from_opt(cls, opt: Mapping | None, where: str = 'noise') -> NoiseSpec:
        """Build from an options dict ``{type, sigma}`` or ``{type, sigma_range: [lo, hi]}``, validating it."""
        if not isinstance(opt, Mapping):
            raise OptionError(f'{where}: expected a dict like {{type: gaussian, sigma: 25}}, got {opt!r}')
        unknown = set(opt) - {'type', 'sigma', 'sigma_range', 'quality'}
        if unknown:
            raise OptionError(f'{where}: unknown keys {sorted(unknown)}; expected type, sigma or sigma_range (jpeg: '
                              'quality)')
        noise_type = opt.get('type', 'gaussian')
        if noise_type == 'jpeg':
            if set(opt) - {'type', 'quality'}:
                raise OptionError(f'{where}: jpeg takes only a quality ({{type: jpeg, quality: 85}}), no sigma')
            return cls('jpeg', quality=check_quality(opt.get('quality'), f'{where}.quality'))
        if noise_type not in NOISE_TYPES:
            raise OptionError(f'{where}.type: unknown noise type {noise_type!r}; expected one of {NOISE_TYPES} '
                              '(or jpeg, for evaluation sets)')
        if 'quality' in opt:
            raise OptionError(f'{where}.quality applies to type jpeg only')
        sigma, sigma_range = opt.get('sigma'), opt.get('sigma_range')
        if (sigma is None) == (sigma_range is None):
            raise OptionError(f'{where}: give exactly one of "sigma" (fixed) or "sigma_range" ([lo, hi]), 8-bit units')
        if sigma is not None:
            sigma = _number(sigma, f'{where}.sigma')
            if sigma < 0:
                raise OptionError(f'{where}.sigma must be >= 0 (8-bit units), got {sigma}')
            return cls(noise_type, sigma, None)
        if not isinstance(sigma_range, (list, tuple)) or len(sigma_range) != 2:
            raise OptionError(f'{where}.sigma_range must be [lo, hi] in 8-bit units, got {sigma_range!r}')
        lo, hi = (_number(v, f'{where}.sigma_range') for v in sigma_range)
        if lo < 0 or lo > hi:
            raise OptionError(f'{where}.sigma_range must satisfy 0 <= lo <= hi, got [{lo}, {hi}]')
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


def check_quality(value: object, where: str) -> int:
    """A JPEG quality: an integer in [1, 100]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise OptionError(f'{where} must be a JPEG quality, an integer in [1, 100], got {value!r}')
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionError(f'{where} must be a number (8-bit units), got {value!r}')
    return float(value)


def seeded_generator(*parts: object) -> torch.Generator:
    """A CPU generator seeded with 63 bits of SHA-256 of ``'|'.join(parts)``: stable across runs and machines."""
    digest = hashlib.sha256('|'.join(str(p) for p in parts).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], 'big') >> 1)


class TrainingStream:
    """Mixin of the training datasets: the random stream of crops, flips and noise of one process.

    The stream is seeded by (dataset, ``seed`` option or else torch's seed, distributed rank, epoch, the iteration the
    pass over the data starts at, DataLoader worker): DDP ranks and workers draw different samples, every epoch draws
    new ones, and a resumed run draws new ones rather than replaying the start of its epoch. What ``seed`` guarantees:
    the same options, world size and worker count give the same data, run after run.
    """

    def init_stream(self, seed: int | None) -> None:
        """Remember the ``seed`` option and the rank (datasets are built in the main process, after init_dist)."""
        self._stream_seed = seed
        self._stream_rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self._stream_start = (0, 0)
        self._generator: torch.Generator | None = None

    def set_stream(self, epoch: int, iteration: int) -> None:
        """Start the stream of the pass over the data that begins at ``epoch`` and ``iteration`` (the training loop
        calls it before each pass)."""
        self._stream_start = (int(epoch), int(iteration))
        self._generator = None

    def generator(self) -> torch.Generator:
        """This process's random stream (made on first use, so each DataLoader worker seeds its own)."""
        if self._generator is None:
            info = torch.utils.data.get_worker_info()
            base = self._stream_seed if self._stream_seed is not None else torch.initial_seed()
            self._generator = seeded_generator(type(self).__name__, base, self._stream_rank, *self._stream_start,
                                               info.id if info is not None else -1)
        return self._generator


def eval_noisy(clean: Tensor, noise_type: str, sigma: float, stem: str, seed: int = 0, draw: int = 0) -> Tensor:
    """The deterministic noisy copy ``draw`` of an evaluation image (seeded by seed, image stem, σ, draw; §5.1)."""
    generator = seeded_generator(seed, stem, f'{float(sigma):.6f}', draw)
    return clean + float(sigma) / 255.0 * unit_noise(noise_type, clean.shape, generator)
