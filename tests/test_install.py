"""A non-editable install in a fresh virtual environment: the wne-* commands work from a folder outside the repository,
with relative paths read from the working directory."""
import os
import shutil
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd: list[str], cwd, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'WNE_BASICSR_ROOT')}
    result = subprocess.run(cmd, cwd=cwd, env={**env, 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1'},
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f'{cmd}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}'
    return result


def test_installed_commands_train_and_denoise_outside_the_repository(tmp_path, make_images):
    source = tmp_path / 'source'  # a copy, so that the build writes nothing into the checkout
    shutil.copytree(os.path.join(REPO, 'wne_basicsr'), source / 'wne_basicsr',
                    ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('setup.py', 'README.md', 'pyproject.toml'):
        shutil.copy(os.path.join(REPO, name), source)
    venv = tmp_path / 'venv'
    # torch, basicsr, pip and a current setuptools come from this environment; the package goes into the venv
    run([sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip', str(venv)], tmp_path)
    python, bin_dir = str(venv / 'bin' / 'python'), venv / 'bin'
    run([python, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation', '--no-index', '-q', str(source)],
        tmp_path)
    work = tmp_path / 'work'
    make_images(work / 'data' / 'train', 4, (40, 40))
    make_images(work / 'data' / 'val', 2, (24, 20), seed=1)
    located = run([python, '-c', 'import wne_basicsr; print(wne_basicsr.__file__)'], work).stdout.strip()
    assert located.startswith(str(venv)), located  # the installed copy, not the checkout

    network = {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}}
    opt = {'name': 'installed', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
           'datasets': {'train': {'name': 't', 'type': 'NoisyImageDataset', 'dataroot_gt': 'data/train',
                                  'noise': {'type': 'gaussian', 'sigma': 25}, 'gt_size': 32, 'batch_size_per_gpu': 2,
                                  'num_worker_per_gpu': 0},
                        'val': {'name': 'v', 'type': 'NoisyEvalDataset', 'dataroot_gt': 'data/val',
                                'noise': {'type': 'gaussian', 'sigma': 25}}},
           'network_g': network, 'path': {'pretrain_network_g': None},
           'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'scheduler': {'type': 'MultiStepLR', 'milestones': [9],
                     'gamma': 0.5}, 'total_iter': 2, 'pixel_opt': {'type': 'MSELoss'}},
           'val': {'val_freq': 2, 'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr_float'}}},
           'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False}}
    (work / 'tiny.yml').write_text(yaml.safe_dump(opt))
    log = run([str(bin_dir / 'wne-train'), '-opt', 'tiny.yml'], work)
    checkpoint = work / 'experiments' / 'installed' / 'models' / 'net_g_latest.pth'
    assert checkpoint.is_file() and 'Validation v' in log.stdout + log.stderr
    out = run([str(bin_dir / 'wne-denoise'), '--opt', 'tiny.yml', '--checkpoint', str(checkpoint), '--input',
               'data/val', '--output', 'denoised', '--device', 'cpu'], work)
    assert sorted(p.name for p in (work / 'denoised').iterdir()) == ['img000.png', 'img001.png']
    assert out.stdout.strip().endswith(f'into {work / "denoised"}')
