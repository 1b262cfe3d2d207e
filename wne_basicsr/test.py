"""Test with BasicSR's parts: ``python wne_basicsr/test.py -opt X.yml [--launcher pytorch]`` (``wne-test`` installed).

Under ``python -m torch.distributed.launch`` its ``--local-rank=N`` is translated for BasicSR's parser. Results go
under the working directory (``results/<name>``), or under ``$WNE_BASICSR_ROOT`` if set. Options that load no checkpoint
(``path.pretrain_network_g``) are refused, and training sets are skipped: the recipes' test options are under
``options/test/quickstart/`` and ``options/test/repro_cpu/``.
"""
import os.path as osp
import sys

if osp.abspath(sys.path[0]) == osp.dirname(osp.abspath(__file__)):  # as a script: the package, not its folder
    sys.path[0] = osp.dirname(osp.dirname(osp.abspath(__file__)))

# compat patches and registration at module level: spawned DataLoader workers re-run these imports
from wne_basicsr.pipelines import test_main as main  # noqa: E402

if __name__ == '__main__':
    main()
