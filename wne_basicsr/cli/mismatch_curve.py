"""Noise-mismatch sweep (docs/method.md §5.1–5.3) of trained models: a tidy CSV plus PSNR, SSIM and NE-defect plots.

    python scripts/mismatch_curve.py -opt options/test/mismatch/quickstart_DnCNN_s25.yml
    python scripts/mismatch_curve.py --name mine --dataset Set12 datasets/Set12 --sigmas 10 25 50 --n-averages 2
        --model WNE options/train/DnCNN/train_DnCNN_WNE_s25.yml experiments/train_DnCNN_WNE_s25/models/net_g_latest.pth
    python scripts/mismatch_curve.py -opt options/test/mismatch/jpeg_from_uniform_s14.yml   # noise: jpeg, qualities

Writes <output_dir>/<name>/mismatch.csv (tidy), mismatch_wide_<set>.csv (a row per level, a column per model),
psnr_vs_input, ssim_vs_sigma and ne_defect_vs_sigma (…_vs_quality for JPEG) as PNG and PDF, and with --tensorboard (or
``tensorboard: true``) every point as a scalar under tb_logger/mismatch_<name>. Points already computed (same
checkpoint content, network options, test set, level, n_averages, degradation, seed) are read from the cache folder,
so adding a model to a sweep only computes that model.
"""
import argparse
import os.path as osp
import time

import torch

import wne_basicsr  # noqa: F401  (compat patches + registration, before anything from basicsr)
from wne_basicsr.data.degradations import DEGRADATIONS
from wne_basicsr.evaluation.mismatch import run_sweep
from wne_basicsr.evaluation.options import read_yaml
from wne_basicsr.evaluation.plots import plot_stems, write_mismatch_plots
from wne_basicsr.evaluation.sweep_config import SweepConfig
from wne_basicsr.evaluation.sweep_outputs import write_mismatch_csv, write_tensorboard, write_wide_csvs
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
    parser.add_argument('--noise', choices=DEGRADATIONS,
                        help='noise family (rayleigh is not re-centred: mean +1.91σ), or jpeg (with --qualities)')
    parser.add_argument('--qualities', nargs='+', type=int, help='JPEG qualities of a jpeg sweep, e.g. 5 10 … 85')
    parser.add_argument('--tensorboard', action=argparse.BooleanOptionalAction, default=None,
                        help='also write every point to tensorboard (tb_logger/mismatch_<name>)')
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
    flags = {'name': args.name, 'sigmas': args.sigmas, 'qualities': args.qualities, 'n_averages': args.n_averages,
             'noise': args.noise, 'seed': args.seed, 'device': args.device, 'batch_size': args.batch_size,
             'cache_dir': args.cache_dir, 'output_dir': args.output_dir, 'tensorboard': args.tensorboard}
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
    wide = write_wide_csvs(rows, config.result_folder)
    stems = plot_stems(rows)
    plotted = [osp.join(config.result_folder, f'{stem}.{ext}') for stem in stems for ext in ('png', 'pdf')]
    if previous == read_text(csv_path) and all(osp.isfile(p) for p in plotted):
        print('  the CSV is unchanged and its plots exist: not redrawn')
    else:
        write_mismatch_plots(rows, config.result_folder)
    if config.tensorboard:
        print(f'  tensorboard: {write_tensorboard(rows, osp.join("tb_logger", f"mismatch_{config.name}"))}')
    print(f'{len(rows)} points in {time.perf_counter() - start:.1f} s → {csv_path}')
    for path in [*wide, *(f'{osp.join(config.result_folder, stem)}.png / .pdf' for stem in stems)]:
        print(f'  {path}')
    for row in rows:
        if row['is_train_sigma'] or (row['degradation'] == 'jpeg' and row['quality'] == max(config.levels)):
            level = f'σ_train {row["sigma_8bit"]:g}' if row['is_train_sigma'] else f'quality {row["quality"]}'
            print(f'  {row["model"]:>24} {row["dataset"]:>10} {level}: '
                  f'{row["psnr_float_db"]:.2f} dB (input {row["input_psnr_db"]:.2f} dB)')


if __name__ == '__main__':
    main()
