"""benchmarks/pipeline_overhead.py: both loops do the same optimisation; the script prints its ratio."""
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
import yaml
from script_loader import load_script

import wne_basicsr  # noqa: F401
from wne_basicsr.inference.precision import fast_bf16

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def write_options(tmp_path, root, loss='MSELoss') -> str:
    opt = {'name': 'overhead', 'model_type': 'DenoisingModel', 'scale': 1, 'manual_seed': 0,
           'datasets': {'train': {'name': 'toy', 'type': 'NoisyImageDataset', 'dataroot_gt': root,
                                  'io_backend': {'type': 'disk'}, 'noise': {'type': 'gaussian', 'sigma': 25},
                                  'gt_size': 24, 'use_hflip': True, 'use_rot': True, 'color': 'gray',
                                  'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 2}},
           'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}},
           'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999]},
                     'scheduler': {'type': 'MultiStepLR', 'milestones': [1000], 'gamma': 0.5}, 'total_iter': 1000,
                     'warmup_iter': -1, 'pixel_opt': {'type': loss, 'loss_weight': 1.0, 'reduction': 'mean'}},
           'logger': {'print_freq': 2, 'save_checkpoint_freq': 1000, 'use_tb_logger': True}}
    path = tmp_path / 'train.yml'
    path.write_text(yaml.safe_dump(opt))
    return str(path)


@pytest.mark.parametrize('loss, mode', [('MSELoss', 'fp32'), ('L1Loss', 'fp32+cl')])
def test_trainer_and_bare_loops_take_the_same_steps(tmp_path, gray_folder, loss, mode):
    script = load_script('benchmarks/pipeline_overhead.py')
    opt = script.training_options(write_options(tmp_path, gray_folder, loss), str(tmp_path / 'work'), mode)
    trainer, bare = script.loops(opt).values()  # the bare loop took the trainer's first batch ...
    model = trainer.model
    weights = {k: v.clone() for k, v in model.get_bare_model(model.net_g).state_dict().items()}
    assert trainer.model.channels_last == (mode == 'fp32+cl')
    trainer.next_batch = lambda: {'lq': bare.lq, 'gt': bare.gt}  # ... which the trainer's first step now takes
    trainer.run(1)
    bare.run(1)
    after = model.get_bare_model(model.net_g).state_dict()
    changed = [k for k in weights if not torch.equal(weights[k], after[k])]
    assert changed, 'one optimizer step must move the weights'
    for key, value in bare.net.state_dict().items():
        torch.testing.assert_close(value, after[key], rtol=1e-5, atol=1e-6)
    del trainer.next_batch
    trainer.run(9)  # 9 batches drawn, at 4 per epoch (4 images x 2 / batch 2): the loop is in its third epoch
    assert trainer.current_iter == 9 and trainer.epoch == 2 and bare.current_iter == 1


def test_unknown_loss_is_refused(tmp_path, gray_folder):
    script = load_script('benchmarks/pipeline_overhead.py')
    with pytest.raises(ValueError, match=r'train.pixel_opt.type must be one of .*CharbonnierLoss'):
        script.training_options(write_options(tmp_path, gray_folder, 'CharbonnierLoss'), str(tmp_path / 'work'))


@pytest.mark.slow
def test_script_prints_the_ratio_and_writes_json(tmp_path, gray_folder):
    out = tmp_path / 'overhead.json'
    result = subprocess.run([sys.executable, osp.join(REPO, 'benchmarks', 'pipeline_overhead.py'), '-opt',
                             write_options(tmp_path, gray_folder), '--iters', '1', '--threads', '1', '--json',
                             str(out)], capture_output=True, text=True, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    measured = ['fp32', 'fp32+cl', *(['bf16+cl'] if fast_bf16('cpu') else [])]
    assert [m for m, r in report['modes'].items() if isinstance(r, dict)] == measured
    for mode in measured:
        result_of_mode = report['modes'][mode]
        assert result_of_mode['ratio'] > 0 and len(result_of_mode['seconds_per_iter']['bare PyTorch']) == 10
        assert re.search(rf'^{re.escape(mode)} +[\d.]+ +[\d.]+ +[\d.]+', result.stdout, re.M)
    if not fast_bf16('cpu'):
        assert report['modes']['bf16+cl'] == 'not measured here (no native bf16)'
        assert re.search(r'^bf16\+cl: not measured here \(no native bf16\)$', result.stdout, re.M)
