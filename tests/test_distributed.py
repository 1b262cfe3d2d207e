"""Distributed training: a 2-process CPU torchrun, the slurm fallback, --local-rank, and SyncBatchNorm conversion."""
import os
import socket
import subprocess
import sys
import textwrap
import types

import pytest
import torch
import torch.distributed as dist
import yaml
from torch import nn

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network
from basicsr.utils.dist_util import init_dist

from wne_basicsr.archs.affine_layers import BiasFreeBatchNorm2d
from wne_basicsr.models.denoising_model import DenoisingModel
from wne_basicsr.option_checks import translate_local_rank

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs the real entry script under torchrun; rank 1 gets its own (pre-created, empty) experiment root so that anything
# it wrote would show there, and each rank dumps its trained parameters for the comparison.
DRIVER = textwrap.dedent('''
    import os, runpy, sys
    sys.path.insert(0, {repo!r})
    import torch
    import wne_basicsr
    import wne_basicsr.pipelines

    rank = int(os.environ['RANK'])
    root = os.path.join({out!r}, 'root_rank%d' % rank)
    os.makedirs(os.path.join(root, 'experiments', 'tiny_wne', 'models'), exist_ok=True)
    os.makedirs(os.path.join(root, 'experiments', 'tiny_wne', 'training_states'), exist_ok=True)
    os.environ['WNE_BASICSR_ROOT'] = root
    models = []
    build_model = wne_basicsr.pipelines.build_model
    wne_basicsr.pipelines.build_model = lambda opt: models.append(build_model(opt)) or models[-1]
    from wne_basicsr.models.denoising_model import DenoisingModel
    feed_data, batches = DenoisingModel.feed_data, []
    DenoisingModel.feed_data = lambda self, data: batches.append(data['lq'].clone()) or feed_data(self, data)
    runpy.run_path(os.path.join({repo!r}, 'wne_basicsr', 'train.py'), run_name='__main__')
    net = models[0].get_bare_model(models[0].net_g)
    torch.save({{k: v.detach() for k, v in net.named_parameters()}}, os.path.join({out!r}, 'weights_rank%d.pth' % rank))
    torch.save(batches, os.path.join({out!r}, 'batches_rank%d.pth' % rank))
''')


def tiny_options(train_root: str, val_root: str) -> dict:
    """Six iterations of WNE(DnCNN) on 32×32 crops, a checkpoint and a validation at iteration 4."""
    return {
        'name': 'tiny_wne', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {
            'train': {'name': 'tiny_train', 'type': 'NoisyImageDataset', 'dataroot_gt': train_root, 'seed': 0,
                      'noise': {'type': 'gaussian', 'sigma': 25}, 'gt_size': 32, 'num_worker_per_gpu': 0,
                      'batch_size_per_gpu': 2, 'prefetch_mode': None},
            'val': {'name': 'tiny_sigma10', 'type': 'NoisyEvalDataset', 'dataroot_gt': val_root,
                    'noise': {'type': 'gaussian', 'sigma': 10}},
        },
        'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}},
        'path': {'pretrain_network_g': None, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'scheduler': {'type': 'MultiStepLR', 'milestones': [100],
                  'gamma': 0.5}, 'total_iter': 6, 'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0}},
        'val': {'val_freq': 4, 'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr_float'}}},
        'logger': {'print_freq': 2, 'save_checkpoint_freq': 4, 'use_tb_logger': False},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def files_under(folder) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob('*') if p.is_file())


