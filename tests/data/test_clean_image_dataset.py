"""CleanImageDataset: whole clean images or their central square."""
import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataset


def options(root, **extra) -> dict:
    return {'name': 'clean', 'type': 'CleanImageDataset', 'phase': 'test', 'dataroot_gt': root, **extra}


def test_whole_images_by_default(gray_folder):
    dataset = build_dataset(options(gray_folder, max_images=3))
    assert len(dataset) == 3
    sample = dataset[1]
    assert sample['gt'].shape == (1, 48, 40) and sample['index'] == 1


def test_center_crop_is_the_central_square(gray_folder):
    whole = build_dataset(options(gray_folder))[2]['gt']
    crop = build_dataset(options(gray_folder, center_crop=16))[2]['gt']
    assert crop.shape == (1, 16, 16)
    assert torch.equal(crop, whole[:, 16:32, 12:28])


def test_center_crop_larger_than_the_image_names_the_file(gray_folder):
    dataset = build_dataset(options(gray_folder, center_crop=44))
    with pytest.raises(ValueError, match=r'\.png is 48×40, smaller than center_crop 44'):
        dataset[0]


@pytest.mark.parametrize('bad', [0, -3, 2.5, True, '16'])
def test_center_crop_must_be_a_positive_integer(gray_folder, bad):
    with pytest.raises(ValueError, match='center_crop must be a positive integer'):
        build_dataset(options(gray_folder, center_crop=bad))
