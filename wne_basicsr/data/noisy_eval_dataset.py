"""Validation/test set: whole clean images with noise seeded by (seed, image stem, σ), identical for every model."""
from __future__ import annotations

import os.path as osp

import torch
from basicsr.utils.registry import DATASET_REGISTRY

from wne_basicsr.data.image_io import ImageSetDataset, to_tensor
from wne_basicsr.data.noise import NoiseSpec, eval_noisy


@DATASET_REGISTRY.register()
class NoisyEvalDataset(ImageSetDataset):
    """Whole images plus a deterministic noisy copy at a fixed σ; returns lq, gt, lq_path, gt_path, sigma.

    Options: dataroot_gt, io_backend, noise ({type, sigma}), color (gray | rgb), seed (default 0), draw (default 0),
    max_images (the first n images; default all).
    """

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        self.noise = NoiseSpec.from_opt(opt.get('noise'), f'{self.where}: noise')
        if self.noise.sigma is None:
            raise ValueError(f'{self.where}: noise needs a fixed "sigma" for evaluation, not a sigma_range')
        self.seed = int(opt.get('seed', 0))
        self.draw = int(opt.get('draw', 0))

    def __getitem__(self, index: int) -> dict:
        img, path = self.clean(index)
        clean = to_tensor(img)
        stem = osp.splitext(osp.basename(path))[0]
        lq = eval_noisy(clean, self.noise.type, self.noise.sigma, stem, self.seed, self.draw)
        return {'lq': lq, 'gt': clean, 'lq_path': path, 'gt_path': path, 'sigma': torch.tensor(self.noise.sigma)}
