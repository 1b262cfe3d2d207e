"""scripts/prepare_sidd.py: SIDD pairs cut into blocks (last block flush with the edge), .mat validation, LMDB."""

import cv2
import numpy as np
import pytest
import scipy.io

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataset

import wne_basicsr.cli.prepare_sidd as SCRIPT


def fake_sidd(root, scenes: dict) -> dict:
    """Scene folders of ``<id>_GT_SRGB_<n>.PNG`` / ``<id>_NOISY_SRGB_<n>.PNG`` pairs; returns stem → (noisy, clean)."""
    rng = np.random.default_rng(0)
    images = {}
    for scene, (stem, size) in scenes.items():
        (root / scene).mkdir(parents=True)
        clean = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        noisy = np.clip(clean.astype(int) + rng.integers(-20, 21, clean.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(root / scene / f'{stem.replace("X", "GT_SRGB")}.PNG'), clean)
        cv2.imwrite(str(root / scene / f'{stem.replace("X", "NOISY_SRGB")}.PNG'), noisy)
        images[stem.replace('X', 'SRGB')] = noisy, clean
    return images


def test_block_offsets_cover_the_image_with_a_flush_last_block():
    assert SCRIPT.block_starts(40, 16, 12) == [0, 12, 24]
    assert SCRIPT.block_starts(56, 16, 12) == [0, 12, 24, 36, 40]
    assert SCRIPT.block_starts(3000, 512, 384) == [0, 384, 768, 1152, 1536, 1920, 2304, 2488]
    assert SCRIPT.block_starts(10, 16, 12) == []


def test_pairs_are_cut_into_matching_blocks(tmp_path):
    images = fake_sidd(tmp_path / 'Data', {'0001_001_S6_00100_00060_3200_L': ('0001_X_010', (40, 56)),
                                           '0002_001_S6_00100_00060_3200_N': ('0002_X_011', (16, 16))})
    SCRIPT.main(['--input', str(tmp_path / 'Data'), '--output', str(tmp_path / 'out'), '--block', '16',
                        '--stride', '12'])
    noisy_names = sorted(p.name for p in (tmp_path / 'out' / 'noisy').iterdir())
    assert noisy_names == sorted(p.name for p in (tmp_path / 'out' / 'clean').iterdir())
    assert len(noisy_names) == 3 * 5 + 1 and noisy_names[0] == '0001_SRGB_010_s001.png'
    noisy, clean = images['0001_SRGB_010']
    block = cv2.imread(str(tmp_path / 'out' / 'clean' / '0001_SRGB_010_s010.png'))  # row 1, column 4: flush right
    assert np.array_equal(block, clean[12:28, 40:56])
    assert np.array_equal(cv2.imread(str(tmp_path / 'out' / 'noisy' / '0001_SRGB_010_s010.png')), noisy[12:28, 40:56])
    with pytest.raises(SystemExit, match='already exists; pass --force'):
        SCRIPT.main(['--input', str(tmp_path / 'Data'), '--output', str(tmp_path / 'out'), '--block', '16'])


def test_lmdb_output_feeds_the_paired_dataset(tmp_path):
    fake_sidd(tmp_path / 'Data', {'s1': ('0001_X_010', (40, 40))})
    SCRIPT.main(['--input', str(tmp_path / 'Data'), '--output', str(tmp_path / 'out'), '--block', '32',
                        '--stride', '24', '--lmdb'])
    ds = build_dataset({'name': 'sidd', 'type': 'PairedNoisyDataset', 'phase': 'train', 'gt_size': 16, 'seed': 0,
                        'dataroot_lq': str(tmp_path / 'out' / 'noisy.lmdb'),
                        'dataroot_gt': str(tmp_path / 'out' / 'clean.lmdb'), 'io_backend': {'type': 'lmdb'}})
    assert len(ds) == 4 and ds[3]['lq'].shape == ds[3]['gt'].shape == (3, 16, 16)


def test_missing_twin_and_small_images_are_named(tmp_path):
    fake_sidd(tmp_path / 'Data', {'s1': ('0001_X_010', (20, 20))})
    with pytest.raises(SystemExit, match=r'0001_GT_SRGB_010\.PNG is 20×20, smaller than --block 32'):
        SCRIPT.main(['--input', str(tmp_path / 'Data'), '--output', str(tmp_path / 'out'), '--block', '32'])
    (tmp_path / 'Data' / 's1' / '0001_NOISY_SRGB_010.PNG').unlink()
    with pytest.raises(SystemExit, match='noisy twin .*0001_NOISY_SRGB_010.PNG is missing'):
        SCRIPT.main(['--input', str(tmp_path / 'Data'), '--output', str(tmp_path / 'out')])
    assert not (tmp_path / 'out' / 'noisy').exists()


def test_validation_mat_blocks(tmp_path):
    rng = np.random.default_rng(1)
    noisy, clean = (rng.integers(0, 256, (2, 3, 8, 8, 3), dtype=np.uint8) for _ in range(2))
    scipy.io.savemat(tmp_path / 'noisy.mat', {'ValidationNoisyBlocksSrgb': noisy})
    scipy.io.savemat(tmp_path / 'gt.mat', {'ValidationGtBlocksSrgb': clean})
    SCRIPT.main(['--val-mat', str(tmp_path / 'noisy.mat'), str(tmp_path / 'gt.mat'),
                        '--output', str(tmp_path / 'val')])
    assert len(list((tmp_path / 'val' / 'clean').iterdir())) == 6
    rgb = cv2.imread(str(tmp_path / 'val' / 'noisy' / '01_02.png'))[..., ::-1]
    assert np.array_equal(rgb, noisy[1, 2])