def test_torchrun_two_cpu_processes_train_identically_and_only_rank0_writes(tmp_path, make_images):
    make_images(tmp_path / 'train', 4, (40, 40))
    make_images(tmp_path / 'val', 1, (24, 20), seed=1)
    (tmp_path / 'tiny.yml').write_text(yaml.safe_dump(tiny_options(str(tmp_path / 'train'), str(tmp_path / 'val'))))
    (tmp_path / 'driver.py').write_text(DRIVER.format(repo=REPO, out=str(tmp_path)))
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore', 'CUDA_VISIBLE_DEVICES': ''}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', f'--master_port={free_port()}',
           str(tmp_path / 'driver.py'), '-opt', str(tmp_path / 'tiny.yml'), '--launcher', 'pytorch']
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    w0, w1 = torch.load(tmp_path / 'weights_rank0.pth'), torch.load(tmp_path / 'weights_rank1.pth')
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    b0, b1 = ([x for x in torch.load(tmp_path / f'batches_rank{r}.pth') if x.shape[0] == 2] for r in (0, 1))
    assert len(b0) == len(b1) == 6  # exactly total_iter steps on each rank (one batch per epoch here)
    assert not any(torch.equal(x, y) for x, y in zip(b0, b1))  # with `seed` set, the ranks still draw apart
    # (validation batches of one image are left out above; only rank 0 validates)
    assert len({x.sum().item() for x in b0}) == 6  # and every epoch draws anew
    exp0 = tmp_path / 'root_rank0' / 'experiments' / 'tiny_wne'
    latest = torch.load(exp0 / 'models' / 'net_g_latest.pth')['params']
    assert all(torch.equal(latest[k], w0[k]) for k in w0)  # the checkpoint holds the trained weights
    written = files_under(exp0)
    assert {'models/net_g_4.pth', 'models/net_g_latest.pth', 'training_states/4.state'} <= set(written)
    assert len([f for f in written if f.startswith('train_tiny_wne_') and f.endswith('.log')]) == 1
    assert not [f for f in written if f.endswith('.partial')]
    assert files_under(tmp_path / 'root_rank1') == []  # rank 1 wrote no checkpoint, state, log or options copy
    assert 'Validation tiny_sigma10' in result.stderr + result.stdout


def test_slurm_launcher_falls_back_to_gloo_on_cpu(tmp_path, monkeypatch):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'scontrol').write_text('#!/bin/sh\necho 127.0.0.1\n')  # stands in for slurm's hostname lookup
    (bin_dir / 'scontrol').chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    for key, value in dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_NODELIST='node1', MASTER_ADDR='',
                           MASTER_PORT='', WORLD_SIZE='', LOCAL_RANK='', RANK='').items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    try:
        init_dist('slurm', backend='nccl', port=free_port())  # as BasicSR calls it with dist_params
        assert dist.get_backend() == 'gloo' and dist.get_world_size() == 1
        assert os.environ['MASTER_ADDR'] == '127.0.0.1'
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.parametrize('argv, expected', [
    (['t.py', '--local-rank=1', '-opt', 'x.yml'], ['t.py', '--local_rank=1', '-opt', 'x.yml']),
    (['t.py', '--local-rank', '0'], ['t.py', '--local_rank', '0']),
    (['t.py', '--local_rank=0', '--launcher', 'pytorch'], ['t.py', '--local_rank=0', '--launcher', 'pytorch']),
])
def test_local_rank_argument_of_torch_distributed_launch_is_translated(argv, expected):
    assert translate_local_rank(argv) == expected


def test_sync_bn_converts_only_plain_batchnorm():
    net = build_network({'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}})
    bias_free = build_network({'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4, 'bias_free': True})
    both = nn.Sequential(net, bias_free)
    DenoisingModel.sync_batchnorm(both)
    kinds = [type(m) for m in both.modules()]
    assert kinds.count(nn.SyncBatchNorm) == 2 and nn.BatchNorm2d not in kinds
    assert kinds.count(BiasFreeBatchNorm2d) == 2  # bias-free BN is never turned into an ordinary (Sync)BN


def test_sync_bn_on_cpu_is_refused_clearly():
    fake = types.SimpleNamespace(opt={'dist': True, 'sync_bn': True, 'num_gpu': 0}, device=torch.device('cpu'),
                                 channels_last=False, compile_spec=None)
    with pytest.raises(ValueError, match='sync_bn: true needs CUDA'):
        DenoisingModel.model_to_device(fake, nn.BatchNorm2d(4))
