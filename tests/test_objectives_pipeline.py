"""Objectives through wne_basicsr/train.py: Noise2Noise from an LMDB, Soft-NE on colour; pooled statistics."""

import os
import re
import subprocess
import sys

import torch
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataset
from basicsr.models import build_model

from wne_basicsr.cli.create_lmdb import create_lmdb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def options(train: dict, val_root: str, color: str, pixel: dict, **train_extra) -> dict:
    channels = 3 if color == 'rgb' else 1
    return {
        'name': 'objective', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {
            'train': {'name': 'tiny_train', 'type': 'NoisyImageDataset', 'noise': {'type': 'gaussian', 'sigma': 25},
                      'gt_size': 16, 'color': color, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2,
                      'dataset_enlarge_ratio': 1, 'prefetch_mode': None, **train},
            'val': {'name': 'tiny_val', 'type': 'NoisyEvalDataset', 'dataroot_gt': val_root, 'color': color,
                    'io_backend': {'type': 'disk'}, 'noise': {'type': 'gaussian', 'sigma': 25}},
        },
        'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_in_ch': channels, 'num_feat': 8,
                                                  'num_layers': 4}},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'scheduler': {'type': 'MultiStepLR',
                  'milestones': [100], 'gamma': 0.5}, 'total_iter': 4, 'warmup_iter': -1, 'pixel_opt': pixel,
                  **train_extra},
        'val': {'val_freq': 4, 'save_img': False, 'metrics': {'psnr_float': {'type': 'calculate_psnr_float'}}},
        'logger': {'print_freq': 2, 'save_checkpoint_freq': 100, 'use_tb_logger': False},
    }


def train(opt: dict, cwd) -> str:
    (cwd / 'opt.yml').write_text(yaml.safe_dump(opt))
    # One intra-op thread: with tiny networks on a busy machine, more threads only wait for each other.
    env = {**os.environ, 'WNE_BASICSR_ROOT': str(cwd), 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'}
    result = subprocess.run([sys.executable, os.path.join(REPO, 'wne_basicsr', 'train.py'), '-opt', 'opt.yml'],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (cwd / 'experiments' / 'objective' / 'models' / 'net_g_latest.pth').is_file()
    return result.stdout + result.stderr


def test_n2n_trains_from_an_lmdb_with_l2_sum(tmp_path, make_images):
    make_images(tmp_path / 'train', 4, (24, 24))
    make_images(tmp_path / 'val', 1, (16, 16), seed=1)
    create_lmdb([str(tmp_path / 'train')], str(tmp_path / 'train.lmdb'))
    train_set = {'dataroot_gt': str(tmp_path / 'train.lmdb'), 'io_backend': {'type': 'lmdb'}, 'objective': 'n2n'}
    log = train(options(train_set, str(tmp_path / 'val'), 'gray', {'type': 'L2SumLoss'}), tmp_path)
    assert re.search(r'iter: +4, .* l_pix: .* psnr_train: ', log) and '# psnr_float:' in log


def test_soft_ne_trains_a_colour_wne_network(tmp_path, make_images):
    make_images(tmp_path / 'train', 4, (24, 24), channels=3)
    make_images(tmp_path / 'val', 1, (16, 16), channels=3, seed=1)
    train_set = {'dataroot_gt': str(tmp_path / 'train'), 'io_backend': {'type': 'disk'}}
    log = train(options(train_set, str(tmp_path / 'val'), 'rgb', {'type': 'L1Loss'},
                        soft_ne={'alpha': [0, 1], 'mu': [0, 1]}), tmp_path)
    assert re.search(r'iter: +4, .* l_pix: .* psnr_train: ', log) and '# psnr_float:' in log


def test_colour_wne_step_pools_statistics_over_channels(tmp_path, rgb_folder):
    opt = options({'dataroot_gt': rgb_folder, 'io_backend': {'type': 'disk'}, 'phase': 'train', 'seed': 0},
                  rgb_folder, 'rgb', {'type': 'MSELoss'})
    opt.update(is_train=True, dist=False)
    torch.manual_seed(0)
    model = build_model(opt)
    dataset = build_dataset(opt['datasets']['train'])
    batch = {k: torch.stack([dataset[i][k] for i in range(2)]) for k in ('lq', 'gt')}
    batch['lq'][:, 0] += 0.3  # channels with clearly different means
    seen = []
    model.net_g.backbone.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()))
    before = [p.detach().clone() for p in model.net_g.parameters()]
    model.feed_data(batch)
    model.optimize_parameters(1)
    z = seen[0]
    assert z.shape == (2, 3, 16, 16)
    assert torch.allclose(z.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5)  # one mean per instance over C·H·W
    assert torch.allclose(z.flatten(1).std(dim=1), torch.ones(2), atol=1e-5)
    assert (z.mean(dim=(2, 3))[:, 0] > 0.5).all()  # not normalized per channel: channel 0 stays brighter
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
