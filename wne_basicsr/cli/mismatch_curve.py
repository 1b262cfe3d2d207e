"""Noise-mismatch sweep (docs/method.md §5.1–5.3) of trained models: a tidy CSV plus PSNR, SSIM and NE-defect plots.

    python scripts/mismatch_curve.py -opt options/test/mismatch/quickstart_DnCNN_s25.yml
    python scripts/mismatch_curve.py --name mine --dataset Set12 datasets/Set12 --sigmas 10 25 50 --n-averages 2
        --model WNE options/train/DnCNN/train_DnCNN_WNE_s25.yml experiments/train_DnCNN_WNE_s25/models/net_g_latest.pth

Writes <output_dir>/<name>/mismatch.csv, psnr_vs_input.{png,pdf}, ssim_vs_sigma.{png,pdf}, ne_defect_vs_sigma.{png,pdf}.
Points already computed (same checkpoint content, network options, test set, σ, n_averages, noise, seed) are read
from the cache folder, so adding a model to a sweep only computes that model.
"""
import argparse
import os.path as osp
import time

import torch

import wne_basicsr  # noqa: F401  (compat patches + registration, before anything from basicsr)
from wne_basicsr.data.noise import NOISE_TYPES
from wne_basicsr.evaluation.mismatch import run_sweep, write_mismatch_csv
from wne_basicsr.evaluation.options import read_yaml
from wne_basicsr.evaluation.plots import plot_stems, write_mismatch_plots
from wne_basicsr.evaluation.sweep_config import SweepConfig
from wne_basicsr.startup import prepare_process


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; each one given overrides the options file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', help='sweep options YAML (options/test/mismatch/*.yml)')
    parser.add_argument('--name', help='sweep name: results go to <output_dir>/<name>')
    parser.add_argument('--model', nargs=3, action='append', default=[], metavar=('LABEL', 'OPTIONS', 'CHECKPOINT'),
                        help='add a model: a label, its training options file (for network_g and σ_train) and '
                             'its checkpoint; repeatable')
    parser.add_argument('--dataset', nargs=2, action='append', default=[], metavar=('NAME', 'DATAROOT'),
                        help='add a gray test set (folder or .lmdb); repeatable')
    parser.add_argument('--sigmas', nargs='+', type=float, help='explicit σ grid in 8-bit units (σ_train is added)')
    parser.add_argument('--n-averages', type=int, help='noise draws per (image, σ); the paper uses 20')
    parser.add_argument('--noise', choices=NOISE_TYPES, help='noise family (rayleigh is not re-centred: mean +1.91σ)')
    parser.add_argument('--seed', type=int, help='base seed of the noise draws')
    parser.add_argument('--device', help='auto (default), cpu, cuda, cuda:1, …')
    parser.add_argument('--batch-size', type=int, help='noisy draws per forward pass')
    parser.add_argument('--ne-defect', action=argparse.BooleanOptionalAction, default=None,
                        help='measure the NE defect (default: on, with the options file\'s settings)')
    parser.add_argument('--cache-dir', help='cache folder (default results/mismatch_cache)')
    parser.add_argument('--no-cache', action='store_true', help='neither read nor write the cache')
    parser.add_argument('--output-dir', help='parent folder of the results (default results/mismatch)')
    parser.add_argument('--threads', type=int, help='CPU threads for torch (1 is often fastest on a busy machine)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def sweep_options(args: argparse.Namespace) -> dict:
    """The options file (if any) with the command-line flags applied."""
    opt = read_yaml(args.opt) if args.opt else {}
    opt['models'] = dict(opt.get('models') or {})
    opt['datasets'] = dict(opt.get('datasets') or {})
    for label, options, checkpoint in args.model:
        opt['models'][label] = {'options': options, 'checkpoint': checkpoint}
    for name, root in args.dataset:
        opt['datasets'][name] = {'dataroot_gt': root}
    flags = {'name': args.name, 'sigmas': args.sigmas, 'n_averages': args.n_averages, 'noise': args.noise,
             'seed': args.seed, 'device': args.device, 'batch_size': args.batch_size, 'cache_dir': args.cache_dir,
             'output_dir': args.output_dir}
    opt.update({key: value for key, value in flags.items() if value is not None})
    if args.ne_defect is False:
        opt['ne_defect'] = False
    elif args.ne_defect and opt.get('ne_defect') is False:
        opt['ne_defect'] = True
    if args.no_cache:
        opt['cache_dir'] = None
    return opt


def read_text(path: str) -> str | None:
    """A file's text, or None when it does not exist."""
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return f.read()


def main(argv: list[str] | None = None) -> None:
    """Run the sweep, write the CSV and the plots, and print where they are."""
    prepare_process()
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = SweepConfig.from_opt(sweep_options(args))
    start = time.perf_counter()
    rows = run_sweep(config, progress=not args.quiet)
    csv_path = osp.join(config.result_folder, 'mismatch.csv')
    previous = read_text(csv_path)
    write_mismatch_csv(rows, csv_path)
    stems = plot_stems(rows)
    plotted = [osp.join(config.result_folder, f'{stem}.{ext}') for stem in stems for ext in ('png', 'pdf')]
    if previous == read_text(csv_path) and all(osp.isfile(p) for p in plotted):
        print('  the CSV is unchanged and its plots exist: not redrawn')
    else:
        write_mismatch_plots(rows, config.result_folder)
    print(f'{len(rows)} points in {time.perf_counter() - start:.1f} s → {csv_path}')
    for stem in stems:
        print(f'  {osp.join(config.result_folder, stem)}.png / .pdf')
    for row in rows:
        if row['is_train_sigma']:
            print(f'  {row["model"]:>24} {row["dataset"]:>10} σ_train {row["sigma_8bit"]:g}: '
                  f'{row["psnr_float_db"]:.2f} dB (input {row["input_psnr_db"]:.2f} dB)')


if __name__ == '__main__':
    main()
