"""Jacobian rows and non-linearity ratio of denoisers (``wne-adaptive-filters`` when installed).

Runs wne_basicsr/cli/adaptive_filters.py from a checkout.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wne_basicsr.cli.adaptive_filters import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
