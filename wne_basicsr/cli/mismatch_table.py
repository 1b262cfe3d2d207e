"""Print a Markdown table of a mismatch CSV (the input and each model's PSNR per test set at chosen test σ or JPEG
qualities), or write its wide CSVs (a row per level, a column per model).

    python scripts/mismatch_table.py docs/results/repro_cpu/mismatch.csv --sigmas 5 15 25 50 85
    python scripts/mismatch_table.py docs/results/jpeg_from_uniform/mismatch.csv --qualities 5 45 85
    python scripts/mismatch_table.py docs/results/repro_cpu/mismatch.csv --wide docs/results/repro_cpu
"""
import argparse

from wne_basicsr.evaluation.sweep_outputs import write_wide_csvs
from wne_basicsr.evaluation.tables import COLUMNS, mismatch_table, read_mismatch_csv


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and print the table (or write the wide CSVs)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('csv', help='mismatch.csv written by scripts/mismatch_curve.py')
    levels = parser.add_mutually_exclusive_group(required=True)
    levels.add_argument('--sigmas', type=float, nargs='+', help='test σ values (8-bit units)')
    levels.add_argument('--qualities', type=float, nargs='+', help='JPEG qualities (a JPEG sweep)')
    levels.add_argument('--wide', metavar='FOLDER', help='write mismatch_wide_<set>.csv files into FOLDER instead')
    parser.add_argument('--datasets', nargs='+', help='test sets, in this order (default: all in the CSV)')
    parser.add_argument('--column', default='psnr_float_db', choices=COLUMNS)
    args = parser.parse_args(argv)
    try:
        rows = read_mismatch_csv(args.csv)
        if args.wide:
            print('\n'.join(write_wide_csvs(rows, args.wide)))
        else:
            print(mismatch_table(rows, args.sigmas or args.qualities, args.datasets, args.column))
    except (OSError, ValueError) as error:
        parser.exit(2, f'mismatch_table.py: error: {error}\n')


if __name__ == '__main__':
    main()
