"""End to end: BasicSR's train pipeline through wne_basicsr/train.py, then --auto_resume and test.py."""
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import types

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from wne_basicsr import pipelines

# isort: split
from basicsr.models import build_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_options(train_root: str, val_root: str, total_iter: int) -> dict:
    val = {'type': 'NoisyEvalDataset', 'dataroot_gt': val_root, 'io_backend': {'type': 'disk'}}
    return {
        'name': 'tiny_wne', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {
            'train': {'name': 'tiny_train', 'type': 'NoisyImageDataset', 'dataroot_gt': train_root,
                      'io_backend': {'type': 'disk'}, 'noise': {'type': 'gaussian', 'sigma': 25}, 'gt_size': 32,
                      'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 1,
                      'prefetch_mode': None},
            'val_sigma10': {**val, 'name': 'tiny_sigma10', 'noise': {'type': 'gaussian', 'sigma': 10}},
            'val_sigma50': {**val, 'name': 'tiny_sigma50', 'noise': {'type': 'gaussian', 'sigma': 50}},
        },
        'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'scheduler': {'type': 'MultiStepLR',
                  'milestones': [100], 'gamma': 0.5}, 'total_iter': total_iter, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0}},
        'val': {'val_freq': 4, 'save_img': False,
                'metrics': {'psnr_float': {'type': 'calculate_psnr_float'},
                            'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}},
        'logger': {'print_freq': 2, 'save_checkpoint_freq': 4, 'use_tb_logger': True},
    }


def run_entry(script: str, opt_path, cwd, *args) -> str:
    env = {**os.environ, 'WNE_BASICSR_ROOT': str(cwd), 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'}
    result = subprocess.run([sys.executable, os.path.join(REPO, 'wne_basicsr', script), '-opt', str(opt_path), *args],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.slow
def test_train_validate_checkpoint_tensorboard_resume_and_test(tmp_path, make_images):
    make_images(tmp_path / 'train', 4, (40, 40))
    make_images(tmp_path / 'val', 2, (24, 20), seed=1)
    opt_file = tmp_path / 'tiny.yml'
    opt_file.write_text(yaml.safe_dump(tiny_options(str(tmp_path / 'train'), str(tmp_path / 'val'), 6)))
    log = run_entry('train.py', opt_file, tmp_path)
    logged = re.findall(r'iter: +(\d+), lr.*\] l_pix: [-+.\de]+ psnr_train: [-+.\de]+ $', log, re.M)
    assert logged == ['2', '4', '6']  # every print_freq iteration logs the loss and the training PSNR
    exp = tmp_path / 'experiments' / 'tiny_wne'
    assert (exp / 'models' / 'net_g_4.pth').is_file() and (exp / 'models' / 'net_g_latest.pth').is_file()
    assert (exp / 'training_states' / '4.state').is_file()
    assert (exp / 'training_states' / '6.state').is_file()  # the last iteration is always saved with its state
    assert list((tmp_path / 'tb_logger' / 'tiny_wne').glob('events.out.tfevents.*'))
    assert 'Validation tiny_sigma10' in log and '# psnr_float:' in log

    opt_file.write_text(yaml.safe_dump(tiny_options(str(tmp_path / 'train'), str(tmp_path / 'val'), 10)))
    log = run_entry('train.py', opt_file, tmp_path, '--auto_resume')
    assert 'Resuming training from epoch' in log and 'iter: 6' in log
    assert (exp / 'models' / 'net_g_8.pth').is_file()
    assert not list(tmp_path.glob('experiments/tiny_wne_archived_*'))

    test_opt = tiny_options(str(tmp_path / 'train'), str(tmp_path / 'val'), 10)
    test_opt.update(name='tiny_test', datasets={'test_1': test_opt['datasets']['val_sigma50']})
    test_opt['path']['pretrain_network_g'] = str(exp / 'models' / 'net_g_latest.pth')
    test_file = tmp_path / 'tiny_test.yml'
    test_file.write_text(yaml.safe_dump(test_opt))
    log = run_entry('test.py', test_file, tmp_path)
    assert 'Validation tiny_sigma50' in log and '# psnr_float:' in log


def test_exactly_total_iter_with_one_validation_per_step_and_matching_tensorboard_steps(tmp_path, make_images):
    """7 images in batches of 2 leave a dropped remainder every epoch; the run still takes exactly total_iter steps."""
    make_images(tmp_path / 'train', 7, (40, 40))
    make_images(tmp_path / 'val', 2, (24, 20), seed=1)
    opt = tiny_options(str(tmp_path / 'train'), str(tmp_path / 'val'), 10)
    opt['val']['val_freq'] = 5
    opt['logger'].update(print_freq=1, save_checkpoint_freq=100)
    opt_file = tmp_path / 'tiny.yml'
    opt_file.write_text(yaml.safe_dump(opt))
    log = run_entry('train.py', opt_file, tmp_path)
    assert [int(i) for i in re.findall(r'iter: +(\d+), lr', log)] == list(range(1, 11))
    assert 'Iterations per epoch: 3' in log
    assert log.count('Validation tiny_sigma10') == 2 and log.count('Validation tiny_sigma50') == 2
    assert set(re.findall(r'Best: [-\d.]+ @ (\d+) iter', log)) <= {'5', '10'}
    assert re.search(r'iter: +10, .*eta: 0:00:00', log) and 'eta: -' not in log
    assert 'Multiple validation datasets' not in log
    events = EventAccumulator(str(tmp_path / 'tb_logger' / 'tiny_wne'))
    events.Reload()
    assert [e.step for e in events.Scalars('metrics/tiny_sigma10/psnr_float')] == [5, 10]
    assert [e.step for e in events.Scalars('losses/l_pix')] == list(range(1, 11))
    assert [e.step for e in events.Scalars('psnr_train')] == list(range(1, 11))
    models = tmp_path / 'experiments' / 'tiny_wne' / 'models'
    assert sorted(p.name for p in models.iterdir()) == ['net_g_10.pth', 'net_g_latest.pth']
    assert (tmp_path / 'experiments' / 'tiny_wne' / 'training_states' / '10.state').is_file()


def test_logged_times_are_the_means_since_the_last_log_without_the_first_iteration(tmp_path, make_images,
                                                                                  monkeypatch):
    """A clock that the loop's batches and steps advance: 0.25 s per batch, 10 s for the first step and 1 s for the
    others. Each log shows the mean of its own iterations, the first left out (BasicSR's AvgTimer: 4.25 and 2.75)."""
    make_images(tmp_path / 'train', 4, (40, 40))
    opt = tiny_options(str(tmp_path / 'train'), str(tmp_path / 'train'), 1000)
    opt.update(is_train=True, dist=False, rank=0, world_size=1)
    opt['datasets'] = {'train': {**opt['datasets']['train'], 'phase': 'train', 'scale': 1}}
    opt['logger'].update(print_freq=3, save_checkpoint_freq=1000)
    del opt['val']
    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(pipelines, 'time', types.SimpleNamespace(perf_counter=lambda: clock.now, time=time.time))
    logged = []
    monkeypatch.setattr(pipelines.ProgressLogger, '__call__', lambda self, log_vars: logged.append(log_vars))
    logger = logging.getLogger('basicsr')
    loaders = pipelines.create_train_loaders(opt, logger)
    model = build_model(opt)
    loop = pipelines.TrainingLoop(opt, model, loaders, pipelines.make_prefetcher(opt, loaders.train), None, logger)
    next_batch, step = loop.next_batch, model.optimize_parameters

    def slow_batch() -> dict:
        clock.now += 0.25
        return next_batch()

    def slow_step(current_iter: int) -> None:
        step(current_iter)
        clock.now += 10.0 if current_iter == 1 else 1.0

    monkeypatch.setattr(loop, 'next_batch', slow_batch)
    monkeypatch.setattr(model, 'optimize_parameters', slow_step)
    loop.run(6)
    assert [(v['iter'], v['time'], v['data_time']) for v in logged] == [(3, 1.25, 0.25), (6, 1.25, 0.25)]


def test_missing_dataset_of_a_shipped_recipe_is_named_and_nothing_is_written(tmp_path):
    """The paper's SwinIR recipe from an empty folder: its first missing root, where to get it, no folders left."""
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'}
    env.pop('WNE_BASICSR_ROOT', None)
    result = subprocess.run([sys.executable, os.path.join(REPO, 'wne_basicsr', 'train.py'), '-opt',
                             os.path.join(REPO, 'options', 'train_swinir_wne_s10.yml'), '--force_yml',
                             'train:total_iter=2'], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('train.py: error: datasets.train: ') and "'datasets/Train400' does not exist" in last
    assert 'datasets/README.md' in last and 'Traceback' not in result.stderr
    assert sorted(os.listdir(tmp_path)) == []  # no experiments/ or tb_logger/ folder


def test_missing_paper_dataset_points_to_its_download(tmp_path):
    (tmp_path / 'datasets' / 'Train400').mkdir(parents=True)
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'}
    shutil.copy(os.path.join(REPO, 'datasets', 'Train400', 'test_001.png'), tmp_path / 'datasets' / 'Train400')
    result = subprocess.run([sys.executable, os.path.join(REPO, 'wne_basicsr', 'train.py'), '-opt',
                             os.path.join(REPO, 'options', 'train_swinir_wne_s10.yml')], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0 and "'datasets/DIV2K/DIV2K_train_HR' does not exist" in last
    assert 'python scripts/download_datasets.py --sets DIV2K' in last
    assert sorted(os.listdir(tmp_path)) == ['datasets']
