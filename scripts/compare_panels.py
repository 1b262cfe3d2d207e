"""Qualitative denoising panels of a sweep's models (``wne-compare-panels`` when installed).

Runs wne_basicsr/cli/compare_panels.py from a checkout.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wne_basicsr.cli.compare_panels import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
