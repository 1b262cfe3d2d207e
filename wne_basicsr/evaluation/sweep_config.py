"""What a noise-mismatch sweep runs: its models, test sets, σ grid and NE-defect settings, from its options."""
from __future__ import annotations

import os.path as osp
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from wne_basicsr.data.degradations import DEGRADATIONS, JPEG, level_column
from wne_basicsr.data.image_io import COLORS, ImageSource, to_tensor
from wne_basicsr.data.noise import check_quality
from wne_basicsr.errors import OptionError
from wne_basicsr.evaluation.cache import file_sha256
from wne_basicsr.evaluation.options import read_yaml
from wne_basicsr.inference.precision import CompileSpec, precision_dtype
from wne_basicsr.registry_errors import check_arch_options

SigmaTrain = float | tuple[float, float] | None
INFERENCE_KEYS = ('inference_dtype', 'allow_tf32', 'channels_last', 'compile')  # per sweep, or per model


def image_stem(path: str) -> str:
    """An image's file name without folder and extension: what seeds its noise draws."""
    return osp.splitext(osp.basename(path))[0]


def sigma_grid(num: int = 20, lo: float = 5.0, hi: float = 100.0, extra: Iterable[float] = ()) -> list[float]:
    """``num`` geometric σ from ``lo`` to ``hi`` plus ``extra`` (e.g. σ_train), sorted and deduplicated (6 decimals)."""
    if num < 1 or lo <= 0 or hi < lo:
        raise OptionError(f'sigma_grid: need num >= 1 and 0 < min <= max, got num={num}, min={lo}, max={hi}')
    points = np.geomspace(lo, hi, num) if num > 1 else [lo]
    return sorted({round(float(s), 6) for s in [*points, *extra]})


