"""Download the datasets of the paper's recipes into datasets/ (``wne-download`` when installed).

Runs wne_basicsr/cli/download_datasets.py from a checkout.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wne_basicsr.cli.download_datasets import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
