"""Noise-mismatch sweep (docs/method.md §5.1–5.3): models × test sets × σ grid → a tidy row per point, cached.

Each (image, σ) point stacks the seeded draws k = 0…n_averages−1 of ``eval_noisy`` into one batch, runs the network in
eval mode on whole images (padded to its window multiple), clamps outputs to [0, 1] for PSNR and SSIM, and takes the
input PSNR from the unclamped noisy image. The NE defect uses K affine draws on noise draw 0 of each image, always in
fp32 (whatever ``inference_dtype`` says), so that it measures the network and not the rounding. Points are cached by
the content of the checkpoint and of the test images and by everything else that changes the numbers (``model_key``).
"""
from __future__ import annotations

import math
import os.path as osp
from dataclasses import asdict

import torch
from torch import Tensor, nn
from tqdm import tqdm

from wne_basicsr.data.degradations import JPEG
from wne_basicsr.evaluation.cache import CACHE_VERSION, ResultCache, file_sha256
from wne_basicsr.evaluation.networks import load_network, resolve_device
from wne_basicsr.evaluation.quality import evaluate_ne_defect, evaluate_quality
from wne_basicsr.evaluation.sweep_config import ModelSpec, SweepConfig
from wne_basicsr.inference.forward import eval_mode
from wne_basicsr.inference.precision import dtype_name, precision_dtype, prepare_network, set_tf32


def level_fields(config: SweepConfig, model: ModelSpec, level: float) -> dict:
    """The columns that say what degraded the input: the noise family at σ (8-bit and [0, 1]), or the JPEG quality."""
    if config.noise == JPEG:
        return {'degradation': JPEG, 'noise': '', 'sigma_8bit': '', 'sigma': '', 'quality': int(level),
                'is_train_sigma': 0}
    return {'degradation': config.noise, 'noise': config.noise, 'sigma_8bit': level, 'sigma': level / 255.0,
            'quality': '', 'is_train_sigma': int(model.is_train_sigma(level))}


def model_key(config: SweepConfig, model: ModelSpec, device: torch.device) -> dict:
    """The cache-key fields of a model's points besides test set and level: checkpoint content, network, how it runs
    (memory format, compilation, TF32, device type, torch version), degradation and seed."""
    return {'version': CACHE_VERSION, 'checkpoint_sha256': file_sha256(model.checkpoint),
            'network_g': model.network_opt, 'param_key': model.param_key, 'channels_last': model.channels_last,
            'allow_tf32': model.allow_tf32, 'compile': None if model.compile is None else asdict(model.compile),
            'device': device.type, 'torch': torch.__version__, 'noise': config.noise, 'seed': config.seed}


def run_sweep(config: SweepConfig, progress: bool = True) -> list[dict]:
    """One row per (model, dataset, level); cached points are read back, so only missing points load a network."""
    missing = [f'{m.label}: {m.checkpoint}' for m in config.models if not osp.isfile(m.checkpoint)]
    if missing:
        raise FileNotFoundError('checkpoints not found (train the models first):\n  ' + '\n  '.join(missing))
    cache = ResultCache(config.cache_dir)
    device = resolve_device(config.device)
    identities = {dataset.name: dataset.identity() for dataset in config.datasets}
    loaded_sets: dict[str, list[tuple[str, Tensor]]] = {}
    rows = []
    unit = 'q' if config.noise == JPEG else 'σ'
    total = len(config.models) * len(config.datasets) * len(config.levels)
    with tqdm(total=total, desc=config.name, unit='point', disable=not progress) as bar:
        for model in config.models:
            base = model_key(config, model, device)
            dtype = precision_dtype(model.inference_dtype, 'inference_dtype', device)
            net: nn.Module | None = None
            for dataset in config.datasets:
                for level in config.levels:
                    bar.set_postfix_str(f'{model.label} | {dataset.name} | {unit} {level:g}')
                    point = {**base, 'dataset': identities[dataset.name], 'quality' if unit == 'q' else 'sigma': level}
                    # the NE defect is measured in fp32 whatever the inference dtype, so only quality keys name it
                    quality_key = {**point, 'metric': 'quality', 'n_averages': config.n_averages,
                                   'inference_dtype': dtype_name(dtype)}
                    quality = cache.get(quality_key)
                    ne_key = {**point, 'metric': 'ne_defect', 'spec': config.ne_defect.identity()} \
                        if config.ne_defect else None
                    ne = cache.get(ne_key) if ne_key else {'ne_defect': math.nan, 'ne_evaluations': 0}
                    if quality is None or ne is None:
                        if net is None:
                            set_tf32(model.allow_tf32, device)  # on CUDA, fp32 means fp32 unless allow_tf32: true
                            net = prepare_network(load_network(model, device), model.channels_last, model.compile,
                                                  device)
                        if dataset.name not in loaded_sets:
                            loaded_sets[dataset.name] = dataset.load()
                        images = loaded_sets[dataset.name]
                    if quality is None:
                        with eval_mode(net):
                            quality = evaluate_quality(net, images, config.noise, level, config.n_averages,
                                                       config.seed, config.batch_size, device, dtype,
                                                       model.channels_last)
                        quality['num_images'] = len(images)
                        cache.put(quality_key, quality)
                    if ne is None:
                        ne = evaluate_ne_defect(net, images, config.noise, level, config.ne_defect, config.seed,
                                                device)
                        cache.put(ne_key, ne)
                    rows.append({'model': model.label, 'dataset': dataset.name, **level_fields(config, model, level),
                                 'sigma_train': model.sigma_train_text, 'n_averages': config.n_averages, **quality,
                                 **ne})
                    bar.update(1)
    return rows
