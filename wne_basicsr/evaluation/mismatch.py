"""Noise-mismatch sweep (docs/method.md §5.1–5.3): models × test sets × σ grid → a tidy row per point, cached.

Each (image, σ) point stacks the seeded draws k = 0…n_averages−1 of ``eval_noisy`` into one batch, runs the network in
eval mode on whole images (padded to its window multiple), clamps outputs to [0, 1] for PSNR and SSIM, and takes the
input PSNR from the unclamped noisy image. The NE defect uses K affine draws on noise draw 0 of each image, always in
fp32 (whatever ``inference_dtype`` says), so that it measures the network and not the rounding.
"""
from __future__ import annotations

import math
import os.path as osp

from torch import Tensor, nn
from tqdm import tqdm

from wne_basicsr.evaluation.cache import CACHE_VERSION, ResultCache, file_sha256
from wne_basicsr.evaluation.networks import load_network, resolve_device
from wne_basicsr.evaluation.quality import QUALITY_COLUMNS, evaluate_ne_defect, evaluate_quality
from wne_basicsr.evaluation.sweep_config import SweepConfig
from wne_basicsr.inference.forward import eval_mode
from wne_basicsr.inference.precision import dtype_name, precision_dtype, prepare_network
from wne_basicsr.utils.csv_io import write_csv

CSV_COLUMNS = ('model', 'dataset', 'noise', 'sigma_8bit', 'sigma', 'sigma_train', 'is_train_sigma', 'n_averages',
               'num_images', *QUALITY_COLUMNS, 'ne_defect', 'ne_evaluations')


def run_sweep(config: SweepConfig, progress: bool = True) -> list[dict]:
    """One row per (model, dataset, σ); cached points are read back, so only missing points load a network."""
    missing = [f'{m.label}: {m.checkpoint}' for m in config.models if not osp.isfile(m.checkpoint)]
    if missing:
        raise FileNotFoundError('checkpoints not found (train the models first):\n  ' + '\n  '.join(missing))
    cache = ResultCache(config.cache_dir)
    device = resolve_device(config.device)
    loaded_sets: dict[str, list[tuple[str, Tensor]]] = {}
    rows = []
    total = len(config.models) * len(config.datasets) * len(config.sigmas)
    with tqdm(total=total, desc=config.name, unit='point', disable=not progress) as bar:
        for model in config.models:
            base = {'version': CACHE_VERSION, 'checkpoint_sha256': file_sha256(model.checkpoint),
                    'network_g': model.network_opt, 'param_key': model.param_key, 'noise': config.noise,
                    'seed': config.seed}
            dtype = precision_dtype(model.inference_dtype, 'inference_dtype', device)
            # fp32 quality points keep the keys they always had; the NE defect is measured in fp32 whatever the dtype
            inference = {'inference_dtype': dtype_name(dtype)} if dtype is not None else {}
            net: nn.Module | None = None
            for dataset in config.datasets:
                for sigma in config.sigmas:
                    bar.set_postfix_str(f'{model.label} | {dataset.name} | σ {sigma:g}')
                    point = {**base, 'dataset': dataset.identity(), 'sigma': sigma}
                    quality_key = {**point, 'metric': 'quality', 'n_averages': config.n_averages, **inference}
                    quality = cache.get(quality_key)
                    if config.ne_defect:
                        ne_key = {**point, 'metric': 'ne_defect', 'spec': config.ne_defect.identity()}
                        ne = cache.get(ne_key)
                    else:
                        ne = {'ne_defect': math.nan, 'ne_evaluations': 0}
                    if quality is None or ne is None:
                        if net is None:
                            net = prepare_network(load_network(model, device), model.channels_last, model.compile,
                                                  device)
                        if dataset.name not in loaded_sets:
                            loaded_sets[dataset.name] = dataset.load()
                        images = loaded_sets[dataset.name]
                    if quality is None:
                        with eval_mode(net):
                            quality = evaluate_quality(net, images, config.noise, sigma, config.n_averages,
                                                       config.seed, config.batch_size, device, dtype,
                                                       model.channels_last)
                        quality['num_images'] = len(images)
                        cache.put(quality_key, quality)
                    if ne is None:
                        ne = evaluate_ne_defect(net, images, config.noise, sigma, config.ne_defect, config.seed,
                                                device)
                        cache.put(ne_key, ne)
                    rows.append({'model': model.label, 'dataset': dataset.name, 'noise': config.noise,
                                 'sigma_8bit': sigma, 'sigma': sigma / 255.0, 'sigma_train': model.sigma_train_text,
                                 'is_train_sigma': int(model.is_train_sigma(sigma)), 'n_averages': config.n_averages,
                                 **quality, **ne})
                    bar.update(1)
    return rows


def write_mismatch_csv(rows: list[dict], path: str) -> str:
    """Write the tidy rows (columns ``CSV_COLUMNS``) to ``path``; return it."""
    return write_csv(rows, path, CSV_COLUMNS)
