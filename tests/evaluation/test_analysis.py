"""Normalized-coordinate analysis (docs/method.md §7): Δ, Q, coverage, collapse score, patch sampling, the scripts."""
import wne_basicsr  # noqa: F401

# isort: split
import csv
import math

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network

from wne_basicsr.cli import delta_histogram, normalized_residual
from wne_basicsr.data.image_io import ImageSource
from wne_basicsr.evaluation.analysis import (
    binned_q,
    build_patch_pool,
    collapse_score,
    coverage_table,
    delta,
    draw_patches,
    noisy_stats,
    q_score,
)


def _pair(sigma: float = 25.0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(6, 1, 12, 12, generator=generator)
    return clean, clean + sigma / 255 * torch.randn(clean.shape, generator=generator)


def test_delta_is_noise_norm_over_noisy_std_and_affine_invariant():
    clean, noisy = _pair()
    expected = (noisy - clean).flatten(1).norm(dim=1).double() / noisy.flatten(1).double().std(dim=1)
    assert torch.allclose(delta(clean, noisy), expected)
    assert torch.allclose(delta(1.7 * clean + 0.3, 1.7 * noisy + 0.3), expected, rtol=1e-5)
    assert float(delta(clean, noisy).max()) <= math.sqrt(clean[0].numel())


def test_q_score_satisfies_the_psnr_identity():
    clean, noisy = _pair()
    output = clean + 0.01 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    _, std = noisy_stats(noisy)
    psnr = -10 * torch.log10((output.double() - clean.double()).flatten(1).square().mean(dim=1))
    identity = 10 * math.log10(clean[0].numel()) + q_score(output, clean, noisy) - 20 * torch.log10(std.flatten())
    assert torch.allclose(psnr, identity)
    assert torch.allclose(q_score(noisy, clean, noisy), -20 * torch.log10(delta(clean, noisy)))  # identity f


def test_coverage_diagonal_and_collapse_score():
    rng = np.random.default_rng(0)
    deltas = {10.0: rng.normal(10, 2, 4000), 50.0: rng.normal(40, 5, 4000)}
    table = coverage_table(deltas)
    assert table[10.0][10.0] == pytest.approx(0.95, abs=2e-3) and table[10.0][50.0] < 0.01
    curve = np.linspace(-20, -40, 40)
    assert collapse_score([curve, curve]) == 0
    assert collapse_score([curve, curve + 3]) > collapse_score([curve, curve + 1]) > 0
    stats = binned_q(np.array([1.0, 1.5, 50.0]), np.array([2.0, 4.0, 7.0]), bins=40, value_range=(0, 100))
    assert stats['count'][0] == 2 and stats['mean'][0] == 3 and stats['std'][0] == 1 and np.isnan(stats['mean'][1])


def test_collapse_score_by_hand():
    """Bins (columns) with ≥ 2 σ: {0, 2} and {4, 8, 6}; population variances 1 and 8/3, mean 11/6; the bin means 1
    and 6 have variance 6.25; VR = (11/6)/6.25. The third bin holds one σ only and is left out."""
    nan = float('nan')
    means = [np.array([0.0, 4.0, nan]), np.array([2.0, 8.0, 5.0]), np.array([nan, 6.0, nan])]
    assert collapse_score(means) == pytest.approx(11 / 6 / 6.25, rel=1e-12)
    assert math.isnan(collapse_score([np.array([1.0, nan]), np.array([2.0, nan])]))  # one usable bin


def _folder(tmp_path) -> str:
    folder = tmp_path / 'train'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f'{i}.png'), rng.integers(0, 256, (24, 30), dtype=np.uint8))
    return str(folder)


def test_patch_pool_and_draws(tmp_path):
    source = ImageSource(_folder(tmp_path), None, 'test')
    pool = build_patch_pool(source, 'gray', 16, 4, torch.Generator().manual_seed(0))
    assert pool.shape == (3, 4, 1, 16, 16) and pool.dtype == torch.uint8
    patches = draw_patches(pool, 50, torch.Generator().manual_seed(0))
    assert patches.shape == (50, 1, 16, 16) and 0 <= float(patches.min()) and float(patches.max()) <= 1
    assert torch.equal(patches, draw_patches(pool, 50, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match='smaller than the patch size'):
        build_patch_pool(source, 'gray', 25, 1, torch.Generator().manual_seed(0))


def test_scripts_write_tables_and_plots(tmp_path):
    folder = _folder(tmp_path)
    delta_histogram.main(['--dataroot-gt', folder, '--patch-size', '16', '--num-samples',
                                                    '300', '--sigmas', '10', '50', '--output-dir',
                                                    str(tmp_path / 'dh')])
    with open(tmp_path / 'dh' / 'coverage.csv', newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['sigma_train', 'm_sigma_test_50', 'm_sigma_test_10', 'q2.5', 'q97.5'] and len(rows) == 3
    with open(tmp_path / 'dh' / 'delta_histogram.csv', newline='') as f:
        histogram = list(csv.DictReader(f))
    assert list(histogram[0]) == ['sigma_8bit', 'bin_lo', 'bin_hi', 'count'] and histogram[0]['sigma_8bit'] == '50'
    assert sum(int(r['count']) for r in histogram if r['sigma_8bit'] == '10') == 300
    assert (tmp_path / 'dh' / 'delta_histogram.pdf').read_bytes().startswith(b'%PDF')

    network = {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 4, 'num_layers': 3}}
    torch.save({'params': build_network(dict(network)).state_dict()}, tmp_path / 'wne.pth')
    (tmp_path / 'train.yml').write_text(yaml.safe_dump({'network_g': network}))
    normalized_residual.main([
        '--model', 'WNE', str(tmp_path / 'train.yml'), str(tmp_path / 'wne.pth'), '--dataroot-gt', folder,
        '--patch-size', '16', '--batch-size', '8', '--num-batches', '1', '--device', 'cpu',
        '--output-dir', str(tmp_path / 'nr')])
    out = tmp_path / 'nr' / 'normalized_residual'
    with open(out / 'collapse.csv', newline='') as f:
        assert [r['window'] for r in csv.DictReader(f)] == ['own', 'intersection']
    with open(out / 'patches.csv', newline='') as f:
        assert len(list(csv.DictReader(f))) == 5 * 8
    with open(out / 'binned.csv', newline='') as f:
        binned = list(csv.DictReader(f))
    assert list(binned[0]) == ['model', 'sigma_8bit', 'bin_lo', 'bin_hi', 'count', 'q_mean', 'q_std']
    assert {r['sigma_8bit'] for r in binned} == {'10', '20', '30', '40', '50'} and binned[0]['model'] == 'WNE'
    assert cv2.imread(str(out / 'q_vs_delta.png')) is not None
