"""SwinIR lite and Restormer recipes (the paper's and the CPU-scale ones) train two iterations from their options files
through wne_basicsr/train.py on CPU, tiny inputs in place of the data; the WNE ones stay NE."""
import os
import subprocess
import sys

import pytest
import torch
import yaml

import wne_basicsr  # noqa: F401  (must come before anything from basicsr)

# isort: split
from basicsr.archs import build_network

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('options', ['options/train/SwinIR/train_SwinIR_WNE_s10.yml',
                                     'options/train/Restormer/train_Restormer_WNE_s10.yml',
                                     'options/repro_cpu/train_SwinIR_s10.yml',
                                     'options/repro_cpu/train_SwinIR_WNE_s10.yml'])
@pytest.mark.slow
def test_train_two_iterations_then_ne_on_odd_sizes(tmp_path, make_images, options):
    make_images(tmp_path / 'train', 2, (40, 40))
    make_images(tmp_path / 'val', 1, (21, 19), seed=1)
    with open(os.path.join(REPO, options), encoding='utf-8') as f:
        opt = yaml.safe_load(f)
    overrides = ['num_gpu=0', 'train:total_iter=2', f'datasets:train:dataroot_gt={tmp_path / "train"}',
                 'datasets:train:gt_size=32', 'datasets:train:batch_size_per_gpu=1',
                 'datasets:train:num_worker_per_gpu=0', 'logger:use_tb_logger=false', 'val:pbar=false',
                 'val:val_freq=2', *(f'datasets:{key}:dataroot_gt={tmp_path / "val"}' for key in opt['datasets']
                                     if key.startswith('val'))]
    # One intra-op thread: on a shared, oversubscribed CPU OpenMP's spinning threads make these nets far slower.
    env = {**os.environ, 'WNE_BASICSR_ROOT': str(tmp_path), 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'}
    command = [sys.executable, os.path.join(REPO, 'wne_basicsr', 'train.py'), '-opt', os.path.join(REPO, options),
               '--force_yml', *overrides]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'End of training' in log and '# psnr_float:' in log

    if opt['network_g']['type'] != 'WNE':
        return
    checkpoint = tmp_path / 'experiments' / opt['name'] / 'models' / 'net_g_latest.pth'
    net = build_network(opt['network_g']).eval()
    net.load_state_dict(torch.load(checkpoint, map_location='cpu')['params'], strict=True)
    y = torch.rand(1, 1, 37, 45)
    with torch.no_grad():
        out, moved = net(y), net(1.7 * y + 0.3)
    expected = 1.7 * out + 0.3
    assert float((moved - expected).norm() / expected.norm()) <= 1e-5