def _sigma_train(value: object, where: str) -> SigmaTrain:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    raise OptionError(f'{where}: sigma_train must be a number, [lo, hi] or null (8-bit units), got {value!r}')


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
    allow_tf32: bool = False

    @classmethod
    def from_opt(cls, label: str, opt: Mapping, defaults: Mapping | None = None) -> ModelSpec:
        """From ``{options | network_g, checkpoint, sigma_train, param_key}`` and the inference options
        (``inference_dtype``, ``allow_tf32``, ``channels_last``, ``compile``, else those of ``defaults``); σ_train
        defaults to the training σ."""
        where = f'models.{label}'
        unknown = set(opt) - {'options', 'network_g', 'checkpoint', 'sigma_train', 'param_key', *INFERENCE_KEYS}
        if unknown:
            raise OptionError(f'{where}: unknown keys {sorted(unknown)}; expected options or network_g, checkpoint, '
                              f'sigma_train, param_key, {", ".join(INFERENCE_KEYS)}')
        if bool(opt.get('options')) == bool(opt.get('network_g')):
            raise OptionError(f'{where}: give exactly one of "options" (a training options file) or "network_g"')
        train_opt = read_yaml(opt['options']) if opt.get('options') else {}
        network_opt = opt.get('network_g') or train_opt.get('network_g')
        if not isinstance(network_opt, Mapping) or 'type' not in network_opt:
            raise OptionError(f'{where}: no network_g with a "type" in {opt.get("options") or "the model entry"}')
        check_arch_options(network_opt, f'{where}.network_g')
        if not opt.get('checkpoint'):
            raise OptionError(f'{where}: option "checkpoint" (a BasicSR .pth file) is missing')
        sigma_train = (_sigma_train(opt['sigma_train'], f'{where}.sigma_train') if 'sigma_train' in opt
                       else training_sigma(train_opt))
        inference = {**(defaults or {}), **{k: opt[k] for k in INFERENCE_KEYS if k in opt}}
        dtype = inference.get('inference_dtype') or 'fp32'
        precision_dtype(dtype, f'{where}.inference_dtype')
        channels_last = inference.get('channels_last', False)
        if not isinstance(channels_last, bool):
            raise OptionError(f'{where}.channels_last must be true or false, got {channels_last!r}')
        allow_tf32 = inference.get('allow_tf32', False)
        if not isinstance(allow_tf32, bool):
            raise OptionError(f'{where}.allow_tf32 must be true or false, got {allow_tf32!r}')
        return cls(str(label), dict(network_opt), str(opt['checkpoint']), sigma_train, opt.get('param_key', 'params'),
                   dtype, channels_last, CompileSpec.from_opt(inference.get('compile'), f'{where}.compile'), allow_tf32)

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
            raise OptionError(f'{where}: unknown keys {sorted(unknown)}; expected dataroot_gt, color, io_backend, '
                              'max_images')
        root = opt.get('dataroot_gt')
        if not root:
            raise OptionError(f'{where}: option "dataroot_gt" is missing')
        color = opt.get('color', 'gray')
        if color not in COLORS:
            raise OptionError(f'{where}: color must be one of {COLORS}, got {color!r}')
        max_images = opt.get('max_images')
        if max_images is not None and int(max_images) < 1:
            raise OptionError(f'{where}: max_images must be >= 1 or null, got {max_images}')
        root = root if isinstance(root, str) else tuple(root)
        io_backend = tuple(sorted((opt.get('io_backend') or {'type': 'disk'}).items()))
        return cls(str(name), root, color, io_backend, None if max_images is None else int(max_images))

    def source(self) -> ImageSource:
        """This set's images: those under its roots, in sorted order, only the first ``max_images``."""
        root = self.dataroot_gt if isinstance(self.dataroot_gt, str) else list(self.dataroot_gt)
        source = ImageSource(root, dict(self.io_backend), f'datasets.{self.name}')
        source.records = source.records[:self.max_images]
        return source

    def identity(self) -> dict:
        """What determines this set's images, for cache keys: the color, each image's stem (it seeds the noise) and
        content (byte size and SHA-256 of each file; of an LMDB, its data.mdb), not where the files lie."""
        source = self.source()
        files = ([osp.join(root, 'data.mdb') for root in source.roots] if source.backend == 'lmdb'
                 else [record.path for record in source.records])
        return {'color': self.color, 'stems': [image_stem(record.path) for record in source.records],
                'content': [[osp.getsize(path), file_sha256(path)] for path in files]}

    def load(self) -> list[tuple[str, Tensor]]:
        """(stem, clean C×H×W float32 tensor in [0, 1]) for each image, in sorted order."""
        source = self.source()
        return [(image_stem(record.path), to_tensor(source.read(index, self.color)))
                for index, record in enumerate(source.records)]


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
            raise OptionError(f'ne_defect: expected false, true or a mapping, got {opt!r}')
        unknown = set(opt) - {'num_affine', 'a_range', 'b_range', 'tau', 'max_images'}
        if unknown:
            raise OptionError(f'ne_defect: unknown keys {sorted(unknown)}; expected num_affine, a_range, b_range, '
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
    levels: tuple[float, ...]  # σ in 8-bit units, or JPEG qualities
    noise: str = 'gaussian'  # a noise family, or jpeg
    n_averages: int = 20
    seed: int = 0
    batch_size: int = 8
    device: str = 'auto'
    ne_defect: NEDefectSpec | None = NEDefectSpec()
    cache_dir: str | None = osp.join('results', 'mismatch_cache')
    output_dir: str = osp.join('results', 'mismatch')
    tensorboard: bool = False

    @property
    def level_key(self) -> str:
        """The CSV column of the degradation's level: ``quality`` for JPEG, else ``sigma_8bit``."""
        return level_column(self.noise)

    @classmethod
    def from_opt(cls, opt: Mapping) -> SweepConfig:
        """From sweep options: name, models {label: …}, datasets {name: …}, sigmas | sigma_grid (or, for ``noise:
        jpeg``, qualities), and the fields."""
        known = {'name', 'models', 'datasets', 'sigmas', 'sigma_grid', 'include_train_sigma', 'noise', 'qualities',
                 'n_averages', 'seed', 'batch_size', 'device', 'ne_defect', 'cache_dir', 'output_dir', 'tensorboard',
                 *INFERENCE_KEYS}
        unknown = set(opt) - known
        if unknown:
            raise OptionError(f'sweep options: unknown keys {sorted(unknown)}; expected {sorted(known)}')
        if not opt.get('name'):
            raise OptionError('sweep options: "name" is missing (results go to <output_dir>/<name>)')
        for key in ('models', 'datasets'):
            if not isinstance(opt.get(key) or {}, Mapping):
                raise OptionError(f'sweep options: "{key}" must be a mapping of name → options, got {opt[key]!r}')
        inference = {k: opt[k] for k in INFERENCE_KEYS if k in opt}
        models = tuple(ModelSpec.from_opt(label, m or {}, inference) for label, m in (opt.get('models') or {}).items())
        datasets = tuple(DatasetSpec.from_opt(name, d or {}) for name, d in (opt.get('datasets') or {}).items())
        if not models or not datasets:
            raise OptionError('sweep options: need at least one entry under "models" and one under "datasets"')
        noise = opt.get('noise', 'gaussian')
        if noise not in DEGRADATIONS:
            raise OptionError(f'sweep options: noise must be one of {DEGRADATIONS}, got {noise!r}')
        n_averages, batch_size = int(opt.get('n_averages', 20)), int(opt.get('batch_size', 8))
        if n_averages < 1 or batch_size < 1:
            raise OptionError(f'sweep options: n_averages and batch_size must be >= 1, got {n_averages}, {batch_size}')
        levels = quality_levels(opt) if noise == JPEG else sigma_levels(opt, models)
        if noise == JPEG:
            n_averages = 1  # JPEG is deterministic: one copy per image
        cache_dir = opt.get('cache_dir', cls.cache_dir)
        return cls(str(opt['name']), models, datasets, tuple(levels), noise, n_averages, int(opt.get('seed', 0)),
                   batch_size, str(opt.get('device', 'auto')), NEDefectSpec.from_opt(opt.get('ne_defect')),
                   cache_dir or None, opt.get('output_dir', cls.output_dir), bool(opt.get('tensorboard', False)))

    @property
    def result_folder(self) -> str:
        """Where the CSV and the plots go: ``<output_dir>/<name>``."""
        return osp.join(self.output_dir, self.name)


def sigma_levels(opt: Mapping, models: tuple[ModelSpec, ...]) -> list[float]:
    """The σ grid of noise sweep options: ``sigmas`` or ``sigma_grid``, plus the models' fixed training σ."""
    if opt.get('qualities') is not None:
        raise OptionError('sweep options: "qualities" go with noise: jpeg; noise sweeps take sigmas or sigma_grid')
    train_sigmas = [m.sigma_train for m in models if isinstance(m.sigma_train, float)]
    extra = train_sigmas if opt.get('include_train_sigma', True) else []
    if opt.get('sigmas') is not None:
        sigmas = sorted({round(float(s), 6) for s in [*opt['sigmas'], *extra]})
    else:
        grid = opt.get('sigma_grid') or {}
        sigmas = sigma_grid(int(grid.get('num', 20)), float(grid.get('min', 5)), float(grid.get('max', 100)), extra)
    if any(s < 0 for s in sigmas):
        raise OptionError(f'sweep options: σ must be >= 0 (8-bit units), got {sigmas}')
    return sigmas


def quality_levels(opt: Mapping) -> list[int]:
    """The JPEG qualities of ``noise: jpeg`` sweep options (``qualities: [5, 10, …, 85]``)."""
    if opt.get('sigmas') is not None or opt.get('sigma_grid') is not None:
        raise OptionError('sweep options: noise: jpeg takes "qualities" (JPEG qualities), not sigmas or sigma_grid')
    qualities = opt.get('qualities')
    if not isinstance(qualities, (list, tuple)) or not qualities:
        raise OptionError(f'sweep options: noise: jpeg needs "qualities", a list of JPEG qualities, got {qualities!r}')
    return sorted({check_quality(q, f'sweep options: qualities[{i}]') for i, q in enumerate(qualities)})
