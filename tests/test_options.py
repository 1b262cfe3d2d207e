"""Every options file parses and builds its network (and its datasets where their roots exist); recipes match §4.2."""
import functools
import glob
import json
import os.path as osp

import pytest
import yaml

import wne_basicsr  # noqa: F401  (must come before anything from basicsr)

# isort: split
from basicsr.archs import build_network
from basicsr.data import build_dataset
from basicsr.utils.options import ordered_yaml
from basicsr.utils.registry import DATASET_REGISTRY, MODEL_REGISTRY
from script_loader import load_script

from wne_basicsr.data.noise import NoiseSpec
from wne_basicsr.option_checks import DATASET_LOADER_OPTIONS
from wne_basicsr.registry_errors import check_known_keys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
OPTIONS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'options', '**', '*.yml'), recursive=True))
SHORT_NAME = 'options/train_swinir_wne_s10.yml'
# Published parameter counts (docs/method.md §2.5) by (backbone type, mode or size, channels).
PAPER_COUNTS = {('DnCNN', False, 1): 668_225, ('FDnCNN', 'ordinary', 1): 665_920, ('FDnCNN', 'scale_equiv', 1): 664_704,
                ('FDnCNN', 'norm_equiv', 1): 664_704, ('SwinIR', 60, 1): 903_121, ('SwinIRDenoiser', 60, 3): 905_283,
                ('Restormer', 'WithBias', 1): 26_124_052, ('Restormer', 'WithBias', 3): 26_126_644}


def load(path: str) -> dict:
    """An options file read the way BasicSR reads it (so ``!!float`` and friends behave the same)."""
    with open(osp.join(REPO, path), encoding='utf-8') as f:
        return yaml.load(f, Loader=ordered_yaml()[0])


def plain(value):
    """Nested OrderedDicts as plain dicts (for hashing and comparison)."""
    return json.loads(json.dumps(value))


@functools.cache
def parameter_count(network_json: str) -> int:
    """Build a ``network_g`` with BasicSR's build_network once per distinct configuration; its parameter count."""
    return sum(p.numel() for p in build_network(json.loads(network_json)).parameters())


@functools.cache
def dataset_length(dataset_json: str) -> int:
    return len(build_dataset(json.loads(dataset_json)))


def paper_key(network: dict) -> tuple:
    """The PAPER_COUNTS key of a network's backbone."""
    net = network.get('backbone', network)
    kind = {'DnCNN': net.get('bias_free', False), 'FDnCNN': net.get('mode', 'ordinary'),
            'Restormer': net.get('LayerNorm_type', 'WithBias')}.get(net['type'], net.get('embed_dim'))
    return net['type'], kind, net.get('num_in_ch', net.get('in_chans', net.get('inp_channels')))


def test_there_are_enough_options_files():
    assert len(OPTIONS) >= 40
    assert len([p for p in OPTIONS if p.startswith('options/train/')]) >= 40


@pytest.mark.parametrize('path', OPTIONS)
def test_options_file_parses_and_builds(path):
    opt = load(path)
    if path.startswith('options/train/'):
        assert opt['name'] == osp.splitext(osp.basename(path))[0], 'the experiment name is the file stem'
    if 'network_g' in opt:
        count = parameter_count(json.dumps(plain(opt['network_g']), sort_keys=True))
        expected = PAPER_COUNTS.get(paper_key(opt['network_g']))
        assert expected is None or count == expected
    if 'model_type' in opt:
        assert opt['model_type'] in MODEL_REGISTRY and opt['scale'] == 1
        train = opt.get('train')
        if train is not None:
            assert train['optim_g']['type'] == 'Adam'  # the only optimizer of BasicSR 1.4.2
            assert isinstance(train['optim_g']['lr'], float)  # a bare 1e-4 would be read as a string
        for name, dataset in (opt.get('datasets') or {}).items():
            assert dataset['type'] in DATASET_REGISTRY, f'datasets.{name}'
            if 'noise' in dataset:
                NoiseSpec.from_opt(dataset['noise'], f'{path}: datasets.{name}.noise')
            roots = dataset.get('dataroot_gt')
            roots = [roots] if isinstance(roots, str) else roots or []
            if roots and all(osp.exists(osp.join(REPO, r)) for r in roots):
                absolute = [osp.join(REPO, r) for r in roots]
                built = {**plain(dataset), 'dataroot_gt': absolute if len(absolute) > 1 else absolute[0]}
                assert dataset_length(json.dumps(built, sort_keys=True)) > 0
    for model in (opt.get('models') or {}).values():  # sweep configs name the training options of their models
        if isinstance(model, dict) and 'options' in model:
            assert osp.isfile(osp.join(REPO, model['options'])), model['options']


