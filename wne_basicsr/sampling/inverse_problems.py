"""The sampler's measurement operators as orthogonal projectors on B×C×H×W images (docs/method.md §6).

Each problem measures x_c = P·x★ for an orthogonal projector P (self-adjoint, idempotent) onto the measured subspace;
the sampler explores the complement (I − P). Masks act on every channel alike.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from wne_basicsr.errors import OptionError

MISSING_SEED_STRIDE = 1_000_003  # random_missing mask seed = seed + stride·(image_index + 1)


class Projector:
    """An orthogonal projector P on images; ``measure`` gives the measurements x_c = P·x★."""

    def __call__(self, v: Tensor) -> Tensor:
        raise NotImplementedError

    def complement(self, v: Tensor) -> Tensor:
        """(I − P)·v, the part of ``v`` the measurements say nothing about."""
        return v - self(v)

    def measure(self, clean: Tensor) -> Tensor:
        """The measured component x_c = P·x★ of clean images."""
        return self(clean)


class ZeroProjector(Projector):
    """P = 0: denoising, where nothing is measured exactly (x_c = 0)."""

    def __call__(self, v: Tensor) -> Tensor:
        return torch.zeros_like(v)


class MaskProjector(Projector):
    """Keeps the pixels where a 0/1 mask (B or 1)×1×H×W is one: inpainting problems."""

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask.float()

    def __call__(self, v: Tensor) -> Tensor:
        self.mask = self.mask.to(v.device)
        return v * self.mask


class BlockAverageProjector(Projector):
    """Nearest upsampling of f×f block means: the projection onto block-constant images (block super-resolution)."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, v: Tensor) -> Tensor:
        h, w = v.shape[-2:]
        if h % self.factor or w % self.factor:
            raise OptionError(f'block_superres: image size {h}×{w} is not divisible by factor {self.factor}; '
                              'crop the test images to a multiple of the factor')
        return F.interpolate(F.avg_pool2d(v, self.factor), scale_factor=self.factor, mode='nearest')


class SpectralProjector(Projector):
    """real(IFFT₂(mask ⊙ FFT₂ v)) with the orthonormal FFT and a conjugate-symmetric 0/1 mask H×W."""

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask.float()

    def __call__(self, v: Tensor) -> Tensor:
        self.mask = self.mask.to(v.device)
        spectrum = torch.fft.fft2(v, norm='ortho') * self.mask
        return torch.fft.ifft2(spectrum, norm='ortho').real.to(v.dtype)


class DeblurProjector(SpectralProjector):
    """Circular Gaussian blur k: P keeps the frequencies where |K̂| > τ, measured by inverting K̂ on them."""

    def __init__(self, otf: Tensor, threshold: float) -> None:
        super().__init__(otf.abs() > threshold * otf.abs().max())
        self.otf = otf

    def blur(self, clean: Tensor) -> Tensor:
        """Circular convolution k ∗ x."""
        return torch.fft.ifft2(torch.fft.fft2(clean) * self.otf.to(clean.device)).real.to(clean.dtype)

    def measure(self, clean: Tensor) -> Tensor:
        """x_c = F⁻¹(1[|K̂| > τ]·F(k ∗ x★)/K̂): the kept frequencies recovered from the blurred image."""
        otf = self.otf.to(clean.device)
        kept = self.mask.to(clean.device) > 0
        spectrum = torch.fft.fft2(self.blur(clean)) / torch.where(kept, otf, torch.ones_like(otf))
        return torch.fft.ifft2(spectrum * kept).real.to(clean.dtype)


def center_hole_mask(height: int, width: int, fraction: float = 0.25) -> Tensor:
    """1×1×H×W mask, zero on a centred hole of round(f·H) × round(f·W) pixels."""
    h, w = round(fraction * height), round(fraction * width)
    top, left = (height - h) // 2, (width - w) // 2
    mask = torch.ones(1, 1, height, width)
    mask[..., top:top + h, left:left + w] = 0
    return mask


def random_keep_mask(height: int, width: int, keep_fraction: float, seed: int, image_index: int) -> Tensor:
    """1×1×H×W mask with u < keep_fraction, u uniform from a CPU generator seeded seed + 1,000,003·(index + 1)."""
    generator = torch.Generator().manual_seed(seed + MISSING_SEED_STRIDE * (image_index + 1))
    return (torch.rand(1, 1, height, width, generator=generator) < keep_fraction).float()


