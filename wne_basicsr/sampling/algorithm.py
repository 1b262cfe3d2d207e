"""The Kadkhodaie–Simoncelli sampler (docs/method.md §6): coarse-to-fine ascent on a denoiser's implicit prior,
constrained to the measurements by an orthogonal projector, with its per-step and per-image metrics."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from wne_basicsr.errors import OptionError
from wne_basicsr.metrics.psnr_float import psnr_db
from wne_basicsr.metrics.ssim_paper import paper_ssim
from wne_basicsr.sampling.inverse_problems import Projector, ZeroProjector

END_RULES = ('project', 'denoise')
STOP_SIGMA, STOP_STEPS, STOP_DIVERGED = 'sigma_stop', 'max_steps', 'diverged'
DIVERGE_FACTOR = 4.0  # σ̂ above this many times its lowest value stops an image as diverged
DEFAULTS_8BIT = {True: {'sigma_init': 10.0, 'sigma_stop': 1.0, 'beta': 1.0},  # denoising (P = 0)
                 False: {'sigma_init': 255.0, 'sigma_stop': 2.55, 'beta': 0.01}}  # inverse problems
OUTPUT_KEYS = {'problem', 'batch_size', 'save_plots', 'save_gif', 'gif_every'}
CONFIG_KEYS = {'sigma_init', 'sigma_stop', 'beta', 'h0', 'h_max', 'max_steps', 'fill', 'seed', 'end_rule',
               'diverge_factor'}


def _number(opt: Mapping, key: str, default: float | None, low: float, high: float = math.inf,
            low_open: bool = False) -> float:
    value = opt.get(key, default)
    valid = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not valid or value > high or value < low or (low_open and value == low):
        bound = f'{"(" if low_open else "["}{low}, {high}{"]" if math.isfinite(high) else ")"}'
        raise OptionError(f'sampler.{key} must be a number in {bound}, got {value!r}')
    return float(value)


@dataclass(frozen=True)
class SamplerConfig:
    """Sampler settings with σ in [0, 1] units (the options give σ in 8-bit units)."""

    sigma_init: float
    sigma_stop: float
    beta: float
    h0: float = 0.01
    h_max: float | None = None
    max_steps: int = 1000
    fill: float = 0.5
    seed: int = 0
    end_rule: str = 'project'
    diverge_factor: float = DIVERGE_FACTOR

    @classmethod
    def from_opt(cls, opt: Mapping, denoising: bool) -> SamplerConfig:
        """Validate ``sampler`` options, filling the §6 defaults of denoising or of inverse problems."""
        defaults = DEFAULTS_8BIT[denoising]
        max_steps = opt.get('max_steps', 1000)
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise OptionError(f'sampler.max_steps must be a positive integer (the sampler is always capped), '
                              f'got {max_steps!r}')
        seed = opt.get('seed', 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise OptionError(f'sampler.seed must be a non-negative integer, got {seed!r}')
        end_rule = opt.get('end_rule', 'project')
        if end_rule not in END_RULES:
            raise OptionError(f'sampler.end_rule must be one of {END_RULES}, got {end_rule!r}')
        h_max = None if opt.get('h_max') is None else _number(opt, 'h_max', None, 0, 1, low_open=True)
        return cls(sigma_init=_number(opt, 'sigma_init', defaults['sigma_init'], 0) / 255,
                   sigma_stop=_number(opt, 'sigma_stop', defaults['sigma_stop'], 0) / 255,
                   beta=_number(opt, 'beta', defaults['beta'], 0, 1), h0=_number(opt, 'h0', 0.01, 0, 1, low_open=True),
                   h_max=h_max, max_steps=max_steps, fill=_number(opt, 'fill', 0.5, -math.inf), seed=seed,
                   end_rule=end_rule, diverge_factor=_number(opt, 'diverge_factor', DIVERGE_FACTOR, 1, low_open=True))


def step_size(t: int, h0: float, h_max: float | None = None) -> float:
    """h_t = h₀·t/(1 + h₀·(t − 1)), capped at h_max when given."""
    h = h0 * t / (1 + h0 * (t - 1))
    return h if h_max is None else min(h, h_max)


def noise_factor(h: float, beta: float) -> float:
    """γ_t/σ̂_t = √max(0, (1 − β·h)² − (1 − h)²): the injected noise keeps σ falling by the factor (1 − β·h)."""
    return math.sqrt(max(0.0, (1 - beta * h) ** 2 - (1 - h) ** 2))


def image_psnr(x: Tensor, ref: Tensor, clamp: bool = True) -> float:
    """Float PSNR (docs/method.md §5.1) of one image against its reference; ``x`` clamped to [0, 1] unless told not."""
    return float(psnr_db(x, ref, clamp=clamp)[0])


def to_uint8(x: Tensor) -> np.ndarray:
    """C×H×W in [0, 1] to an H×W (gray) or H×W×C uint8 array."""
    img = (x.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return img[..., 0] if img.shape[2] == 1 else img


@dataclass
class SampleRecord:
    """One image's sampler run: observed, one-pass and final images, per-image metrics, trajectory, GIF frames."""

    observed: Tensor
    one_pass: Tensor
    final: Tensor
    metrics: dict
    trajectory: list[dict]
    frames: list[np.ndarray] = field(default_factory=list)


