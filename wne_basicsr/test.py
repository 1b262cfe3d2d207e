"""Test with BasicSR's parts: ``python wne_basicsr/test.py -opt X.yml [--launcher pytorch]`` (``wne-test`` installed).

Under ``python -m torch.distributed.launch`` its ``--local-rank=N`` is translated for BasicSR's parser. Results go
under the working directory (``results/<name>``), or under ``$WNE_BASICSR_ROOT`` if set.
"""
from __future__ import annotations

import os.path as osp
import sys

if osp.abspath(sys.path[0]) == osp.dirname(osp.abspath(__file__)):
    # run as a script: import the package from the repository, not the modules beside this file
    sys.path[0] = osp.dirname(osp.dirname(osp.abspath(__file__)))

import wne_basicsr  # noqa: E402,F401  (compat patches + registration; spawned workers re-run this import)
from wne_basicsr.pipelines import test_pipeline  # noqa: E402
from wne_basicsr.startup import run_entry_point  # noqa: E402


def main() -> None:
    """Run the test pipeline as a command."""
    run_entry_point(test_pipeline)


if __name__ == '__main__':
    main()
