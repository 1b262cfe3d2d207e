"""Installing as a user does: the package installs the documented way into a fresh virtual environment (whether the
tests run from a venv or from a system python), pulls no tb-nightly, and its wne-* commands work outside the
repository; the requirement files agree with setup.py; the Makefile's choice of python (tools/pick_python.py)."""
import ast
import os
import shutil
import site
import subprocess
import sys
import sysconfig

import pytest
import yaml
from script_loader import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PICK = load_script('tools/pick_python.py')


def run(cmd: list[str], cwd, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'WNE_BASICSR_ROOT')}
    env = {**base, 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1', **(env or {})}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f'{cmd}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}'
    return result


def site_dirs() -> list[str]:
    """This interpreter's site-packages folders (its venv's, or the system's), and the user's where it reads them."""
    dirs = list(site.getsitepackages())
    user = site.getusersitepackages()
    if site.ENABLE_USER_SITE and user in sys.path:
        dirs.append(user)
    return [d for d in dirs if os.path.isdir(d)]


def venv_seeing_this_environment(venv) -> str:
    """A fresh venv (its python returned) that also reads this interpreter's packages: torch, basicsr, pip and a current
    setuptools. A venv made from a venv (even with --system-site-packages) reads the base interpreter's packages, not
    the running venv's, so a .pth file names them. Without pip of its own: that would bring an old setuptools first."""
    run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], venv.parent)
    python = str(venv / 'bin' / 'python')
    purelib = run([python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'], venv.parent).stdout.strip()
    with open(os.path.join(purelib, 'running_environment.pth'), 'w') as f:
        f.write(''.join(d + '\n' for d in site_dirs()))
    return python


@pytest.fixture
def scratch(tmp_path):
    """A folder for a venv, removed afterwards whatever the outcome (venvs are large)."""
    yield tmp_path / 'scratch'
    shutil.rmtree(tmp_path / 'scratch', ignore_errors=True)


@pytest.mark.slow
def test_installed_commands_train_and_denoise_outside_the_repository(tmp_path, scratch, make_images):
    source = tmp_path / 'source'  # a copy, so that the build writes nothing into the checkout
    shutil.copytree(os.path.join(REPO, 'wne_basicsr'), source / 'wne_basicsr',
                    ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('setup.py', 'README.md', 'pyproject.toml'):
        shutil.copy(os.path.join(REPO, name), source)
    venv = scratch
    python, bin_dir = venv_seeing_this_environment(venv), venv / 'bin'
    # with its dependencies (offline: all of them are here already), as documented; basicsr is not among them, so pip
    # never asks for its tb-nightly (which would fail here without an index)
    run([python, '-m', 'pip', 'install', '--no-build-isolation', '--no-index', str(source)], tmp_path)
    assert not list(venv.glob('lib/python*/site-packages/tb_nightly*'))
    assert list(venv.glob('lib/python*/site-packages/wne_basicsr-*.dist-info'))
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


def test_without_basicsr_the_import_says_how_to_install_it():
    code = 'import sys; sys.modules["basicsr"] = None; import wne_basicsr'  # find_spec then finds no basicsr
    result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('ModuleNotFoundError: wne_basicsr needs basicsr 1.4.2')
    assert '`pip install --no-build-isolation --no-deps basicsr==1.4.2`' in last


def requirement_lines(name: str) -> list[str]:
    with open(os.path.join(REPO, name)) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


def setup_keywords() -> dict:
    """setup()'s literal keyword arguments in setup.py."""
    with open(os.path.join(REPO, 'setup.py')) as f:
        tree = ast.parse(f.read())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, 'id', '') == 'setup')
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ('install_requires', 'extras_require')}


def test_requirement_files_match_setup_and_leave_out_basicsr_and_test_tools():
    keywords = setup_keywords()
    runtime, test = requirement_lines('requirements.txt'), requirement_lines('requirements-test.txt')
    assert sorted(runtime + ['torch', 'torchvision']) == sorted(keywords['install_requires'])
    assert sorted(test) == sorted(keywords['extras_require']['test']) == ['pytest', 'ruff']
    names = {line.lower() for line in runtime + keywords['install_requires']}
    assert not names & {'basicsr', 'basicsr==1.4.2', 'tb-nightly', 'pytest', 'ruff'}


