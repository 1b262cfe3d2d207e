"""The sweep's result cache: points are read back only for the same checkpoint, image content and way of running."""
import wne_basicsr  # noqa: F401

# isort: split
import shutil

import cv2
import numpy as np
import pytest
import torch
from basicsr.archs import build_network

from wne_basicsr.errors import OptionError
from wne_basicsr.evaluation.cache import ResultCache
from wne_basicsr.evaluation.mismatch import model_key, run_sweep
from wne_basicsr.evaluation.sweep_config import SweepConfig

TINY = {'type': 'DnCNN', 'num_in_ch': 1, 'num_feat': 4, 'num_layers': 3}


def write_bmp(path, seed: int) -> None:
    """A 16×16 gray BMP: uncompressed, so images of one size have files of one byte size."""
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (16, 16), dtype=np.uint8))


@pytest.fixture
def sweep(tmp_path) -> dict:
    """One tiny DnCNN, one σ, two 16×16 images, one NE-defect draw."""
    (tmp_path / 'set').mkdir()
    for i in range(2):
        write_bmp(tmp_path / 'set' / f'img{i}.bmp', i)
    torch.manual_seed(0)
    torch.save({'params': build_network(dict(TINY)).state_dict()}, tmp_path / 'net.pth')
    return {'name': 'cache', 'sigmas': [25], 'n_averages': 1, 'device': 'cpu', 'ne_defect': {'num_affine': 1},
            'cache_dir': str(tmp_path / 'cache'), 'datasets': {'Set': {'dataroot_gt': str(tmp_path / 'set')}},
            'models': {'net': {'network_g': TINY, 'checkpoint': str(tmp_path / 'net.pth')}}}


@pytest.fixture
def computed(monkeypatch) -> list[str]:
    """The metric of every point computed and stored, i.e. of every cache miss."""
    metrics, put = [], ResultCache.put

    def recording(self, key, value):
        metrics.append(key['metric'])
        put(self, key, value)

    monkeypatch.setattr(ResultCache, 'put', recording)
    return metrics


def run(opt: dict) -> list[dict]:
    return run_sweep(SweepConfig.from_opt(opt), progress=False)


def test_points_follow_the_image_content_not_the_folder(sweep, tmp_path, computed):
    first = run(sweep)
    assert computed == ['quality', 'ne_defect']
    computed.clear()
    assert run(sweep) == first and computed == []
    shutil.copytree(tmp_path / 'set', tmp_path / 'moved')
    assert run({**sweep, 'datasets': {'Set': {'dataroot_gt': str(tmp_path / 'moved')}}}) == first and computed == []

    replaced = tmp_path / 'set' / 'img1.bmp'
    size = replaced.stat().st_size
    write_bmp(replaced, 7)  # another image under the same name, of the same byte size
    assert replaced.stat().st_size == size
    second = run(sweep)
    assert computed == ['quality', 'ne_defect'] and second[0]['input_psnr_db'] != first[0]['input_psnr_db']

    computed.clear()
    (tmp_path / 'moved' / 'img1.bmp').rename(tmp_path / 'moved' / 'other.bmp')  # the stem seeds the noise draws
    assert run({**sweep, 'datasets': {'Set': {'dataroot_gt': str(tmp_path / 'moved')}}}) != first
    assert computed == ['quality', 'ne_defect']


def test_memory_format_and_dtype_have_their_own_points(sweep, computed):
    run(sweep)
    computed.clear()
    run({**sweep, 'channels_last': True})
    assert computed == ['quality', 'ne_defect']
    computed.clear()
    run({**sweep, 'inference_dtype': 'bf16'})
    assert computed == ['quality']  # the NE defect is measured in fp32 whatever the dtype
    computed.clear()
    run({**sweep, 'inference_dtype': 'fp32'})
    assert computed == []


def test_compilation_device_and_torch_version_are_in_the_key(sweep, monkeypatch):
    config = SweepConfig.from_opt(sweep)
    plain = model_key(config, config.models[0], torch.device('cpu'))
    assert model_key(config, config.models[0], torch.device('cpu')) == plain
    compiled = SweepConfig.from_opt({**sweep, 'compile': {'mode': 'max-autotune'}}).models[0]
    assert model_key(config, compiled, torch.device('cpu'))['compile'] == {'mode': 'max-autotune', 'dynamic': None}
    assert model_key(config, config.models[0], torch.device('cuda')) != plain
    monkeypatch.setattr(torch, '__version__', '0.0.0')
    assert model_key(config, config.models[0], torch.device('cpu')) != plain


def test_allow_tf32_is_an_option_of_the_sweep_and_in_the_key(sweep):
    config = SweepConfig.from_opt(sweep)
    assert config.models[0].allow_tf32 is False  # fp32 means fp32 unless asked
    tf32 = SweepConfig.from_opt({**sweep, 'allow_tf32': True}).models[0]
    assert tf32.allow_tf32 is True
    assert model_key(config, tf32, torch.device('cpu')) != model_key(config, config.models[0], torch.device('cpu'))
    with pytest.raises(OptionError, match=r'allow_tf32 must be true or false'):
        SweepConfig.from_opt({**sweep, 'allow_tf32': 'yes'})
