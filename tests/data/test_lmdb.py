"""LMDBs from scripts/create_lmdb.py: the datasets read exactly what they read from the folders; BasicSR reads them."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataset
from basicsr.utils import FileClient, imfrombytes

from wne_basicsr.cli.create_lmdb import create_lmdb


def train_options(root, backend='disk', **extra) -> dict:
    return {'name': 'train', 'type': 'NoisyImageDataset', 'phase': 'train', 'dataroot_gt': root,
            'io_backend': {'type': backend}, 'gt_size': 16, 'seed': 0,
            'noise': {'type': 'laplace', 'sigma_range': [5, 50]}, **extra}


def eval_options(root, backend='disk', **extra) -> dict:
    return {'name': 'val', 'type': 'NoisyEvalDataset', 'phase': 'val', 'dataroot_gt': root,
            'io_backend': {'type': backend}, 'noise': {'type': 'gaussian', 'sigma': 25}, **extra}


def assert_same_samples(a, b, visits: int) -> None:
    assert len(a) == len(b)
    for i in range(visits):
        x, y = a[i % len(a)], b[i % len(b)]
        assert torch.equal(x['lq'], y['lq']) and torch.equal(x['gt'], y['gt'])
        assert osp.basename(x['lq_path']).split('.')[0] == osp.basename(y['lq_path']).split('.')[0]


@pytest.mark.parametrize('objective', ['supervised', 'n2n'])
def test_both_datasets_read_the_same_tensors_from_lmdb_as_from_disk(tmp_path, gray_folder, objective):
    lmdb = str(tmp_path / 'gray.lmdb')
    assert create_lmdb([gray_folder], lmdb) == 4
    assert_same_samples(build_dataset(train_options(gray_folder, objective=objective)),
                        build_dataset(train_options(lmdb, 'lmdb', objective=objective)), 10)
    assert_same_samples(build_dataset(eval_options(gray_folder)), build_dataset(eval_options(lmdb, 'lmdb')), 4)


def test_colour_lmdb_converted_to_gray_matches_reading_colour_files_as_gray(tmp_path, rgb_folder):
    lmdb = str(tmp_path / 'rgb.lmdb')
    create_lmdb([rgb_folder], str(tmp_path / 'as_is.lmdb'))
    create_lmdb([rgb_folder], lmdb, color='gray')
    assert '(36,44,1)' in (tmp_path / 'rgb.lmdb' / 'meta_info.txt').read_text()
    assert_same_samples(build_dataset(train_options(rgb_folder)), build_dataset(train_options(lmdb, 'lmdb')), 6)
    assert_same_samples(build_dataset(train_options(rgb_folder, color='rgb')),
                        build_dataset(train_options(str(tmp_path / 'as_is.lmdb'), 'lmdb', color='rgb')), 6)


def test_several_roots_and_several_inputs_in_one_lmdb(tmp_path, make_images):
    a, b = tmp_path / 'setA', tmp_path / 'setB'
    make_images(a, 2, (20, 24))
    make_images(b / 'nested', 3, (18, 18), seed=5)  # same file names as setA, one level deeper
    disk = [str(a), str(b)]
    assert len(build_dataset(train_options(disk))) == 5
    separate = [str(tmp_path / 'a.lmdb'), str(tmp_path / 'b.lmdb')]
    create_lmdb([str(a)], separate[0])
    create_lmdb([str(b)], separate[1])
    assert_same_samples(build_dataset(train_options(disk)), build_dataset(train_options(separate, 'lmdb')), 10)
    merged = str(tmp_path / 'ab.lmdb')
    create_lmdb([str(a), str(b)], merged)
    keys = [line.split()[0] for line in (tmp_path / 'ab.lmdb' / 'meta_info.txt').read_text().splitlines()]
    assert keys[0] == 'setA/img000.png' and keys[-1] == 'setB/nested/img002.png'
    assert_same_samples(build_dataset(train_options(disk)), build_dataset(train_options(merged, 'lmdb')), 10)
    assert_same_samples(build_dataset(eval_options(disk)), build_dataset(eval_options(merged, 'lmdb')), 5)


def test_basicsr_file_client_and_imfrombytes_read_it(tmp_path, gray_folder):
    lmdb = str(tmp_path / 'gray.lmdb')
    create_lmdb([gray_folder], lmdb)
    client = FileClient('lmdb', db_paths=[lmdb], client_keys=['gt'])
    img = imfrombytes(client.get('img002', 'gt'), flag='unchanged')
    assert np.array_equal(img, cv2.imread(osp.join(gray_folder, 'img002.png'), cv2.IMREAD_UNCHANGED))


def test_lmdb_without_meta_info_is_refused(tmp_path, gray_folder):
    lmdb = tmp_path / 'gray.lmdb'
    create_lmdb([gray_folder], str(lmdb))
    (lmdb / 'meta_info.txt').unlink()
    with pytest.raises(ValueError, match='no meta_info.txt'):
        build_dataset(train_options(str(lmdb), 'lmdb'))
