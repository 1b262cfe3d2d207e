"""SamplerModel: a trained denoiser as the prior of the Kadkhodaie–Simoncelli sampler for inverse problems (§6).

``run_sampler`` is the algorithm (docs/method.md §6: coarse-to-fine ascent on the denoiser's implicit prior,
constrained to the measurements by an orthogonal projector); ``SamplerModel`` runs it from a BasicSR test YAML and
writes the outputs.
"""
from __future__ import annotations

import csv
import json
import math
import os
import os.path as osp
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import imageio.v3 as iio
import numpy as np
import torch
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.registry import MODEL_REGISTRY
from matplotlib.figure import Figure
from skimage.metrics import structural_similarity
from torch import Tensor
from tqdm import tqdm

from wne_basicsr.metrics.psnr_float import MIN_MSE
from wne_basicsr.models.denoising_model import DenoisingModel
from wne_basicsr.models.inverse_problems import Projector, ZeroProjector, build_projector, problem_type

END_RULES = ('project', 'denoise')
STOP_SIGMA, STOP_STEPS = 'sigma_stop', 'max_steps'
DEFAULTS_8BIT = {True: {'sigma_init': 10.0, 'sigma_stop': 1.0, 'beta': 1.0},  # denoising (P = 0)
                 False: {'sigma_init': 255.0, 'sigma_stop': 2.55, 'beta': 0.01}}  # inverse problems
OUTPUT_KEYS = {'problem', 'batch_size', 'save_plots', 'save_gif', 'gif_every'}
CONFIG_KEYS = {'sigma_init', 'sigma_stop', 'beta', 'h0', 'h_max', 'max_steps', 'fill', 'seed', 'end_rule'}


def _number(opt: Mapping, key: str, default: float | None, low: float, high: float = math.inf,
            low_open: bool = False) -> float:
    value = opt.get(key, default)
    valid = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not valid or value > high or value < low or (low_open and value == low):
        bound = f'{"(" if low_open else "["}{low}, {high}{"]" if math.isfinite(high) else ")"}'
        raise ValueError(f'sampler.{key} must be a number in {bound}, got {value!r}')
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

    @classmethod
    def from_opt(cls, opt: Mapping, denoising: bool) -> SamplerConfig:
        """Validate ``sampler`` options, filling the §6 defaults of denoising or of inverse problems."""
        defaults = DEFAULTS_8BIT[denoising]
        max_steps = opt.get('max_steps', 1000)
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f'sampler.max_steps must be a positive integer (the sampler is always capped), '
                             f'got {max_steps!r}')
        seed = opt.get('seed', 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f'sampler.seed must be a non-negative integer, got {seed!r}')
        end_rule = opt.get('end_rule', 'project')
        if end_rule not in END_RULES:
            raise ValueError(f'sampler.end_rule must be one of {END_RULES}, got {end_rule!r}')
        h_max = None if opt.get('h_max') is None else _number(opt, 'h_max', None, 0, 1, low_open=True)
        return cls(sigma_init=_number(opt, 'sigma_init', defaults['sigma_init'], 0) / 255,
                   sigma_stop=_number(opt, 'sigma_stop', defaults['sigma_stop'], 0) / 255,
                   beta=_number(opt, 'beta', defaults['beta'], 0, 1), h0=_number(opt, 'h0', 0.01, 0, 1, low_open=True),
                   h_max=h_max, max_steps=max_steps, fill=_number(opt, 'fill', 0.5, -math.inf), seed=seed,
                   end_rule=end_rule)


def step_size(t: int, h0: float, h_max: float | None = None) -> float:
    """h_t = h₀·t/(1 + h₀·(t − 1)), capped at h_max when given."""
    h = h0 * t / (1 + h0 * (t - 1))
    return h if h_max is None else min(h, h_max)


def noise_factor(h: float, beta: float) -> float:
    """γ_t/σ̂_t = √max(0, (1 − β·h)² − (1 − h)²): the injected noise keeps σ falling by the factor (1 − β·h)."""
    return math.sqrt(max(0.0, (1 - beta * h) ** 2 - (1 - h) ** 2))


