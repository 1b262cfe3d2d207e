"""Training streams of DataLoader workers: each worker draws its own noise."""
import wne_basicsr  # noqa: F401

# isort: split
import shutil

import torch
from basicsr.data import build_dataset
from torch.utils.data import DataLoader


def test_two_workers_draw_independent_noise_on_the_same_image(tmp_path, make_images):
    """Index 0 goes to worker 0 and index 1 to worker 1; both hold the same whole image, unaugmented."""
    (path,) = make_images(tmp_path / 'set', 1, (24, 24))
    shutil.copy(path, tmp_path / 'set' / 'same.png')
    dataset = build_dataset({'name': 'train', 'type': 'NoisyImageDataset', 'phase': 'train',
                             'dataroot_gt': str(tmp_path / 'set'), 'gt_size': 24, 'use_hflip': False,
                             'use_rot': False, 'noise': {'type': 'gaussian', 'sigma': 25}, 'seed': 0})
    first, second = DataLoader(dataset, batch_size=1, num_workers=2)
    assert torch.equal(first['gt'], second['gt'])
    noise = torch.stack([(first['lq'] - first['gt']).flatten(), (second['lq'] - second['gt']).flatten()])
    assert abs(float(torch.corrcoef(noise)[0, 1])) < 0.2  # one stream for both workers would give 1
