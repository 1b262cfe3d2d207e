"""Print Markdown tables of sampler runs: mean PSNRs, SSIM and steps per run, and the final PSNR per image.

    python scripts/sampler_table.py DnCNN=docs/results/sampler_random_missing/DnCNN_per_image.csv \\
        WNE-DnCNN=docs/results/sampler_random_missing/WNE-DnCNN_per_image.csv --per-image
"""
import argparse

from wne_basicsr.evaluation.tables import read_sampler_csv, sampler_image_table, sampler_table


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', metavar='LABEL=CSV',
                        help='a label and the per_image.csv of a sampler run (results/<name>/<set>/per_image.csv)')
    parser.add_argument('--per-image', action='store_true', help='also print the final PSNR of every image')
    args = parser.parse_args(argv)
    runs = {}
    for run in args.runs:
        label, sep, path = run.partition('=')
        if not sep or not label or not path:
            parser.error(f'expected LABEL=CSV, got {run!r}')
        try:
            runs[label] = read_sampler_csv(path)
        except (OSError, ValueError) as error:
            parser.exit(2, f'sampler_table.py: error: {error}\n')
    print(sampler_table(runs))
    if args.per_image:
        try:
            print('\n' + sampler_image_table(runs))
        except ValueError as error:
            parser.exit(2, f'sampler_table.py: error: {error}\n')


if __name__ == '__main__':
    main()