@pytest.mark.parametrize('in_venv,venv_exists,managed,has_pip,break_system,expected', [
    (True, False, True, True, False, 'python3'),  # an active venv is used as before
    (True, True, True, True, False, 'python3'),
    (False, False, False, True, False, 'python3'),  # a python that installs (pyenv, conda, older distributions)
    (False, False, True, True, False, 'VENV'),  # PEP 668: .venv, made by `make install`
    (False, False, True, True, True, 'python3'),  # PIP_BREAK_SYSTEM_PACKAGES lets pip install there
    (False, False, False, False, False, 'VENV'),  # no pip
    (False, True, False, True, False, 'VENV'),  # an existing .venv, once made
])
def test_the_makefile_picks_its_python(in_venv, venv_exists, managed, has_pip, break_system, expected):
    chosen = PICK.choose('python3', '/r/.venv', in_venv=in_venv, venv_exists=venv_exists, managed=managed,
                         has_pip=has_pip, break_system_packages=break_system)
    assert chosen == {'python3': 'python3', 'VENV': '/r/.venv/bin/python'}[expected]


def externally_managed_python() -> str | None:
    """A system python3 that refuses pip installs (PEP 668), such as Debian's, where this machine has one."""
    for python in ('/usr/bin/python3', '/usr/local/bin/python3'):
        if not os.path.isfile(python):
            continue
        stdlib = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_path("stdlib"))'],
                                capture_output=True, text=True).stdout.strip()
        if stdlib and os.path.isfile(os.path.join(stdlib, 'EXTERNALLY-MANAGED')):
            return python
    return None


@pytest.mark.skipif(shutil.which('make') is None, reason='needs make')
def test_make_uses_a_repository_venv_where_the_system_python_is_externally_managed(scratch):
    python = externally_managed_python()
    if python is None:
        pytest.skip('no externally-managed python3 on this machine')
    repo = scratch  # the Makefile and its helper only: `make venv` creates .venv in it
    (repo / 'tools').mkdir(parents=True)
    shutil.copy(os.path.join(REPO, 'Makefile'), repo)
    shutil.copy(os.path.join(REPO, 'tools', 'pick_python.py'), repo / 'tools')
    make = ['make', '-s', '-C', str(repo), f'SYSTEM_PYTHON={python}']
    # no active venv, and none of the variables of a `make test` that runs this
    ignored = ('VIRTUAL_ENV', 'PYTHON', 'PIP_BREAK_SYSTEM_PACKAGES', 'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')
    outside = {k: v for k, v in os.environ.items() if k not in ignored}
    venv_python = str(repo / '.venv' / 'bin' / 'python')

    def make_run(*args, env=outside) -> str:
        result = subprocess.run(make + list(args), env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    assert make_run('print-python', env={**outside, 'VIRTUAL_ENV': sys.prefix}) == python  # an active venv: as before
    assert make_run('print-python', 'PYTHON=python3.11') == 'python3.11'
    assert make_run('print-python') == venv_python
    assert 'using' in make_run('venv') and os.access(venv_python, os.X_OK)
    prefix = subprocess.run([venv_python, '-c', 'import sys; print(sys.prefix != sys.base_prefix, sys.prefix)'],
                            capture_output=True, text=True).stdout.split()
    assert prefix == ['True', str(repo / '.venv')]
    assert make_run('venv') == '' and make_run('print-python') == venv_python  # made once, then used


def test_pick_python_reads_the_running_interpreter(tmp_path):
    found = PICK.facts(str(tmp_path / '.venv'), environ={})
    assert found['in_venv'] == (sys.prefix != sys.base_prefix)
    assert found['managed'] == os.path.isfile(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED'))
    assert found['has_pip'] and not found['venv_exists'] and not found['break_system_packages']
