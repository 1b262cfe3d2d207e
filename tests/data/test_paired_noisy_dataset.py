"""PairedNoisyDataset: SIDD-style noisy/clean pairs from folders or LMDBs, shapes, augmentation, clear errors."""
import copy
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataset
from basicsr.models import build_model

from wne_basicsr.cli.create_lmdb import create_lmdb

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def pairs(root, sizes) -> tuple[str, str]:
    """noisy/ and clean/ folders of colour PNGs with matching names; noisy = 255 − clean, so lq + gt = 1."""
    rng = np.random.default_rng(0)
    for side in ('noisy', 'clean'):
        (root / side).mkdir(parents=True)
    for i, size in enumerate(sizes):
        clean = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        cv2.imwrite(str(root / 'clean' / f'blk{i}.png'), clean)
        cv2.imwrite(str(root / 'noisy' / f'blk{i}.png'), 255 - clean)
    return str(root / 'noisy'), str(root / 'clean')


def options(lq, gt, phase='train', **extra) -> dict:
    return {'name': 'sidd', 'type': 'PairedNoisyDataset', 'phase': phase, 'scale': 1, 'dataroot_lq': lq,
            'dataroot_gt': gt, 'io_backend': {'type': 'disk'}, 'gt_size': 8, 'use_hflip': True, 'use_rot': True,
            'seed': 0, **extra}


def test_train_crops_are_paired_and_val_images_whole(tmp_path):
    lq, gt = pairs(tmp_path, [(20, 24), (16, 30)])
    opt = options(lq, gt)
    ds = build_dataset(copy.deepcopy(opt))
    assert len(ds) == 2
    for i in range(6):
        sample = ds[i % 2]
        assert sample['lq'].shape == sample['gt'].shape == (3, 8, 8) and sample['lq'].dtype == torch.float32
        assert torch.allclose(sample['lq'] + sample['gt'], torch.ones(3, 8, 8))  # same crop, same augmentation
    assert ds[1]['lq_path'].endswith(osp.join('noisy', 'blk1.png'))
    val = build_dataset(options(lq, gt, phase='val'))[1]
    assert val['gt'].shape == (3, 16, 30)
    rgb = cv2.imread(osp.join(gt, 'blk1.png'))[..., ::-1].transpose(2, 0, 1) / 255.0
    assert np.allclose(val['gt'].numpy(), rgb, atol=1e-7)
    assert build_dataset(options(lq, gt, color='gray'))[0]['gt'].shape == (1, 8, 8)
    assert build_dataset(opt)[0]['gt'].shape == (3, 8, 8)  # the options dict is left as it was


def test_lmdb_pairs_give_the_same_tensors_as_folders(tmp_path):
    lq, gt = pairs(tmp_path, [(20, 24), (16, 30), (12, 12)])
    create_lmdb([lq], str(tmp_path / 'noisy.lmdb'))
    create_lmdb([gt], str(tmp_path / 'clean.lmdb'))
    disk = build_dataset(options(lq, gt))
    lmdb = build_dataset(options(str(tmp_path / 'noisy.lmdb'), str(tmp_path / 'clean.lmdb'),
                                 io_backend={'type': 'lmdb'}))
    for i in range(9):
        a, b = disk[i % 3], lmdb[i % 3]
        assert torch.equal(a['lq'], b['lq']) and torch.equal(a['gt'], b['gt'])


def test_augmentation_reaches_all_eight_dihedral_transforms(tmp_path):
    lq, gt = pairs(tmp_path, [(4, 4)])
    ds = build_dataset(options(lq, gt, gt_size=4))
    assert len({tuple(ds[0]['gt'][0].flatten().tolist()) for _ in range(200)}) == 8
    plain = build_dataset(options(lq, gt, gt_size=4, use_hflip=False, use_rot=False))
    assert torch.equal(plain[0]['gt'], build_dataset(options(lq, gt, phase='val'))[0]['gt'])


def test_errors_are_clear(tmp_path):
    lq, gt = pairs(tmp_path / 'a', [(20, 20)])
    with pytest.raises(ValueError, match='scale must be 1'):
        build_dataset(options(lq, gt, scale=2))
    with pytest.raises(ValueError, match='gt_size must be a positive integer'):
        build_dataset(options(lq, gt, gt_size=None))
    with pytest.raises(FileNotFoundError, match='dataroot_lq'):
        build_dataset(options(str(tmp_path / 'nowhere'), gt))
    with pytest.raises(ValueError, match='smaller than gt_size=32'):
        build_dataset(options(lq, gt, gt_size=32))[0]
    with pytest.raises(ValueError, match='no meta_info.txt'):
        build_dataset(options(lq, gt, io_backend={'type': 'lmdb'}))
    cv2.imwrite(osp.join(lq, 'blk0.png'), np.zeros((10, 20, 3), np.uint8))
    with pytest.raises(ValueError, match=r'blk0\.png \(10×20\) and .*blk0\.png \(20×20\) differ in size'):
        build_dataset(options(lq, gt))[0]
    empty_lq, empty_gt = pairs(tmp_path / 'b', [])
    with pytest.raises(ValueError, match='no image pairs'):
        build_dataset(options(empty_lq, empty_gt))


def load_options(name: str) -> dict:
    with open(osp.join(REPO, 'options', 'train', 'SIDD', f'{name}.yml')) as f:
        return yaml.safe_load(f)


def test_sidd_option_files_build_their_datasets_and_model(tmp_path):
    base, opt = load_options('train_SwinIR_SIDD'), load_options('train_SwinIR_WNE_SIDD')
    assert base.pop('network_g') == opt['network_g']['backbone'] and base.pop('name') != opt['name']
    assert base == {k: v for k, v in opt.items() if k not in ('name', 'network_g')}  # same recipe otherwise
    lq, gt = pairs(tmp_path, [(64, 64)])
    for phase, dataset_opt in opt['datasets'].items():
        dataset_opt.update(phase=phase.split('_')[0], scale=opt['scale'], dataroot_lq=lq, dataroot_gt=gt)
        assert build_dataset(dataset_opt)[0]['lq'].shape == (3, 64, 64)
    opt.update(num_gpu=0, is_train=True, dist=False)
    opt['path'].update(visualization=str(tmp_path), models=str(tmp_path), training_states=str(tmp_path))
    model = build_model(opt)
    assert sum(p.numel() for p in model.net_g.parameters()) == 905_283  # SwinIR lite, rgb (docs/method.md §2.5)
    assert model.get_current_learning_rate()[0] == pytest.approx(3e-4)
