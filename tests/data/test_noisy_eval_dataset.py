"""NoisyEvalDataset: whole images, the same noisy copy for every run and model."""
import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataset


def options(root, sigma=25, **extra) -> dict:
    return {'name': 'val', 'type': 'NoisyEvalDataset', 'phase': 'val', 'dataroot_gt': root,
            'noise': {'type': 'gaussian', 'sigma': sigma}, **extra}


def test_whole_images_and_deterministic_noise(gray_folder):
    a, b = build_dataset(options(gray_folder)), build_dataset(options(gray_folder))
    sample = a[2]
    assert sample['gt'].shape == sample['lq'].shape == (1, 48, 40)
    assert torch.equal(sample['lq'], b[2]['lq'])
    assert sample['sigma'].item() == 25
    assert not torch.equal(sample['lq'], build_dataset(options(gray_folder, seed=3))[2]['lq'])
    assert not torch.equal(sample['lq'] - sample['gt'], a[1]['lq'] - a[1]['gt'])


def test_noise_level(gray_folder):
    sample = build_dataset(options(gray_folder, sigma=50))[0]
    assert (sample['lq'] - sample['gt']).std().item() * 255 == pytest.approx(50, rel=0.1)


def test_needs_a_fixed_sigma(gray_folder):
    with pytest.raises(ValueError, match='fixed "sigma"'):
        build_dataset(options(gray_folder) | {'noise': {'sigma_range': [0, 50]}})
