"""Every shipped options file starts through the real parsing path: BasicSR's option parser for train/test files, each
tool's own parser for sweep and analysis files. The datasets and checkpoints the files name are laid out, tiny, in a
temporary working directory (the files' own relative paths are used as they are). Every file is parsed and builds its
model (or networks) and every dataset; the first file of each kind of network (arch × mode × channels × wrapper) also
runs one real training iteration, test batch or tool run, at batch 2 and 32-pixel patches."""
from __future__ import annotations

import functools
import glob
import os
import os.path as osp
import shutil
import sys

import cv2
import numpy as np
import pytest
import torch
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network

from wne_basicsr.cli import adaptive_filters, delta_histogram, mismatch_curve, normalized_residual
from wne_basicsr.evaluation.networks import load_network
from wne_basicsr.evaluation.options import read_yaml
from wne_basicsr.evaluation.sweep_config import ModelSpec, SweepConfig
from wne_basicsr.pipelines import prepare_test, prepare_training, train_pipeline
from wne_basicsr.pipelines import test_pipeline as run_test_pipeline

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
OPTIONS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'options', '**', '*.yml'), recursive=True))
TRAIN_PREFIXES = ('options/train/', 'options/quickstart/', 'options/repro_cpu/', 'options/train_')
# Folders of the tools' options files, checked by running their own parsers; anything else under options/ fails.
TOOL_PREFIXES = {'options/test/mismatch/': 'sweep', 'options/test/sampler/': 'test',
                 'options/test/quickstart/': 'test', 'options/test/repro_cpu/': 'test',
                 'options/test/analysis/delta_histogram': 'delta_histogram',
                 'options/test/analysis/normalized_residual': 'normalized_residual',
                 'options/test/analysis/adaptive_filters': 'adaptive_filters'}
RUN_ONE_ITERATION = ['datasets:train:batch_size_per_gpu=2', 'datasets:train:num_worker_per_gpu=0',
                     'datasets:train:gt_size=32', 'train:total_iter=1', 'logger:print_freq=1']


def kind_of(path: str) -> str | None:
    """How the file is used: 'train', 'test' (BasicSR test options), a tool's name, or None (not covered)."""
    if path.startswith(TRAIN_PREFIXES):
        return 'train'
    return next((kind for prefix, kind in TOOL_PREFIXES.items() if path.startswith(prefix)), None)


@functools.cache
def load(path: str) -> dict:
    """An options file (cached: read-only)."""
    with open(osp.join(REPO, path), encoding='utf-8') as f:
        return yaml.safe_load(f)


def roots_of(opt: dict) -> list[str]:
    """Every dataset root an options file names (BasicSR datasets, sweep datasets, analysis dataroot_gt)."""
    found = []
    sets = [*(opt.get('datasets') or {}).values(), opt]
    for dataset in sets:
        if not isinstance(dataset, dict):
            continue
        for key in ('dataroot_gt', 'dataroot_lq'):
            value = dataset.get(key)
            found.extend([value] if isinstance(value, str) else value or [])
    return found


def networks_of(opt: dict) -> dict[str, dict]:
    """Checkpoint path → network_g of every trained model an options file loads (test options, sweep/tool models)."""
    found = {}
    if (opt.get('path') or {}).get('pretrain_network_g'):
        found[opt['path']['pretrain_network_g']] = opt['network_g']
    for model in (opt.get('models') or {}).values():
        network = model.get('network_g') or load(model['options'])['network_g']
        found[model['checkpoint']] = network
    return found


def network_key(network: dict) -> tuple:
    """The kind of a network: wrapper, backbone type and its mode or variant (not its width or channels)."""
    wrapper = network['type'] if 'backbone' in network else 'none'
    net = network.get('backbone', network)
    return wrapper, net['type'], net.get('mode', net.get('bias_free', net.get('LayerNorm_type')))


def size_first(path: str) -> tuple:
    """Sort key putting the smaller variant of a backbone first (SwinIR lite before SwinIR-M)."""
    network = load(path).get('network_g') or {}
    return network.get('backbone', network).get('embed_dim', 0), path


