"""JPEG as an evaluation degradation: bit-identical to OpenCV's libjpeg on the uint8 image, evaluation sets only."""
import cv2
import numpy as np
import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataset

from wne_basicsr.data.degradations import degraded_copy, jpeg_degrade, level_column
from wne_basicsr.data.noise import NoiseSpec, eval_noisy


def smooth(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(cv2.GaussianBlur(rng.uniform(0, 1, shape[1:]).astype(np.float32), (5, 5), 1.5)
                            .reshape(shape[1], shape[2], -1).transpose(2, 0, 1).copy())


@pytest.mark.parametrize('quality', [5, 50, 85])
def test_gray_jpeg_is_opencv_on_the_rounded_image(quality):
    clean = smooth((1, 37, 45))
    uint8 = (clean[0].numpy() * 255).round().astype(np.uint8)
    expected = cv2.imdecode(cv2.imencode('.jpg', uint8, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_UNCHANGED)
    out = jpeg_degrade(clean, quality)
    assert out.shape == clean.shape and out.dtype == torch.float32
    assert torch.equal((out[0] * 255).round().to(torch.uint8), torch.from_numpy(expected))
    assert torch.equal(out, torch.from_numpy(expected)[None].float() / 255)


def test_colour_jpeg_goes_through_opencv_in_bgr_order():
    clean = torch.stack([smooth((1, 24, 32), seed)[0] for seed in range(3)])
    bgr = np.ascontiguousarray((clean.numpy().transpose(1, 2, 0)[..., ::-1] * 255).round().astype(np.uint8))
    decoded = cv2.imdecode(cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 30])[1], cv2.IMREAD_COLOR)
    expected = torch.from_numpy(decoded[..., ::-1].transpose(2, 0, 1).copy()).float() / 255
    assert torch.equal(jpeg_degrade(clean, 30), expected)


def test_degraded_copy_is_noise_or_jpeg():
    clean = smooth((1, 16, 16))
    assert torch.equal(degraded_copy(clean, 'gaussian', 25, 'a', 0, 1), eval_noisy(clean, 'gaussian', 25, 'a', 0, 1))
    assert torch.equal(degraded_copy(clean, 'jpeg', 40, 'a', 0, 1), jpeg_degrade(clean, 40))


@pytest.mark.parametrize('opt, message', [
    ({'type': 'jpeg'}, r'noise.quality must be a JPEG quality, an integer in \[1, 100\], got None'),
    ({'type': 'jpeg', 'quality': 101}, 'integer in'),
    ({'type': 'jpeg', 'quality': 50, 'sigma': 5}, 'jpeg takes only a quality'),
    ({'type': 'gaussian', 'sigma': 5, 'quality': 50}, 'quality applies to type jpeg only'),
])
def test_bad_jpeg_options_are_named(opt, message):
    with pytest.raises(ValueError, match=message):
        NoiseSpec.from_opt(opt)


def test_evaluation_sets_take_jpeg_and_training_sets_refuse_it(gray_folder):
    val = build_dataset({'name': 'v', 'type': 'NoisyEvalDataset', 'phase': 'val', 'dataroot_gt': gray_folder,
                         'noise': {'type': 'jpeg', 'quality': 20}})
    item = val[0]
    assert torch.equal(item['lq'], jpeg_degrade(item['gt'], 20)) and float(item['sigma']) == 20
    with pytest.raises(ValueError, match='dataset t: noise type jpeg is an evaluation-only degradation'):
        build_dataset({'name': 't', 'type': 'NoisyImageDataset', 'phase': 'train', 'dataroot_gt': gray_folder,
                       'gt_size': 16, 'noise': {'type': 'jpeg', 'quality': 20}})


def test_level_column_is_quality_for_jpeg_and_sigma_otherwise():
    assert level_column('jpeg') == 'quality'
    assert {level_column(n) for n in ('gaussian', 'uniform', 'poisson')} == {'sigma_8bit'}
