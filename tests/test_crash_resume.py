"""Crash safety: SIGKILL during training then --auto_resume; a save interrupted before its rename."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.models import build_model

from wne_basicsr.resume import load_resume_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOTAL_ITER, FREQ = 16, 2


def train_options(train_root: str) -> dict:
    return {
        'name': 'crash', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'train': {'name': 'tiny', 'type': 'NoisyImageDataset', 'dataroot_gt': train_root,
                               'noise': {'type': 'gaussian', 'sigma': 25}, 'gt_size': 24, 'num_worker_per_gpu': 0,
                               'batch_size_per_gpu': 2, 'prefetch_mode': None}},
        'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}},
        'path': {'pretrain_network_g': None, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'scheduler': {'type': 'MultiStepLR', 'milestones': [100],
                  'gamma': 0.5}, 'total_iter': TOTAL_ITER, 'pixel_opt': {'type': 'MSELoss'}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': FREQ, 'use_tb_logger': False},
    }


def start(tmp_path, *args) -> subprocess.Popen:
    """Start wne_basicsr/train.py in the background, its output going to run<N>.log."""
    log = open(tmp_path / f'run{len(list(tmp_path.glob("run*.log")))}.log', 'w')
    cmd = [sys.executable, os.path.join(REPO, 'wne_basicsr', 'train.py'), '-opt', str(tmp_path / 'crash.yml'), *args]
    env = {**os.environ, 'WNE_BASICSR_ROOT': str(tmp_path), 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'}
    return subprocess.Popen(cmd, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)


def logged_iters(tmp_path, run: int) -> list[int]:
    """Iterations that run ``run`` logged (print_freq 1: every one it trained)."""
    return [int(i) for i in re.findall(r'iter:\s+(\d+), lr', (tmp_path / f'run{run}.log').read_text())]


@pytest.mark.slow
def test_sigkill_during_training_then_auto_resume_reaches_total_iter(tmp_path, make_images):
    make_images(tmp_path / 'train', 4, (32, 32))  # a multiple of the batch: BasicSR's epoch count assumes it
    (tmp_path / 'crash.yml').write_text(yaml.safe_dump(train_options(str(tmp_path / 'train'))))
    exp = tmp_path / 'experiments' / 'crash'

    run = start(tmp_path)  # killed from outside in the middle of training, once a state exists
    deadline = time.time() + 120
    while not (exp / 'training_states' / f'{FREQ}.state').exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    assert run.wait(30) == -signal.SIGKILL, (tmp_path / 'run0.log').read_text()[-2000:]
    killed_at = max(logged_iters(tmp_path, 0))
    assert killed_at < TOTAL_ITER

    run = start(tmp_path, '--auto_resume')
    assert run.wait(120) == 0, (tmp_path / 'run1.log').read_text()[-3000:]
    log = (tmp_path / 'run1.log').read_text()
    resumed = int(re.search(r'Resuming training from epoch: \d+, iter: (\d+)', log)[1])
    assert killed_at - FREQ <= resumed <= killed_at  # never more than save_checkpoint_freq iterations lost
    assert logged_iters(tmp_path, 1) == list(range(resumed + 1, TOTAL_ITER + 1)) and 'End of training' in log
    assert (exp / 'models' / 'net_g_latest.pth').is_file()
    assert not list(exp.rglob('*.partial'))
    for path in [*exp.glob('models/*.pth'), *exp.glob('training_states/*.state')]:
        torch.load(path, weights_only=False)  # nothing corrupt left behind


def model_options(tmp_path) -> dict:
    return {'name': 'toy', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': True,
            'dist': False, 'rank': 0, 'world_size': 1, 'auto_resume': True, 'datasets': {},
            'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}},
            'path': {'pretrain_network_g': None, 'resume_state': None, 'models': str(tmp_path / 'models'),
                     'training_states': str(tmp_path / 'training_states')},
            'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'scheduler': {'type': 'MultiStepLR',
                      'milestones': [100], 'gamma': 0.5}, 'total_iter': 10, 'pixel_opt': {'type': 'MSELoss'}}}


def test_save_interrupted_between_temp_write_and_rename_keeps_previous_state(tmp_path, monkeypatch):
    (tmp_path / 'models').mkdir()
    (tmp_path / 'training_states').mkdir()
    opt = model_options(tmp_path)
    model = build_model(dict(opt))
    model.save(0, 4)
    saved = {k: v.clone() for k, v in model.get_bare_model(model.net_g).state_dict().items()}
    with torch.no_grad():
        for p in model.net_g.parameters():
            p.add_(1.0)

    rename = os.replace

    def interrupted(src, dst):
        if dst.endswith('.state'):
            raise KeyboardInterrupt  # the process dies here: network saved, state's temporary file written
        rename(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, 'replace', interrupted)
        with pytest.raises(KeyboardInterrupt):
            model.save(0, 8)
    partial = tmp_path / 'training_states' / f'.8.state.{os.getpid()}.partial'
    assert sorted(p.name for p in (tmp_path / 'training_states').iterdir()) == [partial.name, '4.state']
    assert torch.load(partial, weights_only=False)['iter'] == 8  # complete, but never taken for a state

    state = load_resume_state({**opt, 'path': dict(opt['path'])})
    assert state['iter'] == 4  # the newest complete state, with the matching weights
    resumed = torch.load(tmp_path / 'models' / 'net_g_4.pth')['params']
    assert all(torch.equal(resumed[k], saved[k]) for k in saved)

    model.save(0, 12)  # the next save completes and sweeps the leftover
    assert sorted(p.name for p in (tmp_path / 'models').iterdir()) == ['net_g_12.pth', 'net_g_4.pth', 'net_g_8.pth']
    assert sorted(p.name for p in (tmp_path / 'training_states').iterdir()) == ['12.state', '4.state']
