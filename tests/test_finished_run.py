"""``--auto_resume`` of a finished run says there is nothing to do and writes nothing (no validation, no new
tensorboard points, no new log file)."""
import logging
import sys

import yaml

from wne_basicsr import pipelines


def snapshot(root) -> dict[str, tuple[int, int]]:
    """(size, modification time) of every file under ``root``."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob('*') if p.is_file()}


def test_auto_resume_of_a_finished_run_has_nothing_to_do(tmp_path, monkeypatch, make_images):
    make_images(tmp_path / 'train', 2, (24, 24))
    make_images(tmp_path / 'val', 1, (16, 16), seed=1)
    noise = {'type': 'gaussian', 'sigma': 25}
    opt = {
        'name': 'finished', 'model_type': 'DenoisingModel', 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'train': {'name': 'tiny', 'type': 'NoisyImageDataset', 'dataroot_gt': str(tmp_path / 'train'),
                               'noise': noise, 'gt_size': 16, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2,
                               'prefetch_mode': None},
                     'val_1': {'name': 'tiny_val', 'type': 'NoisyEvalDataset', 'dataroot_gt': str(tmp_path / 'val'),
                               'noise': noise}},
        'network_g': {'type': 'DnCNN', 'num_feat': 4, 'num_layers': 2},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'total_iter': 2, 'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'pixel_opt': {'type': 'MSELoss'},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5}},
        'val': {'val_freq': 2, 'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr_float'}}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': True},
    }
    opt_file = tmp_path / 'finished.yml'
    opt_file.write_text(yaml.safe_dump(opt))
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(opt_file)])
    pipelines.train_pipeline(str(tmp_path))
    before = snapshot(tmp_path)
    assert 'experiments/finished/training_states/2.state' in before

    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger('basicsr')
    logger.addHandler(handler)
    validated = []
    monkeypatch.setattr(pipelines, '_validate', lambda *args: validated.append(args))
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(opt_file), '--auto_resume'])
    try:
        pipelines.train_pipeline(str(tmp_path))
    finally:
        logger.removeHandler(handler)
    assert any(line.startswith('nothing to do: the run reached total_iter 2 ') and
               line.endswith('; to train longer raise train.total_iter') for line in lines)
    assert not validated and snapshot(tmp_path) == before
