"""Training curves from tensorboard logs (``wne-training-curves`` when installed).

Runs wne_basicsr/cli/training_curves.py from a checkout.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wne_basicsr.cli.training_curves import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