def run_sampler(denoiser: Callable[[Tensor], Tensor], clean: Tensor, projector: Projector, config: SamplerConfig,
                indices: Sequence[int], progress: tqdm | None = None, frame_every: int = 0,
                step_hook: Callable[[int, dict], None] | None = None) -> list[SampleRecord]:
    """Sample each image of a batch B×C×H×W given its measurements P·x★; ``indices`` seed each image's noise.

    ``denoiser`` maps noisy images to clean estimates; ``clean`` (x★) also feeds the oracle metrics of the logs.
    ``step_hook(row_in_batch, trajectory_row)`` sees every logged step; ``frame_every`` > 0 keeps GIF frames.
    """
    batch, n = clean.shape[0], clean[0].numel()
    generators = [torch.Generator().manual_seed(config.seed + index) for index in indices]

    def draw(rows: Sequence[int]) -> Tensor:
        return torch.stack([torch.randn(clean.shape[1:], generator=generators[r]) for r in rows]).to(clean.device)

    def rms(v: Tensor) -> list[float]:
        return (v.flatten(1).norm(dim=1) / math.sqrt(n)).tolist()

    x_c = projector.measure(clean)
    denoising = isinstance(projector, ZeroProjector)
    start = clean if denoising else x_c + projector.complement(torch.full_like(clean, config.fill))
    y = start + config.sigma_init * draw(range(batch))
    observed = y.clone() if denoising else x_c
    d = denoiser(y)
    one_pass = x_c + projector.complement(d)
    trajectories: list[list[dict]] = [[] for _ in range(batch)]
    frames: list[list[np.ndarray]] = [[] for _ in range(batch)]

    def log(t: int, rows: Sequence[int], h: float, gammas: Sequence[float], sigmas: Sequence[float]) -> None:
        py = projector(y)
        estimate = x_c + y - py
        data_rmse, raw_rmse = rms(projector(estimate) - x_c), rms(py - x_c)
        for r in rows:
            row = {'step': t, 'h': h, 'gamma': gammas[r], 'sigma_hat': sigmas[r], 'sigma_hat_8bit': 255 * sigmas[r],
                   'psnr': image_psnr(estimate[r], clean[r]), 'ssim': paper_ssim(estimate[r], clean[r]),
                   'data_rmse': data_rmse[r], 'raw_data_rmse': raw_rmse[r]}
            trajectories[r].append(row)
            if frame_every and t % frame_every == 0:
                frames[r].append(to_uint8(estimate[r]))
            if step_hook is not None:
                step_hook(r, row)

    log(0, range(batch), 0.0, [0.0] * batch, [math.nan] * batch)
    active = list(range(batch))
    steps, reasons, last_sigma = [0] * batch, [STOP_STEPS] * batch, [math.nan] * batch
    low_sigma, low_step, y_low = [math.inf] * batch, [0] * batch, y.clone()  # the least noisy state so far
    for t in range(1, config.max_steps + 1):
        if t > 1:
            idx = torch.tensor(active, device=y.device)
            d = d.index_copy(0, idx, denoiser(y.index_select(0, idx)))
        u = projector.complement(d - y) + x_c - projector(y)  # prior step in the null space + pull back to the data
        sigmas = rms(u)
        for r in active:
            if not math.isfinite(sigmas[r]) or sigmas[r] > config.diverge_factor * low_sigma[r]:
                # diverged: back to the least noisy state (σ̂ is measured from y, not an oracle)
                reasons[r], steps[r], last_sigma[r] = STOP_DIVERGED, low_step[r], low_sigma[r]
                y[r] = y_low[r]
                continue
            last_sigma[r] = sigmas[r]
            if sigmas[r] < low_sigma[r]:  # σ̂_t measures y_{t-1}, the state returned if the image stops now
                low_sigma[r], low_step[r], y_low[r] = sigmas[r], t - 1, y[r]
            if sigmas[r] <= config.sigma_stop:
                reasons[r] = STOP_SIGMA
        active = [r for r in active if reasons[r] == STOP_STEPS]
        if not active:
            break
        h = step_size(t, config.h0, config.h_max)
        gammas = [noise_factor(h, config.beta) * s for s in sigmas]
        gamma = torch.tensor([gammas[r] for r in active], device=y.device).view(-1, 1, 1, 1)
        y[active] = y[active] + h * u[active] + gamma * draw(active)
        for r in active:
            steps[r] = t
        log(t, active, h, gammas, sigmas)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(active=len(active), sigma_8bit=f'{255 * max(sigmas[r] for r in active):.3g}')

    final = x_c + projector.complement(y) if config.end_rule == 'project' else denoiser(y)
    final_data_rmse, raw_rmse = rms(projector(final) - x_c), rms(projector(y) - x_c)
    records = []
    for r in range(batch):
        trajectory = trajectories[r]
        stepped = trajectory[1:] or trajectory  # "best" is over t ≥ 1; the initial state if no step was taken
        best = max(stepped, key=lambda row: row['psnr'])
        one_pass_psnr, final_psnr = image_psnr(one_pass[r], clean[r]), image_psnr(final[r], clean[r])
        metrics = {
            'observed_psnr': image_psnr(observed[r], clean[r], clamp=False),
            'observed_ssim': paper_ssim(observed[r], clean[r]),
            'initial_psnr': trajectory[0]['psnr'], 'initial_ssim': trajectory[0]['ssim'],
            'one_pass_psnr': one_pass_psnr, 'one_pass_ssim': paper_ssim(one_pass[r], clean[r]),
            'final_psnr': final_psnr, 'final_ssim': paper_ssim(final[r], clean[r]),
            'best_psnr': best['psnr'], 'best_ssim': max(row['ssim'] for row in stepped), 'best_step': best['step'],
            'final_step': steps[r], 'final_sigma_8bit': 255 * last_sigma[r], 'stop_reason': reasons[r],
            'drop_from_peak': best['psnr'] - final_psnr, 'final_minus_one_pass': final_psnr - one_pass_psnr,
            'best_minus_one_pass': best['psnr'] - one_pass_psnr,
            'data_rmse': final_data_rmse[r], 'raw_data_rmse': raw_rmse[r],
        }
        if frame_every:
            frames[r].append(to_uint8(final[r]))
        records.append(SampleRecord(observed[r].cpu(), one_pass[r].cpu(), final[r].cpu(), metrics, trajectory,
                                    frames[r]))
    return records
