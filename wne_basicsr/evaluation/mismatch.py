"""Noise-mismatch sweep (docs/method.md §5.1–5.3): models × test sets × σ grid → a tidy row per point, cached.

Each (image, σ) point stacks the seeded draws k = 0…n_averages−1 of ``eval_noisy`` into one batch, runs the network in
eval mode on whole images (padded to its window multiple), clamps outputs to [0, 1] for PSNR and SSIM, and takes the
input PSNR from the unclamped noisy image. The NE defect uses K affine draws on noise draw 0 of each image, always in
fp32 (whatever ``inference_dtype`` says), so that it measures the network and not the rounding.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import os.path as osp
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass

import numpy as np
import torch
import yaml
from basicsr.archs import build_network
from basicsr.metrics import calculate_psnr, calculate_ssim
from skimage.metrics import structural_similarity
from torch import Tensor, nn
from tqdm import tqdm

from wne_basicsr.data.image_io import COLORS, ImageSource
from wne_basicsr.data.noise import NOISE_TYPES, eval_noisy, seeded_generator
from wne_basicsr.inference.precision import (
    CompileSpec,
    autocast,
    batch_format,
    dtype_name,
    precision_dtype,
    prepare_network,
)
from wne_basicsr.metrics.ne_defect import eval_mode, ne_defect, whole_image_forward
from wne_basicsr.metrics.psnr_float import MIN_MSE

CACHE_VERSION = 1
QUALITY_COLUMNS = ('input_psnr_db', 'psnr_float_db', 'psnr_uint8_db', 'ssim', 'ssim_uint8')
CSV_COLUMNS = ('model', 'dataset', 'noise', 'sigma_8bit', 'sigma', 'sigma_train', 'is_train_sigma', 'n_averages',
               'num_images', *QUALITY_COLUMNS, 'ne_defect', 'ne_evaluations')
SigmaTrain = float | tuple[float, float] | None
INFERENCE_KEYS = ('inference_dtype', 'channels_last', 'compile')  # per sweep, or per model


def sigma_grid(num: int = 20, lo: float = 5.0, hi: float = 100.0, extra: Iterable[float] = ()) -> list[float]:
    """``num`` geometric σ from ``lo`` to ``hi`` plus ``extra`` (e.g. σ_train), sorted and deduplicated (6 decimals)."""
    if num < 1 or lo <= 0 or hi < lo:
        raise ValueError(f'sigma_grid: need num >= 1 and 0 < min <= max, got num={num}, min={lo}, max={hi}')
    points = np.geomspace(lo, hi, num) if num > 1 else [lo]
    return sorted({round(float(s), 6) for s in [*points, *extra]})


def read_yaml(path: str) -> dict:
    """A YAML options file as a dict."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'options file {path!r} does not exist')
    with open(path) as f:
        opt = yaml.safe_load(f)
    if not isinstance(opt, dict):
        raise ValueError(f'{path}: expected a mapping of options, got {type(opt).__name__}')
    return opt


def merge_options(defaults: dict, path: str | None, flags: dict) -> dict:
    """Defaults, then the options file at ``path``, then the flags that were given (not None)."""
    opt = {**defaults, **(read_yaml(path) if path else {})}
    unknown = set(opt) - set(defaults)
    if unknown:
        raise ValueError(f'{path}: unknown options {sorted(unknown)}; expected {sorted(defaults)}')
    opt.update({key: value for key, value in flags.items() if value is not None})
    return opt


def file_sha256(path: str) -> str:
    """SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _sigma_train(value: object, where: str) -> SigmaTrain:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    raise ValueError(f'{where}: sigma_train must be a number, [lo, hi] or null (8-bit units), got {value!r}')


def training_sigma(train_opt: Mapping) -> SigmaTrain:
    """σ (or [lo, hi]) of the training set's noise in BasicSR training options, if any."""
    noise = ((train_opt.get('datasets') or {}).get('train') or {}).get('noise') or {}
    value = noise.get('sigma', noise.get('sigma_range'))
    return _sigma_train(value, 'datasets.train.noise')