def test_generated_options_are_up_to_date():
    script = load_script('scripts/make_options.py', register=True)  # its dataclass looks its module up there
    assert script.main(['--check']) == 0, 'run python scripts/make_options.py'
    tags = [exp.tag for exp in script.experiments()]
    assert len(tags) == len(set(tags))


def test_short_name_is_a_copy():
    with open(osp.join(REPO, SHORT_NAME), encoding='utf-8') as short, \
            open(osp.join(REPO, 'options/train/SwinIR/train_SwinIR_WNE_s10.yml'), encoding='utf-8') as full:
        assert short.read() == full.read()


def get(opt: dict, path: str):
    """The value at a ``:``-separated key path (as in ``--force_yml``)."""
    for key in path.split(':'):
        opt = opt[key]
    return plain(opt)


@pytest.mark.parametrize('path, key, expected', [
    ('DnCNN/train_DnCNN_WNE_laplace_s20', 'train:pixel_opt:type', 'L1Loss'),
    ('DnCNN/train_DnCNN_WNE_laplace_s20', 'train:scheduler:gamma', 1.0),
    ('DnCNN/train_DnCNN_WNE_rayleigh_s17', 'train:scheduler:gamma', 0.5),
    ('DnCNN/train_DnCNN_WNEI_s10', 'network_g:type', 'WNEInput'),
    ('DnCNN/train_DnCNN_s50', 'train:pixel_opt:type', 'L1Loss'),
    ('FDnCNN/train_FDnCNN_NE_s10', 'train:total_iter', 900_000),
    ('FDnCNN/train_FDnCNN_NE_s10', 'train:scheduler:gamma', 1.0),
    ('FDnCNN/train_FDnCNN_NE_laplace_s20', 'train:total_iter', 500_000),
    ('FDnCNN/train_FDnCNN_NE_laplace_s20', 'train:pixel_opt:type', 'L1Loss'),
    ('FDnCNN/train_FDnCNN_WNE_s50', 'train:scheduler:milestones', [100_000 * i for i in range(1, 9)]),
    ('FDnCNN/train_FDnCNN_SE_s25', 'network_g:mode', 'scale_equiv'),
    ('SwinIR/train_SwinIR_WNE_laplace_s20', 'train:pixel_opt:type', 'MSELoss'),
    ('SwinIR/train_SwinIR_s0-55', 'datasets:train:noise:sigma_range', [0, 55]),
    ('SwinIR/train_SwinIR_s0-55', 'datasets:val_sigma27.5:noise:sigma', 27.5),
    ('SwinIR/train_SwinIR_SoftNE_s10', 'train:soft_ne', {'alpha': [0, 1], 'mu': [0, 1]}),
    ('SwinIR/train_SwinIR_WNE_N2N_s19.125', 'datasets:train:objective', 'n2n'),
    ('SwinIR/train_SwinIR_WNE_rayleigh_s17', 'datasets:val:noise', {'type': 'rayleigh', 'sigma': 17}),
    ('SwinIR/train_SwinIR_WNE_s10', 'datasets:train:gt_size', 64),
    ('SwinIR/train_SwinIRM_WNE_s25_rgb', 'network_g:backbone:type', 'SwinIRDenoiser'),
    ('Restormer/train_Restormer_WNE_s25_rgb', 'datasets:train:dataroot_gt',
     ['datasets/DIV2K/DIV2K_train_HR', 'datasets/DIV2K/DIV2K_valid_HR', 'datasets/Flickr2K',
      'datasets/WaterlooExploration']),
    ('Restormer/train_Restormer_WNE_s25_rgb', 'datasets:val:dataroot_gt', 'datasets/CBSD68'),
    ('Restormer/train_Restormer_s10', 'datasets:train:batch_size_per_gpu', 8),
])
def test_recipe_details(path, key, expected):
    """Spot checks of the deliberately asymmetric recipes of docs/method.md §4.2 (losses, steps, schedules, data)."""
    assert get(load(f'options/train/{path}.yml'), key) == expected


@pytest.mark.parametrize('path', [p for p in OPTIONS if 'model_type' in (load(p) or {})])
def test_dataset_options_are_all_known_to_their_dataset(path):
    """Every key of every set is one its dataset reads (a misspelled key is refused at start-up)."""
    for name, dataset in load(path)['datasets'].items():
        if isinstance(dataset, dict) and 'type' in dataset:
            check_known_keys(dataset, DATASET_LOADER_OPTIONS | DATASET_REGISTRY.get(dataset['type']).options,
                             f'{path}: datasets.{name}')
