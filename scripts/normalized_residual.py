"""Output quality Q against Δ in normalized coordinates (``wne-normalized-residual`` when installed).

Runs wne_basicsr/cli/normalized_residual.py from a checkout.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wne_basicsr.cli.normalized_residual import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
