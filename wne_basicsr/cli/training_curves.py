"""Read training runs back from their tensorboard logs: a CSV of every scalar, a figure of the loss and of each
validation set's PSNR against iteration, and a Markdown table of the validation values (printed).

    python scripts/training_curves.py tb_logger/repro_cpu_SwinIR_s10 tb_logger/repro_cpu_SwinIR_WNE_s10 \\
        --labels SwinIR WNE-SwinIR --output results/curves/repro_cpu_SwinIR_s10
"""
import argparse
import os
import os.path as osp

from wne_basicsr.evaluation.training_curves import curves_figure, read_scalars, validation_table
from wne_basicsr.utils.csv_io import write_csv


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, write training_curves.{csv,png} into --output and print the validation table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', help='tensorboard folders of training runs (tb_logger/<name>)')
    parser.add_argument('--labels', nargs='+', help='a label per run (default: the folder names)')
    parser.add_argument('--output', required=True, help='folder for training_curves.csv and training_curves.png')
    parser.add_argument('--metric', default='psnr_float', help='validation metric to plot and tabulate')
    args = parser.parse_args(argv)
    labels = args.labels or [osp.basename(osp.normpath(run)) for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f'--labels: got {len(labels)} labels for {len(args.runs)} runs')
    try:
        rows = [row for run, label in zip(args.runs, labels) for row in read_scalars(run, label)]
        table = validation_table(rows, args.metric)
    except (OSError, ValueError) as error:
        parser.exit(2, f'training_curves.py: error: {error}\n')
    os.makedirs(args.output, exist_ok=True)
    write_csv(rows, osp.join(args.output, 'training_curves.csv'))
    curves_figure(rows, args.metric).savefig(osp.join(args.output, 'training_curves.png'), dpi=110)
    print(table)


if __name__ == '__main__':
    main()