def lowpass_mask(height: int, width: int, fraction: float) -> Tensor:
    """H×W mask of the frequencies with |f|² ≤ the k-th smallest |f|², k = max(1, round(fraction·H·W))."""
    fy, fx = torch.fft.fftfreq(height, dtype=torch.float64), torch.fft.fftfreq(width, dtype=torch.float64)
    radius2 = fy[:, None] ** 2 + fx[None, :] ** 2  # even in f, hence a conjugate-symmetric mask
    k = max(1, round(fraction * height * width))
    return (radius2 <= radius2.flatten().kthvalue(k).values).float()


def gaussian_otf(height: int, width: int, blur_sigma: float) -> Tensor:
    """H×W transfer function (unnormalized DFT) of a circular Gaussian kernel of std ``blur_sigma`` pixels, sum 1."""
    dy = torch.arange(height, dtype=torch.float64)
    dx = torch.arange(width, dtype=torch.float64)
    dy, dx = torch.minimum(dy, height - dy), torch.minimum(dx, width - dx)
    kernel = torch.exp(-(dy[:, None] ** 2 + dx[None, :] ** 2) / (2 * blur_sigma ** 2))
    return torch.fft.fft2(kernel / kernel.sum()).to(torch.complex64)


def _fraction(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise OptionError(f'sampler.problem.{name} must be a number in (0, 1], got {value!r}')
    return float(value)


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        raise OptionError(f'sampler.problem.{name} must be a positive number, got {value!r}')
    return float(value)


def _denoising(size: tuple[int, int], indices: Sequence[int], seed: int) -> Projector:
    return ZeroProjector()


def _inpaint_center(size: tuple[int, int], indices: Sequence[int], seed: int, fraction: float = 0.25) -> Projector:
    return MaskProjector(center_hole_mask(*size, _fraction(fraction, 'fraction')))


def _random_missing(size: tuple[int, int], indices: Sequence[int], seed: int, keep_fraction: float = 0.1) -> Projector:
    keep = _fraction(keep_fraction, 'keep_fraction')
    return MaskProjector(torch.cat([random_keep_mask(*size, keep, seed, i) for i in indices]))


def _block_superres(size: tuple[int, int], indices: Sequence[int], seed: int, factor: int = 4) -> Projector:
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise OptionError(f'sampler.problem.factor must be a positive integer, got {factor!r}')
    return BlockAverageProjector(factor)


def _fourier_lowpass(size: tuple[int, int], indices: Sequence[int], seed: int, fraction: float = 0.05) -> Projector:
    return SpectralProjector(lowpass_mask(*size, _fraction(fraction, 'fraction')))


def _deblur(size: tuple[int, int], indices: Sequence[int], seed: int, blur_sigma: float = 2.0,
            threshold: float = 1e-2) -> Projector:
    return DeblurProjector(gaussian_otf(*size, _positive(blur_sigma, 'blur_sigma')), _positive(threshold, 'threshold'))


PROBLEMS: dict[str, Callable[..., Projector]] = {
    'denoising': _denoising,
    'inpaint_center': _inpaint_center,
    'random_missing': _random_missing,
    'block_superres': _block_superres,
    'fourier_lowpass': _fourier_lowpass,
    'deblur': _deblur,
}
PROBLEM_PARAMS = {'denoising': (), 'inpaint_center': ('fraction',), 'random_missing': ('keep_fraction',),
                  'block_superres': ('factor',), 'fourier_lowpass': ('fraction',),
                  'deblur': ('blur_sigma', 'threshold')}


def problem_type(opt: Mapping | str) -> str:
    """The validated problem name of ``sampler.problem`` (a name or a dict with ``type`` and parameters)."""
    opt = {'type': opt} if isinstance(opt, str) else opt
    if not isinstance(opt, Mapping) or opt.get('type') not in PROBLEMS:
        raise OptionError(f'sampler.problem: expected a dict {{type: <name>, ...}} with a type among '
                          f'{sorted(PROBLEMS)}, got {opt!r}')
    unknown = set(opt) - {'type', *PROBLEM_PARAMS[opt['type']]}
    if unknown:
        raise OptionError(f'sampler.problem ({opt["type"]}): unknown keys {sorted(unknown)}; '
                          f'expected {list(PROBLEM_PARAMS[opt["type"]]) or "none"}')
    return opt['type']


def build_projector(opt: Mapping | str, size: tuple[int, int], indices: Sequence[int] = (0,),
                    seed: int = 0) -> Projector:
    """The projector of one problem for a batch of H×W images with dataset indices ``indices`` (random masks)."""
    name = problem_type(opt)
    params = {} if isinstance(opt, str) else {k: v for k, v in opt.items() if k != 'type'}
    return PROBLEMS[name](tuple(size), list(indices), seed, **params)