@dataclass(frozen=True)
class ModelSpec:
    """One model of a sweep: a label, its ``network_g`` options, a BasicSR checkpoint and its training σ."""

    label: str
    network_opt: dict
    checkpoint: str
    sigma_train: SigmaTrain = None
    param_key: str = 'params'
    inference_dtype: str = 'fp32'
    channels_last: bool = False
    compile: CompileSpec | None = None

    @classmethod
    def from_opt(cls, label: str, opt: Mapping, defaults: Mapping | None = None) -> ModelSpec:
        """From ``{options | network_g, checkpoint, sigma_train, param_key}`` and the inference options
        (``inference_dtype``, ``channels_last``, ``compile``, else those of ``defaults``); σ_train defaults to the
        training σ."""
        where = f'models.{label}'
        unknown = set(opt) - {'options', 'network_g', 'checkpoint', 'sigma_train', 'param_key', *INFERENCE_KEYS}
        if unknown:
            raise ValueError(f'{where}: unknown keys {sorted(unknown)}; expected options or network_g, checkpoint, '
                             f'sigma_train, param_key, {", ".join(INFERENCE_KEYS)}')
        if bool(opt.get('options')) == bool(opt.get('network_g')):
            raise ValueError(f'{where}: give exactly one of "options" (a training options file) or "network_g"')
        train_opt = read_yaml(opt['options']) if opt.get('options') else {}
        network_opt = opt.get('network_g') or train_opt.get('network_g')
        if not isinstance(network_opt, Mapping) or 'type' not in network_opt:
            raise ValueError(f'{where}: no network_g with a "type" in {opt.get("options") or "the model entry"}')
        if not opt.get('checkpoint'):
            raise ValueError(f'{where}: option "checkpoint" (a BasicSR .pth file) is missing')
        sigma_train = (_sigma_train(opt['sigma_train'], f'{where}.sigma_train') if 'sigma_train' in opt
                       else training_sigma(train_opt))
        inference = {**(defaults or {}), **{k: opt[k] for k in INFERENCE_KEYS if k in opt}}
        dtype = inference.get('inference_dtype') or 'fp32'
        precision_dtype(dtype, f'{where}.inference_dtype')
        channels_last = inference.get('channels_last', False)
        if not isinstance(channels_last, bool):
            raise ValueError(f'{where}.channels_last must be true or false, got {channels_last!r}')
        return cls(str(label), dict(network_opt), str(opt['checkpoint']), sigma_train, opt.get('param_key', 'params'),
                   dtype, channels_last, CompileSpec.from_opt(inference.get('compile'), f'{where}.compile'))

    @property
    def sigma_train_text(self) -> str:
        """σ_train for the CSV: '25', '0-55' or '' when unknown."""
        if self.sigma_train is None:
            return ''
        if isinstance(self.sigma_train, tuple):
            return f'{self.sigma_train[0]:g}-{self.sigma_train[1]:g}'
        return f'{self.sigma_train:g}'

    def is_train_sigma(self, sigma: float) -> bool:
        """Whether ``sigma`` is this model's (fixed) training σ."""
        return isinstance(self.sigma_train, float) and abs(sigma - self.sigma_train) < 1e-6


