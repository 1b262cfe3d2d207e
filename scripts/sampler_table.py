"""Markdown tables of sampler per_image.csv files (``wne-sampler-table`` when installed).

Runs wne_basicsr/cli/sampler_table.py from a checkout.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wne_basicsr.cli.sampler_table import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
