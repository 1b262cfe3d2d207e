"""Train with BasicSR's trainer: ``python wne_basicsr/train.py -opt X.yml [--launcher pytorch] [--auto_resume]``.

Also ``torchrun --nproc_per_node=N wne_basicsr/train.py -opt X.yml --launcher pytorch`` (gloo on CPU-only hosts) and
``python -m torch.distributed.launch`` (its ``--local-rank=N`` is translated for BasicSR's parser).
"""
from __future__ import annotations

import os
import os.path as osp
import sys

ROOT = osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))
if osp.abspath(sys.path[0]) == osp.dirname(osp.abspath(__file__)):
    sys.path[0] = ROOT  # run as a script: import the package from the repository, not modules beside this file

import wne_basicsr  # noqa: E402,F401  (compat patches + registration; spawned workers re-run this import)

# isort: split
import basicsr.train  # noqa: E402

from wne_basicsr.option_checks import close_process_group, parse_checked_options, translate_local_rank  # noqa: E402


def main() -> None:
    """Run BasicSR's ``train_pipeline`` with translated arguments and checked options."""
    sys.argv = translate_local_rank(sys.argv)
    basicsr.train.parse_options = parse_checked_options  # train_pipeline looks the name up at call time
    basicsr.train.train_pipeline(os.environ.get('WNE_BASICSR_ROOT', ROOT))
    close_process_group()


if __name__ == '__main__':
    main()