def psnr(x: Tensor, ref: Tensor, clamp: bool = True) -> float:
    """Float PSNR (§5.1), peak 1, of one image against its reference; ``x`` clamped to [0, 1] unless told not to."""
    x = x.double().clamp(0, 1) if clamp else x.double()
    return float(-10 * torch.log10((x - ref.double()).square().mean().clamp_min(MIN_MSE)))


def ssim(x: Tensor, ref: Tensor) -> float:
    """Paper SSIM (§5.2) of C×H×W images in [0, 1]: ×255 clamped, 7×7 uniform window, sample covariance, crop 3."""
    a, b = ((t.detach().double().cpu() * 255).clamp(0, 255).numpy() for t in (x, ref))
    if a.shape[0] == 1:
        return float(structural_similarity(a[0], b[0], data_range=255))
    return float(structural_similarity(a, b, data_range=255, channel_axis=0))


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
                   'psnr': psnr(estimate[r], clean[r]), 'ssim': ssim(estimate[r], clean[r]),
                   'data_rmse': data_rmse[r], 'raw_data_rmse': raw_rmse[r]}
            trajectories[r].append(row)
            if frame_every and t % frame_every == 0:
                frames[r].append(to_uint8(estimate[r]))
            if step_hook is not None:
                step_hook(r, row)

    log(0, range(batch), 0.0, [0.0] * batch, [math.nan] * batch)
    active = list(range(batch))
    steps, reasons, last_sigma = [0] * batch, [STOP_STEPS] * batch, [math.nan] * batch
    for t in range(1, config.max_steps + 1):
        if t > 1:
            idx = torch.tensor(active, device=y.device)
            d = d.index_copy(0, idx, denoiser(y.index_select(0, idx)))
        u = projector.complement(d - y) + x_c - projector(y)  # prior step in the null space + pull back to the data
        sigmas = rms(u)
        for r in active:
            last_sigma[r] = sigmas[r]
            if sigmas[r] <= config.sigma_stop:
                reasons[r] = STOP_SIGMA
        active = [r for r in active if reasons[r] != STOP_SIGMA]
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
        one_pass_psnr, final_psnr = psnr(one_pass[r], clean[r]), psnr(final[r], clean[r])
        metrics = {
            'observed_psnr': psnr(observed[r], clean[r], clamp=False), 'observed_ssim': ssim(observed[r], clean[r]),
            'initial_psnr': trajectory[0]['psnr'], 'initial_ssim': trajectory[0]['ssim'],
            'one_pass_psnr': one_pass_psnr, 'one_pass_ssim': ssim(one_pass[r], clean[r]),
            'final_psnr': final_psnr, 'final_ssim': ssim(final[r], clean[r]),
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


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summarize(rows: Sequence[dict]) -> dict:
    """Mean and sample std (n − 1) of every numeric per-image column, plus the stop-reason counts."""
    columns = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and k != 'index']
    mean = {k: _finite_or_none(statistics.fmean(float(row[k]) for row in rows)) for k in columns}
    std = {k: _finite_or_none(statistics.stdev(float(row[k]) for row in rows)) if len(rows) > 1 else None
           for k in columns}
    return {'count': len(rows), 'mean': mean, 'std': std, 'stop_reasons': dict(Counter(r['stop_reason'] for r in rows))}


