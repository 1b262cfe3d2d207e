"""End to end: a sampler YAML through wne_basicsr/test.py writes every output file under results/<name>/."""
import csv
import json
import os
import subprocess
import sys

import torch
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETWORK = {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}}


def test_sampler_yaml_run_writes_every_output(tmp_path, make_images):
    make_images(tmp_path / 'set', 3, (16, 16))
    torch.manual_seed(0)
    checkpoint = tmp_path / 'net_g.pth'
    torch.save({'params': build_network(dict(NETWORK)).state_dict()}, checkpoint)
    opt = {
        'name': 'tiny_sampler', 'model_type': 'SamplerModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'test_1': {'name': 'tiny', 'type': 'CleanImageDataset', 'dataroot_gt': str(tmp_path / 'set'),
                                'io_backend': {'type': 'disk'}, 'color': 'gray', 'max_images': 3}},
        'network_g': NETWORK,
        'path': {'pretrain_network_g': str(checkpoint), 'strict_load_g': True},
        'sampler': {'problem': {'type': 'random_missing', 'keep_fraction': 0.1}, 'max_steps': 6, 'batch_size': 2,
                    'save_gif': True, 'gif_every': 2},
        'val': {'save_img': True, 'suffix': None, 'pbar': True},
        'logger': {'use_tb_logger': True},
    }
    opt_file = tmp_path / 'sampler.yml'
    opt_file.write_text(yaml.safe_dump(opt))
    env = {**os.environ, 'WNE_BASICSR_ROOT': str(tmp_path), 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'}
    result = subprocess.run([sys.executable, os.path.join(REPO, 'wne_basicsr', 'test.py'), '-opt', str(opt_file)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'Sampler tiny (3 images)' in log
    assert 'tiny: 3 of 3 images did not reach sigma_stop 2.55 (3 max_steps; final sigma-hat' in log  # the warning

    out = tmp_path / 'results' / 'tiny_sampler' / 'tiny'
    with open(out / 'per_image.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['image'] for r in rows] == ['img000', 'img001', 'img002']
    assert all(r['stop_reason'] == 'max_steps' and r['final_step'] == '6' for r in rows)  # untrained: σ̂ stays up
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['count'] == 3 and summary['stop_reasons'] == {'max_steps': 3}
    assert summary['mean']['final_step'] == 6 and summary['std']['observed_psnr'] > 0
    for stem in ('img000', 'img001', 'img002'):
        with open(out / 'trajectories' / f'{stem}.csv') as f:
            steps = list(csv.DictReader(f))
        assert [int(s['step']) for s in steps] == list(range(7))
        assert {'h', 'gamma', 'sigma_hat', 'psnr', 'ssim', 'data_rmse', 'raw_data_rmse'} <= set(steps[0])
        for kind in ('observed', 'one_pass', 'final'):
            assert (out / 'images' / f'{stem}_{kind}.png').is_file()
        assert (out / 'plots' / f'{stem}_trajectory.png').is_file()
        assert (out / 'gifs' / f'{stem}.gif').is_file()
    assert list((tmp_path / 'tb_logger' / 'tiny_sampler').glob('events.out.tfevents.*'))
