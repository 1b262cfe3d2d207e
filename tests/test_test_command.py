"""test.py: options that load no checkpoint are refused, training sets are skipped, and the shipped test options load
the checkpoint their training writes."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network

from wne_basicsr.option_checks import parse_checked_options
from wne_basicsr.pipelines import prepare_test
from wne_basicsr.pipelines import test_pipeline as run_test_pipeline
from wne_basicsr.startup import StartupError

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAINED_FIRST = ('quickstart', 'repro_cpu')  # the recipes users train first, each with its shipped test options
TEST_OPTIONS = sorted(osp.relpath(p, REPO) for kind in TRAINED_FIRST
                      for p in glob.glob(osp.join(REPO, 'options', 'test', kind, '*.yml')))


def parsed(monkeypatch, root: str, path: str, is_train: bool, *force: str) -> dict:
    """Options as the entry point parses them (``sys.argv`` of train.py / test.py)."""
    argv = ['train.py' if is_train else 'test.py', '-opt', path]
    monkeypatch.setattr(sys, 'argv', [*argv, '--force_yml', *force] if force else argv)
    return parse_checked_options(root, is_train=is_train)[0]


def training_options_of(test_path: str) -> str:
    """options/test/<kind>/test_X.yml → options/<kind>/train_X.yml."""
    folder, base = osp.split(test_path)
    return osp.join('options', osp.basename(folder), 'train_' + base.removeprefix('test_'))


def test_training_options_are_refused_through_the_command_line(tmp_path):
    env = {**os.environ, 'WNE_BASICSR_ROOT': str(tmp_path), 'OMP_NUM_THREADS': '1'}
    train_file = osp.join(REPO, 'options', 'quickstart', 'train_DnCNN_s25.yml')
    result = subprocess.run([sys.executable, osp.join(REPO, 'wne_basicsr', 'test.py'), '-opt', train_file],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)  # from the checkout
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('test.py: error: path.pretrain_network_g is not set'), result.stderr[-2000:]
    assert f'-opt {osp.join(REPO, "options", "test", "quickstart", "test_DnCNN_s25.yml")}' in last
    assert 'PSNR' not in result.stdout + result.stderr and not (tmp_path / 'results').exists()


def test_every_recipe_trained_first_has_test_options():
    trained = sorted(osp.relpath(p, REPO) for kind in TRAINED_FIRST
                     for p in glob.glob(osp.join(REPO, 'options', kind, 'train_*.yml')))
    assert trained and sorted(training_options_of(p) for p in TEST_OPTIONS) == trained


@pytest.mark.parametrize('path', TEST_OPTIONS)
def test_shipped_test_options_load_the_checkpoint_their_training_writes(path, monkeypatch, tmp_path):
    train = parsed(monkeypatch, str(tmp_path), osp.join(REPO, training_options_of(path)), True)
    test = parsed(monkeypatch, str(tmp_path), osp.join(REPO, path), False)
    written = osp.relpath(osp.join(train['path']['models'], 'net_g_latest.pth'), tmp_path)
    assert test['path']['pretrain_network_g'] == written
    assert test['path']['param_key_g'] == ('params_ema' if train['train'].get('ema_decay', 0) > 0 else 'params')
    assert test['network_g'] == train['network_g'] and test['model_type'] == train['model_type']
    for key in ('inference_dtype', 'channels_last'):
        assert test.get(key) == train.get(key)
    (test_set, ) = test['datasets'].values()
    assert test_set['phase'] == 'test' and test_set['dataroot_gt'] == 'datasets/Set12'
    assert test_set['noise'] == train['datasets']['train']['noise']  # the noise and level it was trained for
    assert osp.isdir(osp.join(REPO, test_set['dataroot_gt']))


def test_a_shipped_test_options_file_runs_on_a_saved_checkpoint(tmp_path, monkeypatch, make_images):
    path = osp.join(REPO, 'options', 'test', 'quickstart', 'test_DnCNN_s25.yml')
    with open(path) as f:
        network = yaml.safe_load(f)['network_g']
    torch.manual_seed(0)
    checkpoint = tmp_path / 'net_g_latest.pth'
    torch.save({'params': build_network(dict(network)).state_dict()}, checkpoint)
    make_images(tmp_path / 'set', 2, (24, 20))
    parsed_argv = ['test.py', '-opt', path, '--force_yml', f'path:pretrain_network_g={checkpoint}',
                   f'datasets:test_sigma25:dataroot_gt={tmp_path / "set"}']
    monkeypatch.setattr(sys, 'argv', parsed_argv)
    run_test_pipeline(str(tmp_path))
    results = tmp_path / 'results' / 'test_quickstart_DnCNN_s25'
    (log_file, ) = results.glob('test_*.log')
    log = log_file.read_text()
    assert f'model from {checkpoint}' in log and 'Validation Set12_sigma25' in log and '# psnr_float:' in log
    assert sorted(p.name for p in (results / 'visualization' / 'Set12_sigma25').iterdir()) == \
        ['img000_test_quickstart_DnCNN_s25.png', 'img001_test_quickstart_DnCNN_s25.png']


def tiny_training_options(tmp_path, make_images) -> str:
    """Training options (a train set whose folder does not exist, one val set) of a tiny network; their path."""
    make_images(tmp_path / 'val', 1, (16, 16))
    opt = {
        'name': 'tiny', 'model_type': 'DenoisingModel', 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'train': {'name': 'Train400', 'type': 'NoisyImageDataset', 'dataroot_gt': str(tmp_path / 'no'),
                               'noise': {'type': 'gaussian', 'sigma': 25}, 'gt_size': 16, 'batch_size_per_gpu': 1},
                     'val_1': {'name': 'tiny_val', 'type': 'NoisyEvalDataset', 'dataroot_gt': str(tmp_path / 'val'),
                               'noise': {'type': 'gaussian', 'sigma': 25}}},
        'network_g': {'type': 'DnCNN', 'num_feat': 4, 'num_layers': 2},
        'path': {'pretrain_network_g': None, 'strict_load_g': True},
        'train': {'total_iter': 1, 'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'pixel_opt': {'type': 'MSELoss'}},
        'val': {'val_freq': 1, 'save_img': False},
    }
    opt_file = tmp_path / 'train_tiny.yml'
    opt_file.write_text(yaml.safe_dump(opt))
    return str(opt_file)


def test_training_sets_are_skipped_and_the_log_says_so(tmp_path, monkeypatch, make_images):
    opt_file = tiny_training_options(tmp_path, make_images)
    checkpoint = tmp_path / 'tiny.pth'
    torch.save({'params': build_network({'type': 'DnCNN', 'num_feat': 4, 'num_layers': 2}).state_dict()}, checkpoint)
    monkeypatch.setattr(sys, 'argv', ['test.py', '-opt', opt_file, '--force_yml',
                                      f'path:pretrain_network_g={checkpoint}'])
    run = prepare_test(str(tmp_path))
    lines = [record.getMessage() for record in run.log.buffer.buffer]
    run.log.close()
    assert [loader.dataset.opt['name'] for loader in run.loaders] == ['tiny_val']
    assert any(line.startswith('Skipping datasets.train (Train400): a training set') for line in lines)


def test_options_without_a_checkpoint_name_the_option_and_the_fix(tmp_path, monkeypatch, make_images):
    monkeypatch.setattr(sys, 'argv', ['test.py', '-opt', tiny_training_options(tmp_path, make_images)])
    with pytest.raises(StartupError, match=r'path\.pretrain_network_g is not set .*\(options/test/quickstart/.* '
                                           r'--force_yml path:pretrain_network_g=experiments/tiny/models/'
                                           r'net_g_latest\.pth$'):
        prepare_test(str(tmp_path))
    assert not (tmp_path / 'results').exists()
