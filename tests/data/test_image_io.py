"""Checked decoding through the datasets: 16-bit PNGs converted, transparency refused, corrupt and empty named."""
import cv2
import numpy as np
import pytest

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataset


def eval_options(root, **extra) -> dict:
    return {'name': 'val', 'type': 'NoisyEvalDataset', 'phase': 'val', 'dataroot_gt': root,
            'noise': {'type': 'gaussian', 'sigma': 0}, **extra}


def test_16bit_png_is_scaled_to_unit_range(tmp_path):
    (tmp_path / 'deep').mkdir()
    img = np.array([[0, 257, 32768], [65535, 1000, 2]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / 'deep' / 'a.png'), img)
    gt = build_dataset(eval_options(str(tmp_path / 'deep')))[0]['gt']
    assert gt.shape == (1, 2, 3)
    assert np.allclose(gt[0].numpy(), img / 65535.0, atol=1e-7)
    assert gt[0, 0, 1].item() == pytest.approx(1 / 255)


def test_16bit_colour_png_converts_to_gray_and_rgb(tmp_path):
    (tmp_path / 'deep').mkdir()
    bgr = np.zeros((2, 2, 3), np.uint16)
    bgr[..., 2] = 65535  # pure red
    cv2.imwrite(str(tmp_path / 'deep' / 'red.png'), bgr)
    rgb = build_dataset(eval_options(str(tmp_path / 'deep'), color='rgb'))[0]['gt']
    assert rgb[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    gray = build_dataset(eval_options(str(tmp_path / 'deep')))[0]['gt']
    assert gray.unique().item() == pytest.approx(0.299, abs=1e-4)  # ITU-R 601 luma


def test_rgba_png_opaque_is_kept_and_transparent_is_refused_with_the_reason(tmp_path):
    (tmp_path / 'alpha').mkdir()
    bgra = np.full((4, 4, 4), 200, np.uint8)
    bgra[..., 3] = 255
    cv2.imwrite(str(tmp_path / 'alpha' / 'opaque.png'), bgra)
    assert build_dataset(eval_options(str(tmp_path / 'alpha'), color='rgb'))[0]['gt'].shape == (3, 4, 4)
    bgra[0, 0, 3] = 10
    cv2.imwrite(str(tmp_path / 'alpha' / 'opaque.png'), bgra)
    with pytest.raises(ValueError, match=r'opaque\.png: the image has transparency'):
        build_dataset(eval_options(str(tmp_path / 'alpha')))[0]


def test_corrupt_image_and_empty_folder_are_named(tmp_path, make_images):
    make_images(tmp_path / 'bad', 2, (16, 16))
    data = (tmp_path / 'bad' / 'img001.png').read_bytes()
    (tmp_path / 'bad' / 'img001.png').write_bytes(data[:-40])  # header intact, pixel data truncated
    ds = build_dataset(eval_options(str(tmp_path / 'bad')))
    with pytest.raises(ValueError, match=r'img001\.png: cannot decode'):
        ds[1]
    (tmp_path / 'empty' / 'sub').mkdir(parents=True)
    with pytest.raises(ValueError, match='holds no images'):
        build_dataset(eval_options(str(tmp_path / 'empty')))
