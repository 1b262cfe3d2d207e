"""Print a Markdown table of a mismatch CSV: the input and each model's PSNR per test set at chosen test σ.

    python scripts/mismatch_table.py docs/results/repro_cpu/mismatch.csv --sigmas 5 15 25 50 85
"""
import argparse

from wne_basicsr.evaluation.tables import COLUMNS, mismatch_table, read_mismatch_csv


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('csv', help='mismatch.csv written by scripts/mismatch_curve.py')
    parser.add_argument('--sigmas', type=float, nargs='+', required=True, help='test σ values (8-bit units)')
    parser.add_argument('--datasets', nargs='+', help='test sets, in this order (default: all in the CSV)')
    parser.add_argument('--column', default='psnr_float_db', choices=COLUMNS)
    args = parser.parse_args(argv)
    try:
        print(mismatch_table(read_mismatch_csv(args.csv), args.sigmas, args.datasets, args.column))
    except (OSError, ValueError) as error:
        parser.exit(2, f'mismatch_table.py: error: {error}\n')


if __name__ == '__main__':
    main()
