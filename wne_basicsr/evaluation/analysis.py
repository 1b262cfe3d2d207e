"""Normalized-coordinate analysis (docs/method.md §7): Δ = ‖y − x‖₂/s_y, the score Q, σ coverage, Q-vs-Δ collapse.

A patch y = x + n is normalized with the **noisy** input's mean μ_y and unbiased std s_y (floored at 1e-6):
ỹ = (y − μ_y)/s_y, x̃ = (x − μ_y)/s_y, so Δ = ‖ỹ − x̃‖₂ lies in [0, ≈√d] for every σ.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from wne_basicsr.data.image_io import ImageSource
from wne_basicsr.data.noise import seeded_generator
from wne_basicsr.errors import OptionError

STD_FLOOR = 1e-6
SQUARED_ERROR_FLOOR = 1e-6


def patch_pool_from_options(opt: dict, where: str) -> Tensor:
    """The seeded patch pool of an analysis options dict (dataroot_gt, color, patch_size, per_image, max_images)."""
    return build_patch_pool(ImageSource(opt['dataroot_gt'], None, where), opt['color'], int(opt['patch_size']),
                            int(opt['per_image']), seeded_generator(opt['seed'], 'pool'), opt['max_images'])


def build_patch_pool(source: ImageSource, color: str, size: int, per_image: int, generator: torch.Generator,
                     max_images: int | None = None) -> Tensor:
    """``per_image`` uniform random size×size crops of each image (or of ``max_images`` random ones), as uint8.

    Returns N_images × per_image × C × size × size; sampling an image, then one of its crops, approximates the
    training loader's uniform image choice and uniform crop without keeping whole images in memory.
    """
    count = len(source)
    indices = range(count) if max_images is None else torch.randperm(count, generator=generator)[:max_images].tolist()
    pool = []
    for index in indices:
        img = torch.from_numpy(source.read(index, color).transpose(2, 0, 1).copy())
        height, width = img.shape[-2:]
        if height < size or width < size:
            raise OptionError(f'{source.records[index].path}: {height}×{width} is smaller than the patch size {size}')
        tops = torch.randint(0, height - size + 1, (per_image,), generator=generator).tolist()
        lefts = torch.randint(0, width - size + 1, (per_image,), generator=generator).tolist()
        crops = torch.stack([img[:, t:t + size, s:s + size] for t, s in zip(tops, lefts)])
        pool.append((crops * 255).round().to(torch.uint8))
    return torch.stack(pool)


def draw_patches(pool: Tensor, num: int, generator: torch.Generator) -> Tensor:
    """``num`` float32 patches in [0, 1]: a uniform image, one of its crops, then a dihedral transform k ∈ {0..7}."""
    images = torch.randint(0, pool.shape[0], (num,), generator=generator)
    crops = torch.randint(0, pool.shape[1], (num,), generator=generator)
    ks = torch.randint(0, 8, (num,), generator=generator)
    patches = pool[images, crops].float() / 255.0
    for k in range(8):
        chosen = ks == k
        if chosen.any():
            moved = patches[chosen].flip(-1) if k % 2 else patches[chosen]
            patches[chosen] = torch.rot90(moved, k // 2, dims=(-2, -1))
    return patches


def noisy_stats(noisy: Tensor) -> tuple[Tensor, Tensor]:
    """Per-patch mean and unbiased std (floored at 1e-6) of the noisy input, shaped B×1×1×1."""
    flat = noisy.double().flatten(1)
    return flat.mean(dim=1).view(-1, 1, 1, 1), flat.std(dim=1).clamp_min(STD_FLOOR).view(-1, 1, 1, 1)


def delta(clean: Tensor, noisy: Tensor) -> Tensor:
    """Δ = ‖ỹ − x̃‖₂ = ‖y − x‖₂ / s_y per patch."""
    _, std = noisy_stats(noisy)
    return (noisy.double() - clean.double()).flatten(1).norm(dim=1) / std.flatten()


def q_score(output: Tensor, clean: Tensor, noisy: Tensor) -> Tensor:
    """Q = −10·log10(max(‖f̃ − x̃‖₂², 1e-6)) per patch, f̃ and x̃ in the noisy input's (μ_y, s_y) coordinates."""
    _, std = noisy_stats(noisy)
    error = ((output.double() - clean.double()) / std).flatten(1).square().sum(dim=1)
    return -10 * torch.log10(error.clamp_min(SQUARED_ERROR_FLOOR))


def snr(clean: Tensor, sigma: float) -> Tensor:
    """SNR = σ_x²/σ² per patch: the clean patch's unbiased variance over the noise variance ([0, 1] units)."""
    variance = clean.double().flatten(1).var(dim=1)
    return variance / (sigma / 255.0) ** 2 if sigma > 0 else torch.full_like(variance, float('inf'))


def delta_windows(deltas: Mapping[float, np.ndarray], low: float = 2.5, high: float = 97.5
                  ) -> dict[float, tuple[float, float]]:
    """Per σ, the [q_low, q_high] percentile window of its Δ samples."""
    return {sigma: (float(np.percentile(d, low)), float(np.percentile(d, high))) for sigma, d in deltas.items()}


def coverage_table(deltas: Mapping[float, np.ndarray], low: float = 2.5, high: float = 97.5
                   ) -> dict[float, dict[float, float]]:
    """m(σ_test; σ_train): the share of σ_test's Δ samples inside σ_train's [q2.5, q97.5] window, by σ_train."""
    windows = delta_windows(deltas, low, high)
    return {train: {test: float(np.mean((d >= lo) & (d <= hi))) for test, d in deltas.items()}
            for train, (lo, hi) in windows.items()}


def binned_q(delta_values: np.ndarray, q_values: np.ndarray, bins: int = 40, value_range: Sequence[float] = (0, 100)
             ) -> dict[str, np.ndarray]:
    """Q per Δ bin: edges, count, mean and population std (NaN in empty bins)."""
    edges = np.linspace(float(value_range[0]), float(value_range[1]), bins + 1)
    which = np.digitize(delta_values, edges) - 1
    inside = (which >= 0) & (which < bins)
    count = np.bincount(which[inside], minlength=bins)
    total = np.bincount(which[inside], weights=q_values[inside], minlength=bins)
    squares = np.bincount(which[inside], weights=q_values[inside] ** 2, minlength=bins)
    with np.errstate(invalid='ignore', divide='ignore'):
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean ** 2, 0))
    return {'edges': edges, 'count': count, 'mean': mean, 'std': std}


def collapse_score(bin_means: Sequence[np.ndarray]) -> float:
    """VR = (1/B)·Σ_b Var_k(m_bk) / Var_b(m̄_b) over bins holding ≥ 2 σ values (population variances; NaN = empty).

    ``bin_means`` holds one array of per-bin mean Q per σ, already restricted to the chosen Δ windows.
    """
    means = np.vstack(bin_means)
    valid = np.isfinite(means).sum(axis=0) >= 2
    if valid.sum() < 2:
        return float('nan')
    within = np.nanvar(means[:, valid], axis=0)
    between = np.var(np.nanmean(means[:, valid], axis=0))
    return float(np.mean(within) / between) if between > 0 else float('nan')
