"""Shared fixtures: tiny image folders and option dicts."""
from __future__ import annotations

import os
import os.path as osp
import shutil
import tempfile

import cv2
import numpy as np
import pytest
import torch

import wne_basicsr  # noqa: F401  (compat before basicsr)
import wne_basicsr.models  # noqa: F401  (registers DenoisingModel and SamplerModel)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
INDUCTOR_CACHE = 'TORCHINDUCTOR_CACHE_DIR'


def pytest_configure(config) -> None:
    """torch.compile's kernels (of this process and its subprocesses) and its precompiled headers go to a folder
    deleted after the session, not to the shared cache in the system temp folder (importing torch already put that
    folder in the environment, and the header folder is fixed when torch's code cache is imported)."""
    import torch._inductor.codecache as codecache

    config.inductor_cache = (os.environ.get(INDUCTOR_CACHE), tempfile.mkdtemp(prefix='wne-test-inductor-'))
    os.environ[INDUCTOR_CACHE] = config.inductor_cache[1]
    codecache._HEADER_DIR = osp.join(config.inductor_cache[1], 'precompiled_headers')


def pytest_unconfigure(config) -> None:
    previous, folder = config.inductor_cache
    shutil.rmtree(folder, ignore_errors=True)
    if previous is None:
        del os.environ[INDUCTOR_CACHE]
    else:
        os.environ[INDUCTOR_CACHE] = previous


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread per test: the tensors are small, and on a busy CPU a second OpenMP thread mostly waits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_images(folder, count: int, size: tuple[int, int], channels: int = 1, seed: int = 0) -> list[str]:
    """Write ``count`` smooth random 8-bit PNGs of ``size`` (H, W) into ``folder``; return their paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        shape = size if channels == 1 else (*size, channels)
        img = cv2.GaussianBlur(rng.uniform(0, 255, shape).astype(np.float32), (5, 5), 1.5)
        path = str(folder / f'img{i:03d}.png')
        cv2.imwrite(path, np.clip(img, 0, 255).astype(np.uint8))
        paths.append(path)
    return paths


@pytest.fixture
def gray_folder(tmp_path):
    """A folder of four 48×40 gray PNGs."""
    write_images(tmp_path / 'gray', 4, (48, 40))
    return str(tmp_path / 'gray')


@pytest.fixture
def rgb_folder(tmp_path):
    """A folder of three 36×44 colour PNGs."""
    write_images(tmp_path / 'rgb', 3, (36, 44), channels=3)
    return str(tmp_path / 'rgb')


@pytest.fixture
def make_images():
    """The ``write_images`` helper, for tests that need their own image folders."""
    return write_images


def write_tb_run(folder, loss, psnr10, psnr50) -> str:
    """A tensorboard run as BasicSR writes it: the loss at iterations 10…40, validation at 20 and 40 on two sets."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(folder)) as writer:
        for step, value in zip((10, 20, 30, 40), loss):
            writer.add_scalar('losses/l_pix', value, step)
        for step, a, b in zip((20, 40), psnr10, psnr50):
            writer.add_scalar('metrics/Set12_sigma10/psnr_float', a, step)
            writer.add_scalar('metrics/Set12_sigma100/psnr_float', b - 5, step)
            writer.add_scalar('metrics/Set12_sigma50/psnr_float', b, step)
            writer.add_scalar('metrics/Set12_sigma10/psnr', a - 0.01, step)
    return str(folder)


@pytest.fixture
def tb_runs(tmp_path):
    """Tensorboard folders of two runs: a baseline and a WNE one."""
    return (write_tb_run(tmp_path / 'base', (4e-3, 2e-3, 1e-3, 9e-4), (30.5, 31.25), (17.0, 18.0)),
            write_tb_run(tmp_path / 'wne', (3e-3, 1e-3, 8e-4, 7e-4), (31.0, 32.5), (19.0, 25.125)))
