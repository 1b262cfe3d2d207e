"""Normalized-coordinate analysis of trained models (docs/method.md §7): Q against Δ, and the collapse score.

    python scripts/normalized_residual.py -opt options/test/analysis/normalized_residual_quickstart.yml
    python scripts/normalized_residual.py --name mine --num-batches 1 \\
        --model WNE options/train/DnCNN/train_DnCNN_WNE_s25.yml experiments/train_DnCNN_WNE_s25/models/net_g_latest.pth

Training-style patches (P 70, batch 128) at σ ∈ {10, …, 50}, the same patches and noise for every model. Writes
<output_dir>/<name>/patches.csv (Δ, Q, SNR per patch), binned.csv (mean ± std of Q in 40 Δ bins over (0, 100)),
collapse.csv (VR with the per-σ [q2.5, q97.5] Δ windows and with their intersection) and q_vs_delta.{png,pdf}.
"""
import argparse
import os.path as osp

import numpy as np
import torch
from tqdm import tqdm

import wne_basicsr  # noqa: F401  (compat patches + registration, before anything from basicsr)
from wne_basicsr.data.noise import seeded_generator, unit_noise
from wne_basicsr.evaluation.analysis import (
    binned_q,
    collapse_score,
    delta,
    delta_windows,
    draw_patches,
    patch_pool_from_options,
    q_score,
    snr,
)
from wne_basicsr.evaluation.networks import load_network, resolve_device
from wne_basicsr.evaluation.options import add_patch_flags, options_from_flags
from wne_basicsr.evaluation.plots import q_vs_delta_figure, save_figure
from wne_basicsr.evaluation.sweep_config import ModelSpec
from wne_basicsr.inference.forward import eval_mode, whole_image_forward
from wne_basicsr.startup import prepare_process
from wne_basicsr.utils.csv_io import write_csv

DEFAULTS = {'name': 'normalized_residual', 'models': {}, 'dataroot_gt': ['datasets/Train400'], 'color': 'gray',
            'patch_size': 70, 'batch_size': 128, 'num_batches': 2, 'sigmas': [10, 20, 30, 40, 50], 'per_image': 16,
            'max_images': None, 'noise': 'gaussian', 'seed': 0, 'device': 'auto', 'bins': 40,
            'delta_range': [0, 100], 'mask_windows': False, 'output_dir': 'results/analysis/normalized_residual'}


def parse_args(argv: list[str] | None = None) -> dict:
    """Defaults, then the options file, then the flags given (``--model`` adds a model)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_patch_flags(parser)
    parser.add_argument('--name', help='run name: results go to <output_dir>/<name>')
    parser.add_argument('--model', nargs=3, action='append', default=[], metavar=('LABEL', 'OPTIONS', 'CHECKPOINT'),
                        help='add a model: a label, its training options file and its checkpoint; repeatable')
    parser.add_argument('--num-batches', type=int, help='batches of patches per σ (default 2)')
    parser.add_argument('--batch-size', type=int, help='patches per batch (default 128)')
    parser.add_argument('--device', help='auto (default), cpu, cuda, …')
    parser.add_argument('--mask-windows', action='store_true', default=None,
                        help='plot each σ only inside its own [q2.5, q97.5] Δ window')
    opt, flags = options_from_flags(parser, DEFAULTS, argv, extra=('model',))
    opt['models'] = {**(opt.get('models') or {}), **{label: {'options': options, 'checkpoint': checkpoint}
                                                     for label, options, checkpoint in flags['model']}}
    if not opt['models']:
        parser.error('no models: give -opt with a "models" mapping or --model LABEL OPTIONS CHECKPOINT')
    return opt


def patch_batches(opt: dict, pool: torch.Tensor, sigma: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The seeded (clean, noisy) batches at ``sigma``: identical for every model."""
    batches = []
    for index in range(int(opt['num_batches'])):
        generator = seeded_generator(opt['seed'], 'normalized_residual', f'{sigma:.6f}', index)
        clean = draw_patches(pool, int(opt['batch_size']), generator)
        batches.append((clean, clean + sigma / 255.0 * unit_noise(opt['noise'], clean.shape, generator)))
    return batches


