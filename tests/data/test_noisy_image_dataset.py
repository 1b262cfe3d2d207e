"""NoisyImageDataset: shapes, σ, augmentation, seeding, objectives and clear errors."""
import cv2
import numpy as np
import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataset


def options(root, **extra) -> dict:
    opt = {'name': 'train', 'type': 'NoisyImageDataset', 'phase': 'train', 'dataroot_gt': root,
           'io_backend': {'type': 'disk'}, 'gt_size': 32, 'noise': {'type': 'gaussian', 'sigma': 25}, 'seed': 0}
    opt.update(extra)
    return opt


def test_sample_shapes_dtypes_and_sigma(gray_folder):
    ds = build_dataset(options(gray_folder))
    assert len(ds) == 4
    sample = ds[1]
    assert sample['lq'].shape == sample['gt'].shape == (1, 32, 32)
    assert sample['lq'].dtype == sample['gt'].dtype == torch.float32
    assert sample['lq_path'] == sample['gt_path'] and sample['lq_path'].endswith('img001.png')
    assert 0 <= sample['gt'].min() and sample['gt'].max() <= 1
    samples = [ds[i % 4] for i in range(64)]
    residual = torch.cat([(s['lq'] - s['gt']).flatten() for s in samples])
    assert residual.std().item() * 255 == pytest.approx(25, rel=0.03)


def test_same_seed_same_stream_other_seed_other_stream(gray_folder):
    a, b = build_dataset(options(gray_folder)), build_dataset(options(gray_folder))
    c = build_dataset(options(gray_folder, seed=1))
    first = [a[i]['lq'] for i in range(4)]
    assert all(torch.equal(x, b[i]['lq']) for i, x in enumerate(first))
    assert not torch.equal(first[0], c[0]['lq'])
    assert not torch.equal(first[0], a[0]['lq'])  # fresh noise and crop on every visit


def test_sigma_range_draws_per_sample(gray_folder):
    ds = build_dataset(options(gray_folder, noise={'type': 'gaussian', 'sigma_range': [0, 55]}))
    sigmas = torch.stack([ds[i % 4]['sigma'] for i in range(40)])
    assert sigmas.min() >= 0 and sigmas.max() <= 55 and sigmas.unique().numel() == 40


def test_n2n_target_is_an_independent_draw_with_the_same_sigma(gray_folder):
    ds = build_dataset(options(gray_folder, objective='n2n', gt_size=40))
    sample = ds[0]
    n1, n2 = sample['lq'] - sample['clean'], sample['gt'] - sample['clean']
    assert not torch.equal(n1, n2)
    assert n1.std().item() * 255 == pytest.approx(25, rel=0.1)
    assert n2.std().item() * 255 == pytest.approx(25, rel=0.1)
    assert abs(torch.corrcoef(torch.stack([n1.flatten(), n2.flatten()]))[0, 1]) < 0.1


def test_dihedral_augmentations_cover_all_eight(tmp_path):
    img = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    (tmp_path / 'one').mkdir()
    cv2.imwrite(str(tmp_path / 'one' / 'a.png'), img)
    ds = build_dataset(options(str(tmp_path / 'one'), gt_size=4, noise={'sigma': 0}))
    seen = {tuple(ds[0]['gt'].flatten().tolist()) for _ in range(200)}
    assert len(seen) == 8
    flat = build_dataset(options(str(tmp_path / 'one'), gt_size=4, noise={'sigma': 0}, use_hflip=False,
                                 use_rot=False))
    assert torch.equal(flat[0]['gt'][0] * 255, torch.from_numpy(img).float())


def test_rgb_dataset_gives_three_channels_and_gray_converts(rgb_folder):
    assert build_dataset(options(rgb_folder, color='rgb'))[0]['gt'].shape == (3, 32, 32)
    assert build_dataset(options(rgb_folder, color='gray'))[0]['gt'].shape == (1, 32, 32)


def test_errors_name_the_option_or_file(tmp_path, gray_folder):
    with pytest.raises(ValueError, match='unknown noise type'):
        build_dataset(options(gray_folder, noise={'type': 'speckle', 'sigma': 5}))
    with pytest.raises(ValueError, match='sigma must be >= 0'):
        build_dataset(options(gray_folder, noise={'sigma': -5}))
    with pytest.raises(ValueError, match='dataroot_gt'):
        build_dataset(options(None))
    with pytest.raises(FileNotFoundError, match='nowhere'):
        build_dataset(options(str(tmp_path / 'nowhere')))
    with pytest.raises(ValueError, match='smaller than gt_size=64'):
        build_dataset(options(gray_folder, gt_size=64))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='holds no images'):
        build_dataset(options(str(tmp_path / 'empty')))
    with pytest.raises(ValueError, match='color'):
        build_dataset(options(gray_folder, color='ycbcr'))


def test_corrupt_image_is_named(tmp_path, make_images):
    make_images(tmp_path / 'bad', 2, (40, 40))
    data = (tmp_path / 'bad' / 'img001.png').read_bytes()
    (tmp_path / 'bad' / 'img001.png').write_bytes(data[:60])
    with pytest.raises(ValueError, match='img001.png'):
        ds = build_dataset(options(str(tmp_path / 'bad')))
        ds[1]


@pytest.mark.parametrize('seed', [None, 0])
def test_ranks_epochs_and_resumed_passes_draw_their_own_samples(gray_folder, monkeypatch, seed):
    """With or without `seed`: another rank, another epoch, or a pass resumed mid-epoch draws other patches and noise;
    the same (rank, epoch, start iteration) draws the same ones."""
    torch.manual_seed(0)

    def first(rank: int, epoch: int = 0, iteration: int = 0) -> torch.Tensor:
        monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: True)
        monkeypatch.setattr(torch.distributed, 'get_rank', lambda: rank)
        dataset = build_dataset(options(gray_folder, seed=seed))
        dataset.set_stream(epoch, iteration)
        return dataset[0]['lq']

    reference = first(0)
    assert torch.equal(first(0), reference)
    assert not torch.equal(first(1), reference)
    assert not torch.equal(first(0, epoch=1, iteration=20), reference)
    assert not torch.equal(first(0, epoch=0, iteration=4), reference)  # a resume at iteration 4 does not replay
