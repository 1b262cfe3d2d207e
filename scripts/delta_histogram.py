"""Histograms of the normalized noise norm Δ (``wne-delta-histogram`` when installed).

Runs wne_basicsr/cli/delta_histogram.py from a checkout.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wne_basicsr.cli.delta_histogram import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
