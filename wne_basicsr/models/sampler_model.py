"""SamplerModel: a trained denoiser as the prior of the Kadkhodaie–Simoncelli sampler (docs/method.md §6), run from a
BasicSR test YAML; it writes per-image and per-step CSVs, a summary, images, trajectory plots and GIFs."""
from __future__ import annotations

import json
import os
import os.path as osp
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict

import imageio.v3 as iio
import numpy as np
import torch
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.registry import MODEL_REGISTRY
from torch import Tensor
from tqdm import tqdm

from wne_basicsr.errors import OptionError
from wne_basicsr.models.denoising_model import DenoisingModel
from wne_basicsr.sampling.algorithm import (
    CONFIG_KEYS,
    OUTPUT_KEYS,
    STOP_DIVERGED,
    SamplerConfig,
    SampleRecord,
    run_sampler,
)
from wne_basicsr.sampling.inverse_problems import build_projector, problem_type
from wne_basicsr.sampling.summary import stop_advice, summarize
from wne_basicsr.utils.csv_io import write_csv


def diverged_clause(record: SampleRecord) -> str:
    """How a diverged image ended: the steps it ran and the (least noisy) step it returned."""
    return f'diverged after {len(record.trajectory) - 1} steps, returned step {record.metrics["final_step"]}'


def stop_clause(record: SampleRecord) -> str:
    """The end of an image's log line: its steps and stop reason, and for a diverged image its lowest σ̂."""
    m = record.metrics
    if m['stop_reason'] == STOP_DIVERGED:
        return f'stop: {diverged_clause(record)} (its lowest sigma-hat, {m["final_sigma_8bit"]:.2f})'
    return f'{m["final_step"]} steps, stop: {m["stop_reason"]}'


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
            raise OptionError('SamplerModel needs a "sampler" options dict with at least "problem: {type: ...}"')
        unknown = set(sampler_opt) - OUTPUT_KEYS - CONFIG_KEYS
        if unknown:
            raise OptionError(f'sampler: unknown keys {sorted(unknown)}; expected {sorted(OUTPUT_KEYS | CONFIG_KEYS)}')
        self.problem = sampler_opt['problem']
        self.config = SamplerConfig.from_opt(sampler_opt, problem_type(self.problem) == 'denoising')
        self.batch_size = sampler_opt.get('batch_size', 1)
        self.gif_every = sampler_opt.get('gif_every', 25)
        for key, value in (('batch_size', self.batch_size), ('gif_every', self.gif_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f'sampler.{key} must be a positive integer, got {value!r}')
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
                            f'at step {m["best_step"]}; {stop_clause(record)}')
            write_csv(rows, osp.join(folder, 'per_image.csv'))  # rewritten per batch: an interrupted run keeps them
        summary = {'name': self.opt['name'], 'dataset': name, 'problem': self.problem, 'config': asdict(self.config),
                   **summarize(rows)}
        with open(osp.join(folder, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=2)
        mean = summary['mean']
        logger.info(f'Sampler {name} ({len(rows)} images): observed {mean["observed_psnr"]:.2f} dB, one-pass '
                    f'{mean["one_pass_psnr"]:.2f}, final {mean["final_psnr"]:.2f} (SSIM {mean["final_ssim"]:.3f}), '
                    f'{mean["final_step"]:.1f} steps, stops {summary["stop_reasons"]}; outputs in {folder}')
        advice = stop_advice(rows, 255 * self.config.sigma_stop)
        if advice:
            logger.warning(f'{name}: {advice}')
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
            m = record.metrics
            title = f'{stem}: {m["stop_reason"]} after {m["final_step"]} steps'
            if m['stop_reason'] == STOP_DIVERGED:
                title = f'{stem}: {diverged_clause(record)}'
            from wne_basicsr.sampling.figures import trajectory_figure  # matplotlib only where plots are made

            figure = trajectory_figure(record, title, 255 * self.config.sigma_stop)
            os.makedirs(osp.join(folder, 'plots'), exist_ok=True)
            figure.savefig(osp.join(folder, 'plots', f'{stem}_trajectory.png'), dpi=100)
        if self.save_gif and record.frames:
            os.makedirs(osp.join(folder, 'gifs'), exist_ok=True)
            iio.imwrite(osp.join(folder, 'gifs', f'{stem}.gif'), np.stack(record.frames), duration=80, loop=0)