def write_csv(rows: Sequence[dict], path: str) -> None:
    """Write dict rows (same keys) to a CSV file, creating its folder."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def trajectory_figure(record: SampleRecord, title: str, sigma_stop_8bit: float) -> Figure:
    """PSNR (left axis) and σ̂ in 8-bit units (right, log) against the step, with the observed and one-pass PSNR."""
    steps = [row['step'] for row in record.trajectory]
    figure = Figure(figsize=(7, 4), layout='constrained')
    ax = figure.add_subplot()
    ax.plot(steps, [row['psnr'] for row in record.trajectory], color='C0', label='PSNR of x̂_t')
    ax.axhline(record.metrics['observed_psnr'], color='C0', ls=':', label='observed')
    ax.axhline(record.metrics['one_pass_psnr'], color='C2', ls='--', label='one pass')
    ax.set_xlabel('step t')
    ax.set_ylabel('PSNR (dB)')
    ax.set_title(title)
    ax.legend(loc='lower right')
    sigma_ax = ax.twinx()
    sigma_ax.semilogy(steps[1:], [row['sigma_hat_8bit'] for row in record.trajectory[1:]], color='C1')
    sigma_ax.axhline(sigma_stop_8bit, color='C1', ls=':')
    sigma_ax.set_ylabel('σ̂ (8-bit units)', color='C1')
    return figure


@MODEL_REGISTRY.register()
class SamplerModel(DenoisingModel):
    """Runs the trained network_g (loaded from ``path.pretrain_network_g``) as the sampler's denoiser on test sets.

    Options under ``sampler``: problem ({type, ...}, see inverse_problems.PROBLEMS), the §6 settings (sigma_init,
    sigma_stop, beta, h0, h_max, max_steps, fill, seed, end_rule) and outputs (batch_size, save_plots, save_gif,
    gif_every). Writes results/<name>/<dataset>/ (per_image.csv, summary.json, trajectories/, images/, plots/, gifs/).
    """

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        sampler_opt = opt.get('sampler')
        if not isinstance(sampler_opt, Mapping) or 'problem' not in sampler_opt:
            raise ValueError('SamplerModel needs a "sampler" options dict with at least "problem: {type: ...}"')
        unknown = set(sampler_opt) - OUTPUT_KEYS - CONFIG_KEYS
        if unknown:
            raise ValueError(f'sampler: unknown keys {sorted(unknown)}; expected {sorted(OUTPUT_KEYS | CONFIG_KEYS)}')
        self.problem = sampler_opt['problem']
        self.config = SamplerConfig.from_opt(sampler_opt, problem_type(self.problem) == 'denoising')
        self.batch_size = sampler_opt.get('batch_size', 1)
        self.gif_every = sampler_opt.get('gif_every', 25)
        for key, value in (('batch_size', self.batch_size), ('gif_every', self.gif_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'sampler.{key} must be a positive integer, got {value!r}')
        self.save_plots = bool(sampler_opt.get('save_plots', True))
        self.save_gif = bool(sampler_opt.get('save_gif', False))
        if opt['path'].get('pretrain_network_g') is None:
            get_root_logger().warning('SamplerModel: path.pretrain_network_g is empty; sampling with untrained weights')

    def validation(self, dataloader, current_iter, tb_logger, save_img: bool = False) -> None:
        """Run the sampler on every image of the loader's dataset (rank 0 only) and write the outputs."""
        if self.opt.get('rank', 0) == 0:
            self.sample_dataset(dataloader.dataset, tb_logger, save_img)

    def _batches(self, dataset) -> Iterator[list[tuple[int, str, Tensor]]]:
        """Consecutive images of equal shape, ``batch_size`` at most, as (index, stem, C×H×W) triples."""
        batch: list[tuple[int, str, Tensor]] = []
        for index in range(len(dataset)):
            item = dataset[index]
            stem = osp.splitext(osp.basename(item.get('gt_path') or item['lq_path']))[0]
            if batch and (len(batch) == self.batch_size or batch[0][2].shape != item['gt'].shape):
                yield batch
                batch = []
            batch.append((index, stem, item['gt']))
        if batch:
            yield batch

    def _tb_writer(self, tb_logger):
        """The given tensorboard logger, else a new writer under tb_logger/<name> when ``logger.use_tb_logger``."""
        if tb_logger is not None or not (self.opt.get('logger') or {}).get('use_tb_logger'):
            return tb_logger
        from torch.utils.tensorboard import SummaryWriter
        return SummaryWriter(log_dir=osp.join(self.opt.get('root_path', '.'), 'tb_logger', self.opt['name']))

    def sample_dataset(self, dataset, tb_logger, save_img: bool) -> dict:
        """Sample one test set, write its outputs and return its summary."""
        logger = get_root_logger()
        name = dataset.opt['name']
        folder = osp.join(self.opt['path']['results_root'], name)
        writer = self._tb_writer(tb_logger)
        show = self.opt.get('val', {}).get('pbar', True)
        rows = []
        for batch in self._batches(dataset):
            indices, stems = [b[0] for b in batch], [b[1] for b in batch]
            clean = torch.stack([b[2] for b in batch]).to(self.device)
            projector = build_projector(self.problem, tuple(clean.shape[-2:]), indices, self.config.seed)

            def hook(r: int, row: dict, stems: list[str] = stems) -> None:
                if writer is not None:
                    writer.add_scalar(f'{name}/{stems[r]}/psnr', row['psnr'], row['step'])
                    writer.add_scalar(f'{name}/{stems[r]}/sigma_hat_8bit', row['sigma_hat_8bit'], row['step'])

            start = time.perf_counter()
            with tqdm(total=self.config.max_steps, desc=f'{name} {",".join(stems)}', unit='step', leave=False,
                      disable=not show) as progress:
                records = run_sampler(self.denoise, clean, projector, self.config, indices, progress,
                                      self.gif_every if self.save_gif else 0, hook)
            seconds = (time.perf_counter() - start) / len(batch)
            for index, stem, record in zip(indices, stems, records):
                h, w = record.final.shape[-2:]
                rows.append({'image': stem, 'index': index, 'height': h, 'width': w, **record.metrics,
                             'seconds': seconds})
                self._write_image_outputs(folder, stem, record, save_img)
                m = record.metrics
                logger.info(f'{name} {stem}: observed {m["observed_psnr"]:.2f} dB, one-pass {m["one_pass_psnr"]:.2f}, '
                            f'final {m["final_psnr"]:.2f} (SSIM {m["final_ssim"]:.3f}), best {m["best_psnr"]:.2f} '
                            f'at step {m["best_step"]}; {m["final_step"]} steps, stop: {m["stop_reason"]}')
            write_csv(rows, osp.join(folder, 'per_image.csv'))  # rewritten per batch: an interrupted run keeps them
        summary = {'name': self.opt['name'], 'dataset': name, 'problem': self.problem, 'config': asdict(self.config),
                   **summarize(rows)}
        with open(osp.join(folder, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=2)
        mean = summary['mean']
        logger.info(f'Sampler {name} ({len(rows)} images): observed {mean["observed_psnr"]:.2f} dB, one-pass '
                    f'{mean["one_pass_psnr"]:.2f}, final {mean["final_psnr"]:.2f} (SSIM {mean["final_ssim"]:.3f}), '
                    f'{mean["final_step"]:.1f} steps, stops {summary["stop_reasons"]}; outputs in {folder}')
        if writer is not None:
            for key in ('observed_psnr', 'one_pass_psnr', 'final_psnr', 'final_ssim', 'final_step'):
                writer.add_scalar(f'{name}/mean_{key}', mean[key], 0)
            writer.flush()
            if writer is not tb_logger:
                writer.close()
        return summary

    def _write_image_outputs(self, folder: str, stem: str, record: SampleRecord, save_img: bool) -> None:
        write_csv(record.trajectory, osp.join(folder, 'trajectories', f'{stem}.csv'))
        if save_img:
            for kind in ('observed', 'one_pass', 'final'):
                imwrite(tensor2img([getattr(record, kind)]), osp.join(folder, 'images', f'{stem}_{kind}.png'))
        if self.save_plots:
            title = f'{stem}: {record.metrics["stop_reason"]} after {record.metrics["final_step"]} steps'
            figure = trajectory_figure(record, title, 255 * self.config.sigma_stop)
            os.makedirs(osp.join(folder, 'plots'), exist_ok=True)
            figure.savefig(osp.join(folder, 'plots', f'{stem}_trajectory.png'), dpi=100)
        if self.save_gif and record.frames:
            os.makedirs(osp.join(folder, 'gifs'), exist_ok=True)
            iio.imwrite(osp.join(folder, 'gifs', f'{stem}.gif'), np.stack(record.frames), duration=80, loop=0)
