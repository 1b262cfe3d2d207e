"""Bad option values and misspelled arch arguments raise OptionError: the command ends in one line naming the option,
without a traceback (tracebacks are for bugs)."""
import os
import subprocess
import sys

import pytest
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network

from wne_basicsr.data.image_io import decode_image
from wne_basicsr.data.noise import NoiseSpec, unit_noise
from wne_basicsr.errors import OptionError
from wne_basicsr.evaluation.sweep_config import SweepConfig, sigma_grid
from wne_basicsr.inference.forward import TileSpec
from wne_basicsr.inference.precision import CompileSpec, precision_dtype, tf32_option
from wne_basicsr.losses.soft_ne_loss import SoftNE
from wne_basicsr.metrics.ne_defect import ne_defect
from wne_basicsr.option_checks import OptionError as ReexportedOptionError
from wne_basicsr.sampling.algorithm import SamplerConfig
from wne_basicsr.sampling.inverse_problems import problem_type

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DNCNN_ARGUMENTS = 'its arguments are num_in_ch, num_feat, num_layers, bias_free'


def test_option_error_is_still_importable_from_option_checks():
    assert ReexportedOptionError is OptionError and issubclass(OptionError, ValueError)


@pytest.mark.parametrize('check, message', [
    (lambda: TileSpec.from_opt({'size': 0}), r'^tile.size must be a positive integer'),
    (lambda: TileSpec.from_opt([64]), r'^option tile must be \{size'),
    (lambda: precision_dtype('fp8', 'train.amp'), r"^train.amp must be one of \['fp32', 'bf16', 'fp16', 'auto'\]"),
    (lambda: tf32_option('yes'), r"^allow_tf32 must be true or false, got 'yes'"),
    (lambda: CompileSpec.from_opt({'mode': 'fast'}), r'^compile.mode must be one of'),
    (lambda: NoiseSpec.from_opt({'type': 'gaussian', 'sigma': -1}, 'datasets.train.noise'),
     r'^datasets.train.noise.sigma must be >= 0'),
    (lambda: unit_noise('poisson', (1, 2, 2)), r"^option noise: unknown noise type 'poisson'"),
    (lambda: SoftNE.from_opt({'alpha': [1, 0]}), r'^train.soft_ne.alpha must satisfy lo <= hi'),
    (lambda: build_network({'type': 'DnCNN', 'num_layers': 1}), r'^DnCNN: num_layers must be at least 2'),
    (lambda: build_network({'type': 'FDnCNN', 'mode': 'equiv'}), r'^FDnCNN: mode must be one of'),
    (lambda: build_network({'type': 'Restormer', 'LayerNorm_type': 'Bias'}), r'^Restormer: LayerNorm_type must be'),
    (lambda: ne_defect(None, None, num_affine=0), r'^ne_defect: num_affine must be >= 1'),
    (lambda: decode_image(b'not an image', 'x.png', 'gray'), r'^x.png: cannot decode the image'),
    (lambda: sigma_grid(0), r'^sigma_grid: need num >= 1'),
    (lambda: SweepConfig.from_opt({'name': 'n', 'nosie': 'gaussian'}), r"^sweep options: unknown keys \['nosie'\]"),
    (lambda: SamplerConfig.from_opt({'max_steps': 0}, False), r'^sampler.max_steps must be a positive integer'),
    (lambda: problem_type({'type': 'random_missing', 'keep': 0.1}), r"^sampler.problem \(random_missing\): unknown"),
], ids=['tile.size', 'tile', 'amp', 'allow_tf32', 'compile.mode', 'noise.sigma', 'unit_noise', 'soft_ne', 'DnCNN',
        'FDnCNN', 'Restormer', 'ne_defect', 'decode_image', 'sigma_grid', 'sweep', 'sampler',
        'sampler.problem'])
def test_a_bad_option_or_file_raises_an_option_error(check, message):
    with pytest.raises(OptionError, match=message):
        check()


def training_options(train_root: str, **changes) -> dict:
    """Small valid training options (a WNE DnCNN on ``train_root``), with ``changes`` applied on top."""
    return {'name': 'bad', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
            'datasets': {'train': {'name': 'tiny', 'type': 'NoisyImageDataset', 'dataroot_gt': train_root,
                                   'noise': {'type': 'gaussian', 'sigma': 25}, 'gt_size': 32,
                                   'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2}},
            'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}},
            'path': {}, 'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'total_iter': 2,
                                  'pixel_opt': {'type': 'MSELoss'}},
            'logger': {'print_freq': 1, 'save_checkpoint_freq': 2}, **changes}


@pytest.mark.parametrize('changes, message', [
    ({'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layrs': 3}}},
     f"network_g.backbone: DnCNN has no argument 'num_layrs' (did you mean num_layers?); {DNCNN_ARGUMENTS}"),
    ({'channels_last': 3}, 'channels_last must be true or false, got 3'),
], ids=['misspelled-backbone-argument', 'channels_last'])
def test_the_command_line_ends_a_bad_option_in_one_line_without_traceback(tmp_path, make_images, changes, message):
    make_images(tmp_path / 'train', 2, (40, 40))
    (tmp_path / 'bad.yml').write_text(yaml.safe_dump(training_options(str(tmp_path / 'train'), **changes)))
    env = {**os.environ, 'WNE_BASICSR_ROOT': str(tmp_path), 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'}
    result = subprocess.run([sys.executable, os.path.join(REPO, 'wne_basicsr', 'train.py'), '-opt', 'bad.yml'],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f'train.py: error: {message}'
    assert 'Traceback' not in output and output.count(message) == 1
    assert sorted(os.listdir(tmp_path)) == ['bad.yml', 'train']  # nothing written
