"""Training set: clean images (folders or LMDBs) → random patches, dihedral augmentation, fresh noise per sample."""
from __future__ import annotations

import numpy as np
import torch
from basicsr.utils.registry import DATASET_REGISTRY

from wne_basicsr.data.image_io import ImageSetDataset, to_tensor
from wne_basicsr.data.noise import NOISE_TYPES, NoiseSpec, TrainingStream
from wne_basicsr.option_checks import DATASET_LOADER_OPTIONS, OptionError
from wne_basicsr.registry_errors import check_known_keys

OBJECTIVES = ('supervised', 'n2n')


def dihedral(img: np.ndarray, k: int) -> np.ndarray:
    """Dihedral transform k ∈ {0..7} of an H×W×C array: flip horizontally if k is odd, then rotate 90° (k//2) times."""
    if k % 2:
        img = img[:, ::-1]
    return np.rot90(img, k // 2, axes=(0, 1))


@DATASET_REGISTRY.register()
class NoisyImageDataset(TrainingStream, ImageSetDataset):
    """Random ``gt_size`` patches of clean images with on-the-fly noise; returns lq, gt, lq_path, gt_path, sigma.

    Options: dataroot_gt (folder, .lmdb, or a list), io_backend, gt_size, use_hflip, use_rot, noise ({type, sigma} or
    {type, sigma_range}), objective (supervised | n2n), color (gray | rgb), seed (see TrainingStream).
    """

    options = frozenset({'dataroot_gt', 'io_backend', 'color', 'max_images', 'gt_size', 'use_hflip', 'use_rot',
                         'noise', 'objective', 'seed'})

    def __init__(self, opt: dict) -> None:
        check_known_keys(opt, DATASET_LOADER_OPTIONS | self.options, f'dataset {opt.get("name", type(self).__name__)}')
        super().__init__(opt)
        where = self.where
        self.objective = opt.get('objective', 'supervised')
        if self.objective not in OBJECTIVES:
            raise OptionError(f'{where}: objective must be one of {OBJECTIVES}, got {self.objective!r}')
        self.noise = NoiseSpec.from_opt(opt.get('noise'), f'{where}: noise')
        if self.noise.quality is not None:
            raise OptionError(f'{where}: noise type jpeg is an evaluation-only degradation (NoisyEvalDataset, '
                              f'mismatch sweeps); train on a noise family: {", ".join(NOISE_TYPES)}')
        self.gt_size = opt.get('gt_size')
        if not isinstance(self.gt_size, int) or self.gt_size < 1:
            raise OptionError(f'{where}: gt_size must be a positive integer (the patch size), got {self.gt_size!r}')
        self.use_hflip = opt.get('use_hflip', True)
        self.use_rot = opt.get('use_rot', True)
        for record in self.source.records:
            if min(record.size) < self.gt_size:
                raise OptionError(f'{where}: {record.path} is {record.size[0]}×{record.size[1]}, '
                                  f'smaller than gt_size={self.gt_size}')
        self.init_stream(opt.get('seed'))

    def __getitem__(self, index: int) -> dict:
        gen = self.generator()
        img, path = self.clean(index)
        h, w = img.shape[:2]
        p = self.gt_size
        top = int(torch.randint(0, h - p + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - p + 1, (1,), generator=gen))
        patch = img[top:top + p, left:left + p]
        k = int(torch.randint(0, 8, (1,), generator=gen))
        if not self.use_hflip:
            k -= k % 2
        if not self.use_rot:
            k %= 2
        clean = to_tensor(dihedral(patch, k))
        sigma = self.noise.sample_sigma(1, gen)[0]
        lq = self.noise.add(clean, sigma, gen)
        target = self.noise.add(clean, sigma, gen) if self.objective == 'n2n' else clean
        out = {'lq': lq, 'gt': target, 'lq_path': path, 'gt_path': path, 'sigma': sigma}
        if self.objective == 'n2n':
            out['clean'] = clean
        return out
