"""Model-free Δ analysis (docs/method.md §7): Δ = ‖y − x‖/s_y of training-style patches per σ, and the coverage table.

    python scripts/delta_histogram.py                                   # Train400, 20,000 patches per σ
    python scripts/delta_histogram.py -opt options/test/analysis/delta_histogram_paper.yml

Writes <output_dir>/coverage.csv (paper Table 3: m(σ_test; σ_train) and the [q2.5, q97.5] Δ window per σ_train),
delta_histogram.csv (bin counts per σ) and delta_histogram.{png,pdf} (histograms, KDEs and a line at √d).
"""
import argparse
import os.path as osp

import numpy as np

import wne_basicsr  # noqa: F401  (compat patches + registration, before anything from basicsr)
from wne_basicsr.data.noise import seeded_generator, unit_noise
from wne_basicsr.evaluation.analysis import (
    coverage_table,
    delta,
    delta_windows,
    draw_patches,
    patch_pool_from_options,
)
from wne_basicsr.evaluation.options import add_patch_flags, options_from_flags
from wne_basicsr.evaluation.plots import delta_histogram_figure, save_figure
from wne_basicsr.utils.csv_io import write_csv

DEFAULTS = {'dataroot_gt': ['datasets/Train400'], 'color': 'gray', 'patch_size': 70, 'sigmas': [10, 20, 30, 40, 50],
            'num_samples': 20000, 'per_image': 16, 'max_images': None, 'noise': 'gaussian', 'seed': 0,
            'batch_size': 4096, 'bins': 40, 'output_dir': 'results/analysis/delta_histogram'}


def parse_args(argv: list[str] | None = None) -> dict:
    """Defaults, then the options file, then the flags given."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_patch_flags(parser)
    parser.add_argument('--num-samples', type=int, help='patches per σ (paper: 384000; default 20000)')
    parser.add_argument('--per-image', type=int, help='random crops kept per image in the patch pool (default 16)')
    parser.add_argument('--max-images', type=int, help='use this many random images of the folders')
    return options_from_flags(parser, DEFAULTS, argv)[0]


def sample_deltas(opt: dict) -> dict[float, np.ndarray]:
    """Δ samples per σ, from a seeded patch pool with seeded patch and noise draws."""
    pool = patch_pool_from_options(opt, 'delta_histogram')
    deltas = {}
    for sigma in (float(s) for s in opt['sigmas']):
        generator = seeded_generator(opt['seed'], 'delta', f'{sigma:.6f}')
        chunks, remaining = [], int(opt['num_samples'])
        while remaining > 0:
            clean = draw_patches(pool, min(remaining, int(opt['batch_size'])), generator)
            noisy = clean + sigma / 255.0 * unit_noise(opt['noise'], clean.shape, generator)
            chunks.append(delta(clean, noisy).numpy())
            remaining -= clean.shape[0]
        deltas[sigma] = np.concatenate(chunks)
    return deltas


def write_outputs(deltas: dict[float, np.ndarray], opt: dict) -> str:
    """Coverage table, histogram counts and the figure; returns the coverage CSV path."""
    folder = opt['output_dir']
    dimension = int(opt['patch_size']) ** 2 * (1 if opt['color'] == 'gray' else 3)
    order = sorted(deltas, reverse=True)
    coverage, windows = coverage_table(deltas), delta_windows(deltas)
    coverage_path = osp.join(folder, 'coverage.csv')
    columns = ['sigma_train', *(f'm_sigma_test_{s:g}' for s in order), 'q2.5', 'q97.5']
    write_csv([dict(zip(columns, (f'{train:g}', *(coverage[train][test] for test in order), *windows[train])))
               for train in order], coverage_path, columns)
    top = 1.05 * dimension ** 0.5
    histogram = []
    for sigma in order:
        counts, edges = np.histogram(deltas[sigma], bins=int(opt['bins']), range=(0, top))
        histogram += [{'sigma_8bit': f'{sigma:g}', 'bin_lo': lo, 'bin_hi': hi, 'count': n}
                      for lo, hi, n in zip(edges[:-1], edges[1:], counts)]
    write_csv(histogram, osp.join(folder, 'delta_histogram.csv'), ['sigma_8bit', 'bin_lo', 'bin_hi', 'count'])
    save_figure(delta_histogram_figure({s: deltas[s] for s in sorted(deltas)}, dimension, int(opt['bins'])),
                osp.join(folder, 'delta_histogram'))
    print('coverage m(σ_test; σ_train), rows σ_train, columns σ_test ' + ' '.join(f'{s:g}' for s in order))
    for train in order:
        cells = ' '.join(f'{coverage[train][test]:.3f}' for test in order)
        print(f'  {train:>5g}: {cells}   window [{windows[train][0]:.2f}, {windows[train][1]:.2f}]')
    return coverage_path


def main(argv: list[str] | None = None) -> None:
    """Sample Δ per σ and write the coverage table, histogram counts and plots."""
    opt = parse_args(argv)
    path = write_outputs(sample_deltas(opt), opt)
    print(f'→ {path} and {osp.join(opt["output_dir"], "delta_histogram")}.png / .pdf')


if __name__ == '__main__':
    main()
