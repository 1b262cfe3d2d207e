"""Shared fixtures: tiny image folders and option dicts."""
from __future__ import annotations

import os.path as osp

import cv2
import numpy as np
import pytest
import torch

import wne_basicsr  # noqa: F401  (compat before basicsr)
import wne_basicsr.models  # noqa: F401  (registers DenoisingModel and SamplerModel)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


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
