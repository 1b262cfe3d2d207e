"""The shipped sweep and analysis options: valid schema, and checkpoints where their training options put them."""
import wne_basicsr  # noqa: F401

# isort: split
import glob
import os.path as osp

import pytest

from wne_basicsr.evaluation.options import read_yaml
from wne_basicsr.evaluation.sweep_config import SweepConfig

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SWEEPS = sorted(glob.glob(osp.join(ROOT, 'options', 'test', 'mismatch', '*.yml')))


@pytest.fixture(autouse=True)
def in_repository(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_quickstart_sweep_reads_the_quickstart_models():
    config = SweepConfig.from_opt(read_yaml('options/test/mismatch/quickstart_DnCNN_s25.yml'))
    assert [m.label for m in config.models] == ['DnCNN', 'WNE-DnCNN']
    assert [d.name for d in config.datasets] == ['Set12', 'BSD68']
    assert config.models[1].network_opt['type'] == 'WNE' and all(m.sigma_train == 25 for m in config.models)
    assert config.models[1].checkpoint == 'experiments/quickstart_DnCNN_WNE_s25/models/net_g_latest.pth'
    assert 25 in config.levels and 5 <= min(config.levels) and max(config.levels) == 100


@pytest.mark.parametrize('path', SWEEPS, ids=osp.basename)
def test_sweep_options_are_consistent(path):
    opt = read_yaml(path)
    assert opt['name'] == osp.splitext(osp.basename(path))[0]
    for label, model in opt['models'].items():
        train_opt = model['options']
        assert train_opt.startswith('options/') and osp.isfile(train_opt), (label, train_opt)
        experiment = read_yaml(train_opt)['name']
        assert model['checkpoint'] == f'experiments/{experiment}/models/net_g_latest.pth', label
    config = SweepConfig.from_opt(opt)  # reads network_g (and σ_train) from every training options file
    assert all(osp.isdir(d.dataroot_gt) for d in config.datasets)