@dataclass(frozen=True)
class DatasetSpec:
    """A test set: clean images under ``dataroot_gt`` (folder(s) or LMDB), optionally only the first ``max_images``."""

    name: str
    dataroot_gt: str | tuple[str, ...]
    color: str = 'gray'
    io_backend: tuple[tuple[str, object], ...] = (('type', 'disk'),)
    max_images: int | None = None

    @classmethod
    def from_opt(cls, name: str, opt: Mapping) -> DatasetSpec:
        """From ``{dataroot_gt, color, io_backend, max_images}``."""
        where = f'datasets.{name}'
        unknown = set(opt) - {'dataroot_gt', 'color', 'io_backend', 'max_images'}
        if unknown:
            raise ValueError(f'{where}: unknown keys {sorted(unknown)}; expected dataroot_gt, color, io_backend, '
                             'max_images')
        root = opt.get('dataroot_gt')
        if not root:
            raise ValueError(f'{where}: option "dataroot_gt" is missing')
        color = opt.get('color', 'gray')
        if color not in COLORS:
            raise ValueError(f'{where}: color must be one of {COLORS}, got {color!r}')
        max_images = opt.get('max_images')
        if max_images is not None and int(max_images) < 1:
            raise ValueError(f'{where}: max_images must be >= 1 or null, got {max_images}')
        root = root if isinstance(root, str) else tuple(root)
        io_backend = tuple(sorted((opt.get('io_backend') or {'type': 'disk'}).items()))
        return cls(str(name), root, color, io_backend, None if max_images is None else int(max_images))

    def identity(self) -> dict:
        """What determines this set's images, for cache keys."""
        roots = [self.dataroot_gt] if isinstance(self.dataroot_gt, str) else list(self.dataroot_gt)
        return {'roots': [osp.abspath(r) for r in roots], 'color': self.color, 'io_backend': dict(self.io_backend),
                'max_images': self.max_images}

    def load(self) -> list[tuple[str, Tensor]]:
        """(stem, clean C×H×W float32 tensor in [0, 1]) for each image, in sorted order."""
        root = self.dataroot_gt if isinstance(self.dataroot_gt, str) else list(self.dataroot_gt)
        source = ImageSource(root, dict(self.io_backend), f'datasets.{self.name}')
        count = len(source) if self.max_images is None else min(len(source), self.max_images)
        images = []
        for index in range(count):
            stem = osp.splitext(osp.basename(source.records[index].path))[0]
            img = source.read(index, self.color)
            images.append((stem, torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))))
        return images


@dataclass(frozen=True)
class NEDefectSpec:
    """NE-defect settings of a sweep (§5.3): K affine draws, their ranges, τ, and an optional image cap per set."""

    num_affine: int = 8
    a_range: tuple[float, float] = (0.5, 1.5)
    b_range: tuple[float, float] = (-0.25, 0.25)
    tau: float = 1e-6
    max_images: int | None = None

    @classmethod
    def from_opt(cls, opt: bool | Mapping | None) -> NEDefectSpec | None:
        """``false`` → off; ``true``/missing → defaults; a mapping overrides some of the fields."""
        if opt is False:
            return None
        if opt is None or opt is True:
            return cls()
        if not isinstance(opt, Mapping):
            raise ValueError(f'ne_defect: expected false, true or a mapping, got {opt!r}')
        unknown = set(opt) - {'num_affine', 'a_range', 'b_range', 'tau', 'max_images'}
        if unknown:
            raise ValueError(f'ne_defect: unknown keys {sorted(unknown)}; expected num_affine, a_range, b_range, '
                             'tau, max_images')
        base = cls()
        max_images = opt.get('max_images', base.max_images)
        return cls(int(opt.get('num_affine', base.num_affine)),
                   tuple(float(v) for v in opt.get('a_range', base.a_range)),
                   tuple(float(v) for v in opt.get('b_range', base.b_range)),
                   float(opt.get('tau', base.tau)), None if max_images is None else int(max_images))

    def identity(self) -> dict:
        """These settings, for cache keys."""
        return {'num_affine': self.num_affine, 'a_range': list(self.a_range), 'b_range': list(self.b_range),
                'tau': self.tau, 'max_images': self.max_images}


@dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep needs; see ``from_opt`` for the options schema."""

    name: str
    models: tuple[ModelSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    sigmas: tuple[float, ...]
    noise: str = 'gaussian'
    n_averages: int = 20
    seed: int = 0
    batch_size: int = 8
    device: str = 'auto'
    ne_defect: NEDefectSpec | None = NEDefectSpec()
    cache_dir: str | None = osp.join('results', 'mismatch_cache')
    output_dir: str = osp.join('results', 'mismatch')

    @classmethod
    def from_opt(cls, opt: Mapping) -> SweepConfig:
        """From sweep options: name, models {label: …}, datasets {name: …}, sigmas | sigma_grid, and the fields."""
        known = {'name', 'models', 'datasets', 'sigmas', 'sigma_grid', 'include_train_sigma', 'noise', 'n_averages',
                 'seed', 'batch_size', 'device', 'ne_defect', 'cache_dir', 'output_dir', *INFERENCE_KEYS}
        unknown = set(opt) - known
        if unknown:
            raise ValueError(f'sweep options: unknown keys {sorted(unknown)}; expected {sorted(known)}')
        if not opt.get('name'):
            raise ValueError('sweep options: "name" is missing (results go to <output_dir>/<name>)')
        for key in ('models', 'datasets'):
            if not isinstance(opt.get(key) or {}, Mapping):
                raise ValueError(f'sweep options: "{key}" must be a mapping of name → options, got {opt[key]!r}')
        inference = {k: opt[k] for k in INFERENCE_KEYS if k in opt}
        models = tuple(ModelSpec.from_opt(label, m or {}, inference) for label, m in (opt.get('models') or {}).items())
        datasets = tuple(DatasetSpec.from_opt(name, d or {}) for name, d in (opt.get('datasets') or {}).items())
        if not models or not datasets:
            raise ValueError('sweep options: need at least one entry under "models" and one under "datasets"')
        noise = opt.get('noise', 'gaussian')
        if noise not in NOISE_TYPES:
            raise ValueError(f'sweep options: noise must be one of {NOISE_TYPES}, got {noise!r}')
        n_averages, batch_size = int(opt.get('n_averages', 20)), int(opt.get('batch_size', 8))
        if n_averages < 1 or batch_size < 1:
            raise ValueError(f'sweep options: n_averages and batch_size must be >= 1, got {n_averages}, {batch_size}')
        train_sigmas = [m.sigma_train for m in models if isinstance(m.sigma_train, float)]
        extra = train_sigmas if opt.get('include_train_sigma', True) else []
        if opt.get('sigmas') is not None:
            sigmas = sorted({round(float(s), 6) for s in [*opt['sigmas'], *extra]})
        else:
            grid = opt.get('sigma_grid') or {}
            sigmas = sigma_grid(int(grid.get('num', 20)), float(grid.get('min', 5)), float(grid.get('max', 100)),
                                extra)
        if any(s < 0 for s in sigmas):
            raise ValueError(f'sweep options: σ must be >= 0 (8-bit units), got {sigmas}')
        cache_dir = opt.get('cache_dir', cls.cache_dir)
        return cls(str(opt['name']), models, datasets, tuple(sigmas), noise, n_averages, int(opt.get('seed', 0)),
                   batch_size, str(opt.get('device', 'auto')), NEDefectSpec.from_opt(opt.get('ne_defect')),
                   cache_dir or None, opt.get('output_dir', cls.output_dir))

    @property
    def result_folder(self) -> str:
        """Where the CSV and the plots go: ``<output_dir>/<name>``."""
        return osp.join(self.output_dir, self.name)


class ResultCache:
    """Small JSON files keyed by a hash of everything that determines a result; ``folder=None`` turns it off."""

    def __init__(self, folder: str | None) -> None:
        self.folder = folder

    def _path(self, key: Mapping) -> str:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return osp.join(self.folder, digest[:2], f'{digest}.json')

    def get(self, key: Mapping) -> dict | None:
        """The stored value for ``key``, or None."""
        if self.folder is None or not osp.isfile(self._path(key)):
            return None
        with open(self._path(key)) as f:
            return json.load(f)['value']

    def put(self, key: Mapping, value: dict) -> None:
        """Store ``value`` for ``key`` (written to a temporary file, then renamed)."""
        if self.folder is None:
            return
        path = self._path(key)
        os.makedirs(osp.dirname(path), exist_ok=True)
        temporary = f'{path}.{os.getpid()}.tmp'
        with open(temporary, 'w') as f:
            json.dump({'key': key, 'value': value}, f, sort_keys=True)
        os.replace(temporary, path)


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; anything else as given."""
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(device)


def load_network(model: ModelSpec, device: torch.device | str = 'cpu') -> nn.Module:
    """Build ``network_g`` and load its BasicSR checkpoint (``param_key``, else a raw state dict), in eval mode."""
    net = build_network(deepcopy(model.network_opt))
    state = torch.load(model.checkpoint, map_location='cpu', weights_only=True)
    if model.param_key in state:
        state = state[model.param_key]
    elif not all(isinstance(v, Tensor) for v in state.values()):
        raise KeyError(f'{model.checkpoint}: no "{model.param_key}" entry (found {sorted(state)[:5]})')
    state = {k.removeprefix('module.'): v for k, v in state.items()}
    net.load_state_dict(state, strict=True)
    return net.to(device).eval()


