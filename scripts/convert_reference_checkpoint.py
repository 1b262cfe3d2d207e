"""Convert a checkpoint of the paper's reference code (``wne-convert`` when installed).

Runs wne_basicsr/cli/convert_reference_checkpoint.py from a checkout.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wne_basicsr.cli.convert_reference_checkpoint import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