def first_of_each_kind() -> set[str]:
    """The files that also run: for training and test options the first (smallest) of each network kind, training-set
    type and objective (every backbone, mode, wrapper, real-noise pairs, Soft-NE); the first file of each tool."""
    chosen, seen = set(), set()
    for path in sorted(OPTIONS, key=size_first):
        kind, opt = kind_of(path), load(path)
        keys = [(kind, opt.get('noise') == 'jpeg')] if kind == 'sweep' else [(kind,)]  # a noise and a JPEG sweep
        if kind in ('train', 'test'):
            train_set, train_opt = opt['datasets'].get('train') or {}, opt.get('train') or {}
            keys = [(kind, network_key(opt['network_g'])), (kind, train_set.get('type')),
                    (kind, train_set.get('objective'), 'soft_ne' in train_opt)]
        if any(key not in seen for key in keys):
            seen.update(keys)
            chosen.add(path)
    return chosen


RUNS = first_of_each_kind()
# Training roots hold images a bit larger than every patch size of the options (SwinIR-M trains on 128-pixel patches);
# the other roots (validation and test sets) small ones, which keep whole-image inference quick.
TRAIN_SIZE = max((d or {}).get('gt_size') or 0 for p in OPTIONS for d in (load(p).get('datasets') or {}).values()) + 8
EVAL_SIZE = 48
TRAIN_ROOTS = {root for p in OPTIONS for root in roots_of({'datasets': {'train': (load(p).get('datasets') or {})
                                                                                  .get('train')}})}


@pytest.fixture(scope='session')
def layout(tmp_path_factory) -> str:
    """A working directory holding every dataset folder (two colour PNGs a bit larger than the largest patch, with
    the same names everywhere, so noisy/clean pairs match), every checkpoint the options files name (freshly
    initialized networks) and options/ itself."""
    root = tmp_path_factory.mktemp('layout')
    (root / 'options').symlink_to(osp.join(REPO, 'options'))  # sweeps name their models' training options
    rng = np.random.default_rng(0)
    checkpoints = {}
    for path in OPTIONS:
        opt = load(path)
        for folder in roots_of(opt):
            target = root / folder
            if not target.exists():
                target.mkdir(parents=True)
                size = TRAIN_SIZE if folder in TRAIN_ROOTS else EVAL_SIZE
                for name in ('00', '00b'):  # sorted before a tool's own image (datasets/Set12/01.png)
                    noise = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
                    img = cv2.GaussianBlur(noise, (5, 5), 2)
                    cv2.imwrite(str(target / f'{name}.png'), img.clip(0, 255).astype(np.uint8))
        if kind_of(path) != 'train':
            checkpoints.update(networks_of(opt))
        if opt.get('image'):  # a tool's single image, large enough for its crop
            (root / opt['image']).parent.mkdir(parents=True, exist_ok=True)
            top, left, height, width = opt['crop']
            cv2.imwrite(str(root / opt['image']), rng.uniform(0, 255, (top + height, left + width)).astype(np.uint8))
    states = {}
    for checkpoint, network in checkpoints.items():
        key = yaml.safe_dump(network)  # many files share a network: build each once
        if key not in states:
            torch.manual_seed(0)
            states[key] = {'params': build_network(dict(network)).state_dict()}
        (root / checkpoint).parent.mkdir(parents=True, exist_ok=True)
        torch.save(states[key], root / checkpoint)
    return str(root)


@pytest.fixture
def in_layout(layout, monkeypatch):
    monkeypatch.chdir(layout)
    return layout


def basicsr_argv(monkeypatch, entry: str, path: str, *force: str) -> None:
    argv = [entry, '-opt', osp.join(REPO, path)]
    monkeypatch.setattr(sys, 'argv', [*argv, '--force_yml', *force] if force else argv)


def no_workers(opt: dict) -> list[str]:
    """Loader options for every set of ``opt``: no worker processes (the sets are tiny; BasicSR's 4 workers per set
    would only warn that this machine has fewer cores)."""
    return [f'datasets:{key}:num_worker_per_gpu=0' for key in opt['datasets']]


def remove_outputs(root: str, *folders: str) -> None:
    """Delete what a run wrote under ``root`` (checkpoints of the larger networks are hundreds of MB)."""
    for folder in folders:
        shutil.rmtree(osp.join(root, folder), ignore_errors=True)


