"""Test with BasicSR's test pipeline: ``python wne_basicsr/test.py -opt X.yml [--launcher pytorch]``.

Under ``python -m torch.distributed.launch`` its ``--local-rank=N`` is translated for BasicSR's parser.
"""
import os
import os.path as osp
import sys

ROOT = osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))
if osp.abspath(sys.path[0]) == osp.dirname(osp.abspath(__file__)):
    sys.path[0] = ROOT  # run as a script: import the package from the repository, not modules beside this file

import wne_basicsr  # noqa: E402,F401  (compat patches + registration; spawned workers re-run this import)

# isort: split
from basicsr.test import test_pipeline  # noqa: E402

from wne_basicsr.option_checks import close_process_group, translate_local_rank  # noqa: E402

if __name__ == '__main__':
    sys.argv = translate_local_rank(sys.argv)
    test_pipeline(os.environ.get('WNE_BASICSR_ROOT', ROOT))
    close_process_group()
