"""Validation/test set: whole clean images with noise seeded by (seed, image stem, σ), identical for every model, or
their JPEG-compressed copies."""
from __future__ import annotations

import os.path as osp

import torch
from basicsr.utils.registry import DATASET_REGISTRY

from wne_basicsr.data.degradations import degraded_copy
from wne_basicsr.data.image_io import ImageSetDataset, to_tensor
from wne_basicsr.data.noise import NoiseSpec
from wne_basicsr.option_checks import DATASET_LOADER_OPTIONS, OptionError
from wne_basicsr.registry_errors import check_known_keys


@DATASET_REGISTRY.register()
class NoisyEvalDataset(ImageSetDataset):
    """Whole images plus a deterministic degraded copy; returns lq, gt, lq_path, gt_path, sigma (the JPEG quality for
    jpeg).

    Options: dataroot_gt, io_backend, noise ({type, sigma} or {type: jpeg, quality}), color (gray | rgb), seed
    (default 0), draw (default 0), max_images (the first n images; default all).
    """

    options = frozenset({'dataroot_gt', 'io_backend', 'color', 'max_images', 'noise', 'seed', 'draw'})

    def __init__(self, opt: dict) -> None:
        check_known_keys(opt, DATASET_LOADER_OPTIONS | self.options, f'dataset {opt.get("name", type(self).__name__)}')
        super().__init__(opt)
        self.noise = NoiseSpec.from_opt(opt.get('noise'), f'{self.where}: noise')
        if self.noise.sigma is None and self.noise.quality is None:
            raise OptionError(f'{self.where}: noise needs a fixed "sigma" for evaluation, not a sigma_range')
        self.level = self.noise.quality if self.noise.quality is not None else self.noise.sigma
        self.seed = int(opt.get('seed', 0))
        self.draw = int(opt.get('draw', 0))

    def __getitem__(self, index: int) -> dict:
        img, path = self.clean(index)
        clean = to_tensor(img)
        stem = osp.splitext(osp.basename(path))[0]
        lq = degraded_copy(clean, self.noise.type, self.level, stem, self.seed, self.draw)
        return {'lq': lq, 'gt': clean, 'lq_path': path, 'gt_path': path, 'sigma': torch.tensor(float(self.level))}