def measure(opt: dict) -> dict[str, dict[float, dict[str, np.ndarray]]]:
    """Δ, Q and SNR per patch, by model and σ."""
    pool = patch_pool_from_options(opt, 'normalized_residual')
    device = resolve_device(str(opt['device']))
    sigmas = [float(s) for s in opt['sigmas']]
    results: dict[str, dict[float, dict[str, np.ndarray]]] = {}
    with tqdm(total=len(opt['models']) * len(sigmas) * int(opt['num_batches']), unit='batch') as bar:
        for label, model_opt in opt['models'].items():
            net = load_network(ModelSpec.from_opt(label, model_opt), device)
            results[label] = {}
            for sigma in sigmas:
                parts = {'delta': [], 'q': [], 'snr': []}
                for clean, noisy in patch_batches(opt, pool, sigma):
                    with eval_mode(net):
                        output = whole_image_forward(net, noisy.to(device)).float().cpu()
                    parts['delta'].append(delta(clean, noisy).numpy())
                    parts['q'].append(q_score(output, clean, noisy).numpy())
                    parts['snr'].append(snr(clean, sigma).numpy())
                    bar.update(1)
                results[label][sigma] = {key: np.concatenate(value) for key, value in parts.items()}
    return results


def windowed(values: dict[str, np.ndarray], window: tuple[float, float]) -> dict[str, np.ndarray]:
    """The patches whose Δ lies inside ``window``."""
    keep = (values['delta'] >= window[0]) & (values['delta'] <= window[1])
    return {key: value[keep] for key, value in values.items()}


def write_outputs(results: dict[str, dict[float, dict[str, np.ndarray]]], opt: dict) -> str:
    """patches.csv, binned.csv, collapse.csv and the Q-vs-Δ figure; returns the output folder."""
    folder = osp.join(opt['output_dir'], opt['name'])
    bins, value_range = int(opt['bins']), [float(v) for v in opt['delta_range']]
    first = next(iter(results.values()))
    windows = delta_windows({sigma: values['delta'] for sigma, values in first.items()})
    shared = (max(lo for lo, _ in windows.values()), min(hi for _, hi in windows.values()))
    write_csv([{'model': label, 'sigma_8bit': f'{sigma:g}', 'delta': d, 'q': q, 'snr': snr}
               for label, per_sigma in results.items() for sigma, values in per_sigma.items()
               for d, q, snr in zip(values['delta'], values['q'], values['snr'])],
              osp.join(folder, 'patches.csv'), ['model', 'sigma_8bit', 'delta', 'q', 'snr'])
    binned, collapse = {}, []
    for label, per_sigma in results.items():
        shown = {s: windowed(v, windows[s]) if opt['mask_windows'] else v for s, v in per_sigma.items()}
        binned[label] = {s: binned_q(v['delta'], v['q'], bins, value_range) for s, v in shown.items()}
        for mode, window_of in (('own', windows), ('intersection', dict.fromkeys(per_sigma, shared))):
            means = []
            for sigma, values in per_sigma.items():
                inside = windowed(values, window_of[sigma])
                means.append(binned_q(inside['delta'], inside['q'], bins, value_range)['mean'])
            collapse.append({'model': label, 'window': mode, 'vr': collapse_score(means)})
    write_csv([{'model': label, 'sigma_8bit': f'{sigma:g}', 'bin_lo': lo, 'bin_hi': hi, 'count': n, 'q_mean': m,
                'q_std': sd}
               for label, per_sigma in binned.items() for sigma, stats in per_sigma.items()
               for lo, hi, n, m, sd in zip(stats['edges'][:-1], stats['edges'][1:], stats['count'], stats['mean'],
                                           stats['std'])],
              osp.join(folder, 'binned.csv'), ['model', 'sigma_8bit', 'bin_lo', 'bin_hi', 'count', 'q_mean', 'q_std'])
    write_csv(collapse, osp.join(folder, 'collapse.csv'), ['model', 'window', 'vr'])
    save_figure(q_vs_delta_figure(binned), osp.join(folder, 'q_vs_delta'))
    for entry in collapse:
        print(f'  {entry["model"]:>24} VR ({entry["window"]} windows) = {entry["vr"]:.4f}')
    return folder


def main(argv: list[str] | None = None) -> None:
    """Measure Δ, Q and SNR for every model and σ; write the CSVs and the figure."""
    prepare_process()
    opt = parse_args(argv)
    folder = write_outputs(measure(opt), opt)
    print(f'→ {folder}/patches.csv, binned.csv, collapse.csv, q_vs_delta.png / .pdf')


if __name__ == '__main__':
    main()
