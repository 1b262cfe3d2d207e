"""An image, minus its minimum, minus its mean on one scale (``wne-shift-manipulation`` when installed).

Runs wne_basicsr/cli/shift_manipulation.py from a checkout.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wne_basicsr.cli.shift_manipulation import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
