"""Noise-mismatch sweep (docs/method.md §5.1–5.3) of trained models: a tidy CSV plus PSNR, SSIM and NE-defect plots.

    python scripts/mismatch_curve.py -opt options/test/mismatch/quickstart_DnCNN_s25.yml
    python scripts/mismatch_curve.py --name mine --dataset Set12 datasets/Set12 --sigmas 10 25 50 --n-averages 2
        --model WNE options/train/DnCNN/train_DnCNN_WNE_s25.yml experiments/train_DnCNN_WNE_s25/models/net_g_latest.pth
    python scripts/mismatch_curve.py -opt options/test/mismatch/jpeg_from_uniform_s14.yml   # noise: jpeg, qualities

Writes <output_dir>/<name>/mismatch.csv (tidy), mismatch_wide_<set>.csv (a row per level, a column per model),
psnr_vs_input, ssim_vs_sigma and ne_defect_vs_sigma (…_vs_quality for JPEG) as PNG and PDF, and with --tensorboard (or
``tensorboard: true``) every point as a scalar under tb_logger/mismatch_<name>. Points already computed are read from
the cache folder, keyed on the content of the test images (size and SHA-256 of each file, not their folder) and of the
checkpoint, the network options, level, degradation, seed, n_averages or NE-defect settings, and what changes the
numbers (channels_last, compile, device, torch version, inference dtype), so adding a model to a sweep only computes
that model (docs/evaluation.md, "The sweep cache").

What the options file does not set follows the paper's protocol (docs/method.md §5.1-5.3): 20 geometric σ from 5 to
100 plus σ_train, 20 noise draws per (image, σ), and an NE defect of 8 affine draws per image (16 network evaluations
per point on 2 images), each a whole-image forward pass. That is slow on a CPU: 2 images × 3 σ took 276 s on a 2-core
CPU. To shorten a run, these flags override the options file: --max-images N (the first N images of each test set),
--sigmas 10,50, --n-averages K, --ne-affine K (or --no-ne-defect); docs/evaluation.md sizes sweeps. A shortened run
refuses to replace the full sweep's CSV of the same name: give it --name (or --overwrite).
"""
import argparse
import os.path as osp
import sys
import time
from typing import NoReturn

import torch

import wne_basicsr  # noqa: F401  (compat patches + registration, before anything from basicsr)
from wne_basicsr.data.degradations import DEGRADATIONS
from wne_basicsr.evaluation.mismatch import run_sweep
from wne_basicsr.evaluation.options import read_yaml
from wne_basicsr.evaluation.plots import plot_stems, write_mismatch_plots
from wne_basicsr.evaluation.sweep_config import SweepConfig
from wne_basicsr.evaluation.sweep_outputs import (
    what_a_rerun_loses,
    write_mismatch_csv,
    write_tensorboard,
    write_wide_csvs,
)
from wne_basicsr.startup import prepare_process


class OneLineErrors(argparse.ArgumentParser):
    """A parser whose mistakes end the command with one line (the usage of so many flags is long)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f'{self.prog}: error: {message} (--help lists the flags)\n')


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number >= 1, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected a whole number >= 1, got {value}')
    return value


def sigma_list(text: str) -> list[float]:
    """σ values in 8-bit units, comma-separated ('10,50'); the flag also takes them space-separated."""
    try:
        values = [float(part) for part in text.split(',') if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected σ values such as 10,50 (8-bit units), got {text!r}') from None
    if not values or any(not v >= 0 for v in values):
        raise argparse.ArgumentTypeError(f'expected σ values >= 0 such as 10,50 (8-bit units), got {text!r}')
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; each one given overrides the options file."""
    parser = OneLineErrors(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', help='sweep options YAML (options/test/mismatch/*.yml)')
    parser.add_argument('--name', help='sweep name: results go to <output_dir>/<name>')
    parser.add_argument('--model', nargs=3, action='append', default=[], metavar=('LABEL', 'OPTIONS', 'CHECKPOINT'),
                        help='add a model: a label, its training options file (for network_g and σ_train) and '
                             'its checkpoint; repeatable')
    parser.add_argument('--dataset', nargs=2, action='append', default=[], metavar=('NAME', 'DATAROOT'),
                        help='add a gray test set (folder or .lmdb); repeatable')
    parser.add_argument('--sigmas', nargs='+', type=sigma_list, metavar='SIGMAS',
                        help='explicit σ grid in 8-bit units, e.g. 10,50 or 10 25 50 (σ_train is added)')
    parser.add_argument('--n-averages', type=positive_int, metavar='K',
                        help='noise draws per (image, σ); the paper uses 20')
    parser.add_argument('--max-images', type=positive_int, metavar='N',
                        help='use only the first N images of each test set (fewer if the options file says so)')
    parser.add_argument('--ne-affine', type=positive_int, metavar='K',
                        help='affine draws per image of the NE defect (ne_defect.num_affine; the paper uses 8); '
                             'turns the NE defect on')
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
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an earlier sweep of the same name even where this one has fewer or other points')
    parser.add_argument('--threads', type=int, help='CPU threads for torch (1 is often fastest on a busy machine)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if args.ne_affine is not None and args.ne_defect is False:
        parser.error('--ne-affine sets the NE defect\'s affine draws, --no-ne-defect turns it off: give one of them')
    if args.sigmas is not None:
        args.sigmas = [sigma for group in args.sigmas for sigma in group]
    return args


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
    if args.ne_affine is not None:
        current = opt.get('ne_defect')
        opt['ne_defect'] = {**(current if isinstance(current, dict) else {}), 'num_affine': args.ne_affine}
    if args.max_images is not None:
        opt['datasets'] = {name: {**(d or {}), 'max_images': min((d or {}).get('max_images') or args.max_images,
                                                                 args.max_images)}
                           for name, d in opt['datasets'].items()}
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
    csv_path = osp.join(config.result_folder, 'mismatch.csv')
    lost = [] if args.overwrite else what_a_rerun_loses(config, csv_path)
    if lost:
        sys.exit(f'{osp.basename(sys.argv[0])}: error: {csv_path} holds a sweep that this one would replace '
                 f'({"; ".join(lost)}): give --name to write this one elsewhere, or --overwrite')
    start = time.perf_counter()
    rows = run_sweep(config, progress=not args.quiet)
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