def psnr_db(x: Tensor, ref: Tensor) -> Tensor:
    """Per-instance float PSNR with peak 1: −10·log10(MSE), MSE floored at ``MIN_MSE``; nothing clamped here."""
    mse = (x.double() - ref.double()).flatten(1).square().mean(dim=1)
    return -10 * torch.log10(mse.clamp_min(MIN_MSE))


def uint8_metrics(out: Tensor, clean: Tensor) -> tuple[float, float]:
    """BasicSR's PSNR and SSIM (11×11 Gaussian) of round(clamp(out)·255) against the uint8 ground truth (crop 0)."""
    out8, clean8 = ((t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy() for t in (out, clean))
    return float(calculate_psnr(out8, clean8, crop_border=0)), float(calculate_ssim(out8, clean8, crop_border=0))


def ssim_255(out: Tensor, clean: Tensor) -> float:
    """Paper SSIM (§5.2) of a C×H×W pair in [0, 1]: ×255, clamped, 7×7 uniform window, sample covariance, crop 3."""
    a, b = ((t.double() * 255).clamp(0, 255).numpy() for t in (out, clean))
    if a.shape[0] == 1:
        return float(structural_similarity(a[0], b[0], data_range=255))
    return float(structural_similarity(a, b, data_range=255, channel_axis=0))


def evaluate_quality(net: nn.Module, images: list[tuple[str, Tensor]], noise: str, sigma: float, n_averages: int,
                     seed: int = 0, batch_size: int = 8, device: torch.device | str = 'cpu',
                     dtype: torch.dtype | None = None, channels_last: bool = False) -> dict[str, float]:
    """Input PSNR, float/uint8 PSNR, paper/uint8 SSIM at one σ: mean over draws k < ``n_averages``, then images.

    The network runs under autocast in ``dtype`` (None: fp32), on channels-last batches if asked.
    """
    per_image = []
    for stem, clean in images:
        noisy = torch.stack([eval_noisy(clean, noise, sigma, stem, seed, k) for k in range(n_averages)])
        with autocast(device, dtype):
            out = torch.cat([whole_image_forward(net, batch_format(chunk.to(device), channels_last)).float().cpu()
                             for chunk in noisy.split(batch_size)]).clamp(0, 1)
        ref = clean.expand_as(noisy)
        psnr8, ssim8 = np.mean([uint8_metrics(o, clean) for o in out], axis=0)
        per_image.append([float(psnr_db(noisy, ref).mean()), float(psnr_db(out, ref).mean()), psnr8,
                          float(np.mean([ssim_255(o, clean) for o in out])), ssim8])
    return dict(zip(QUALITY_COLUMNS, (float(v) for v in np.mean(per_image, axis=0))))


def evaluate_ne_defect(net: nn.Module, images: list[tuple[str, Tensor]], noise: str, sigma: float,
                       spec: NEDefectSpec, seed: int = 0, device: torch.device | str = 'cpu') -> dict[str, float]:
    """Mean NE defect over images (K affine draws on noise draw 0, seeded by (seed, stem, σ, 0, 'ne')) and its count."""
    values = []
    for stem, clean in images[:spec.max_images]:
        noisy = eval_noisy(clean, noise, sigma, stem, seed, 0)[None].to(device)
        generator = seeded_generator(seed, stem, f'{float(sigma):.6f}', 0, 'ne')
        values.append(ne_defect(net, noisy, spec.num_affine, spec.a_range, spec.b_range, spec.tau, generator))
    return {'ne_defect': float(np.mean(values)), 'ne_evaluations': len(values) * spec.num_affine}


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


def write_csv(rows: list[dict], path: str) -> str:
    """Write the tidy rows (columns ``CSV_COLUMNS``) to ``path``; return it."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction='raise')
        writer.writeheader()
        writer.writerows({c: row[c] for c in CSV_COLUMNS} for row in rows)
    return path
