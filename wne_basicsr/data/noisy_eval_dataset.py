"""Validation/test set: whole clean images with noise seeded by (seed, image stem, σ), identical for every model."""
from __future__ import annotations

import os.path as osp

import numpy as np
import torch
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data

from wne_basicsr.data.image_io import COLORS, ImageSource
from wne_basicsr.data.noise import NoiseSpec, eval_noisy


@DATASET_REGISTRY.register()
class NoisyEvalDataset(data.Dataset):
    """Whole images plus a deterministic noisy copy at a fixed σ; returns lq, gt, lq_path, gt_path, sigma.

    Options: dataroot_gt, io_backend, noise ({type, sigma}), color (gray | rgb), seed (default 0), draw (default 0).
    """

    def __init__(self, opt: dict) -> None:
        super().__init__()
        self.opt = opt
        where = f'dataset {opt.get("name", type(self).__name__)}'
        self.color = opt.get('color', 'gray')
        if self.color not in COLORS:
            raise ValueError(f'{where}: color must be one of {COLORS}, got {self.color!r}')
        self.noise = NoiseSpec.from_opt(opt.get('noise'), f'{where}: noise')
        if self.noise.sigma is None:
            raise ValueError(f'{where}: noise needs a fixed "sigma" for evaluation, not a sigma_range')
        self.seed = int(opt.get('seed', 0))
        self.draw = int(opt.get('draw', 0))
        self.source = ImageSource(opt.get('dataroot_gt'), opt.get('io_backend'), where)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict:
        img = self.source.read(index, self.color)
        clean = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        path = self.source.records[index].path
        stem = osp.splitext(osp.basename(path))[0]
        lq = eval_noisy(clean, self.noise.type, self.noise.sigma, stem, self.seed, self.draw)
        return {'lq': lq, 'gt': clean, 'lq_path': path, 'gt_path': path, 'sigma': torch.tensor(self.noise.sigma)}
