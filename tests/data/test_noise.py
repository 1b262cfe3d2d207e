"""Noise families, σ options and seeded generators."""
import hashlib
import math

import pytest
import torch

from wne_basicsr.data.noise import NOISE_MEANS, NOISE_TYPES, NoiseSpec, eval_noisy, seeded_generator, unit_noise


@pytest.mark.parametrize('noise_type', NOISE_TYPES)
def test_unit_noise_has_unit_std_and_documented_mean(noise_type):
    eps = unit_noise(noise_type, (1_000_000,), torch.Generator().manual_seed(0)).double()
    assert abs(eps.std().item() - 1) < 0.02
    assert abs(eps.mean().item() - NOISE_MEANS[noise_type]) < 0.01
    assert torch.isfinite(eps).all()


def test_rayleigh_is_not_recentred():
    assert NOISE_MEANS['rayleigh'] == pytest.approx(1.9131, abs=1e-4)


def test_fixed_sigma_and_range():
    gen = torch.Generator().manual_seed(0)
    assert NoiseSpec.from_opt({'sigma': 25}).sample_sigma(3, gen).tolist() == [25.0] * 3
    sigmas = NoiseSpec.from_opt({'type': 'gaussian', 'sigma_range': [0, 55]}).sample_sigma(1000, gen)
    assert 0 <= sigmas.min() and sigmas.max() <= 55 and sigmas.std() > 10


def test_noise_is_added_in_8bit_units_without_clipping():
    spec = NoiseSpec.from_opt({'type': 'gaussian', 'sigma': 50})
    clean = torch.zeros(1, 256, 256)
    noisy = spec.add(clean, 50.0, torch.Generator().manual_seed(1))
    assert noisy.std().item() * 255 == pytest.approx(50, rel=0.02)
    assert noisy.min() < 0


@pytest.mark.parametrize('opt, message', [
    ({'type': 'poisson', 'sigma': 5}, 'unknown noise type'),
    ({'sigma': -1}, 'sigma must be >= 0'),
    ({'sigma_range': [30, 10]}, 'lo <= hi'),
    ({'sigma_range': [10]}, r'\[lo, hi\]'),
    ({'type': 'gaussian'}, 'exactly one'),
    ({'sigma': 5, 'sigma_range': [1, 2]}, 'exactly one'),
    ({'sigma': 'high'}, 'must be a number'),
    ({'sigma': 5, 'level': 3}, 'unknown keys'),
    (None, 'expected a dict'),
])
def test_bad_noise_options_are_named(opt, message):
    with pytest.raises(ValueError, match=message):
        NoiseSpec.from_opt(opt, 'datasets.train.noise')


def test_eval_noise_depends_only_on_seed_stem_sigma_draw():
    clean = torch.rand(1, 8, 8)
    a = eval_noisy(clean, 'gaussian', 25, 'img01')
    assert torch.equal(a, eval_noisy(clean, 'gaussian', 25, 'img01'))
    for other in (eval_noisy(clean, 'gaussian', 25, 'img02'), eval_noisy(clean, 'gaussian', 25.5, 'img01'),
                  eval_noisy(clean, 'gaussian', 25, 'img01', seed=1), eval_noisy(clean, 'gaussian', 25, 'img01',
                                                                                   draw=1)):
        assert not torch.equal(a, other)


def test_seeded_generator_is_stable():
    assert torch.rand(1, generator=seeded_generator(0, 'x')).item() == torch.rand(
        1, generator=seeded_generator(0, 'x')).item()
    assert math.isfinite(torch.randn(1, generator=seeded_generator('a', 1.5)).item())


def test_seeded_generator_has_fixed_values():
    """The seed is 63 bits of SHA-256 of 'part|part|…' (written out here), and the draws are pinned."""
    expected_seed = int.from_bytes(hashlib.sha256(b'0|x').digest()[:8], 'big') >> 1
    generator = seeded_generator(0, 'x')
    assert generator.initial_seed() == expected_seed == 4004984686997187943
    assert torch.rand(3, generator=generator).tolist() == pytest.approx([0.6213382, 0.8789065, 0.0610495], abs=1e-7)


def test_eval_noisy_has_fixed_values():
    """Copy k of image stem s at σ: seeded by '{seed}|{stem}|{σ:.6f}|{k}', σ/255 times unit noise, never clipped."""
    noisy = eval_noisy(torch.zeros(1, 2, 3), 'gaussian', 25, '01', seed=0, draw=0)
    assert (noisy * 255 / 25).flatten().tolist() == pytest.approx(
        [3.0734198, -1.3089315, 0.5603962, 0.9336709, 0.1362505, -0.4121916], abs=1e-6)
    shifted = eval_noisy(torch.full((1, 1, 2), 0.5), 'uniform', 10, 'img', seed=3, draw=1)
    assert shifted.flatten().tolist() == pytest.approx([0.4868606, 0.5305142], abs=1e-7)