def check_train(path: str, root: str, monkeypatch) -> None:
    opt = load(path)
    if path in RUNS:
        # under its own name: experiments/<name>/ of the options holds checkpoints that test options load
        name = f'smoke_{opt["name"]}'
        one_image = [f'datasets:{key}:max_images=1' for key in opt['datasets'] if key.startswith('val')]
        basicsr_argv(monkeypatch, 'train.py', path, f'name={name}', *RUN_ONE_ITERATION, *no_workers(opt), *one_image)
        train_pipeline(root)
        written = osp.isfile(osp.join(root, 'experiments', name, 'models', 'net_g_1.pth'))
        remove_outputs(root, osp.join('experiments', name), osp.join('tb_logger', name))
        assert written
        return
    basicsr_argv(monkeypatch, 'train.py', path, *no_workers(opt))
    run = prepare_training(root)
    run.log.close()
    assert len(run.loaders.train) > 0 and all(len(loader) > 0 for loader in run.loaders.val)
    assert sum(p.numel() for p in run.model.net_g.parameters()) > 0


def check_test(path: str, root: str, monkeypatch) -> None:
    opt = load(path)
    force = ['val:save_img=false', *no_workers(opt), *(f'datasets:{key}:max_images=1' for key in opt['datasets'])]
    force += ['sampler:max_steps=2'] if 'sampler' in opt else []
    basicsr_argv(monkeypatch, 'test.py', path, *force)
    if path in RUNS:
        run_test_pipeline(root)
        written = 'per_image.csv' if 'sampler' in opt else 'test_*.log'
        found = glob.glob(osp.join(root, 'results', opt['name'], '**', written), recursive=True)
        remove_outputs(root, osp.join('results', opt['name']))
        assert found
        return
    run = prepare_test(root)
    run.log.close()
    assert run.loaders and all(len(loader) > 0 for loader in run.loaders)


def check_sweep(path: str, root: str, tmp_path) -> None:
    if path in RUNS:
        levels = ['--qualities', '50'] if load(path).get('noise') == 'jpeg' else ['--sigmas', '25']
        mismatch_curve.main(['-opt', osp.join(REPO, path), *levels, '--n-averages', '1', '--no-cache',
                             '--no-ne-defect', '--output-dir', str(tmp_path), '--quiet'])
        assert glob.glob(str(tmp_path / '*' / 'mismatch.csv'))
        return
    config = SweepConfig.from_opt(mismatch_curve.sweep_options(mismatch_curve.parse_args(['-opt',
                                                                                          osp.join(REPO, path)])))
    for model in config.models:
        assert load_network(model) is not None
    for dataset in config.datasets:
        assert dataset.load()


def check_tool(kind: str, path: str, tmp_path) -> None:
    opt_path = osp.join(REPO, path)
    if kind == 'adaptive_filters':
        args = ['-opt', opt_path, '--output-dir', str(tmp_path)]
        adaptive_filters.main(args) if path in RUNS else adaptive_filters.parse_args(args)
        return
    if kind == 'delta_histogram':
        args = ['-opt', opt_path, '--num-samples', '8', '--sigmas', '10', '20', '--output-dir', str(tmp_path)]
        delta_histogram.main(args) if path in RUNS else delta_histogram.parse_args(args)
        return
    args = ['-opt', opt_path, '--num-batches', '1', '--batch-size', '4', '--sigmas', '10', '20', '--output-dir',
            str(tmp_path)]
    if path in RUNS:
        normalized_residual.main(args)
        return
    opt = normalized_residual.parse_args(args)
    assert opt['models'] and all(load_network(ModelSpec.from_opt(label, model)) is not None
                                 for label, model in opt['models'].items())


def test_every_options_file_is_covered():
    uncovered = [path for path in OPTIONS if kind_of(path) is None]
    assert not uncovered, f'options files no smoke test covers (add their kind to {__name__}): {uncovered}'
    assert len(RUNS) >= 10


@pytest.mark.parametrize('path', OPTIONS)
def test_options_file_starts(path, in_layout, monkeypatch, tmp_path):
    kind = kind_of(path)
    assert kind is not None, 'not covered: see test_every_options_file_is_covered'
    assert read_yaml(osp.join(REPO, path))
    if kind == 'train':
        check_train(path, in_layout, monkeypatch)
    elif kind == 'test':
        check_test(path, in_layout, monkeypatch)
    elif kind == 'sweep':
        check_sweep(path, in_layout, tmp_path)
    else:
        check_tool(kind, path, tmp_path)
    assert os.getcwd() == in_layout
