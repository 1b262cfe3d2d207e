"""Train with BasicSR's parts: ``python wne_basicsr/train.py -opt X.yml [--launcher pytorch] [--auto_resume]``.

Also ``wne-train -opt X.yml`` once installed, ``torchrun --nproc_per_node=N wne_basicsr/train.py -opt X.yml --launcher
pytorch`` (gloo on CPU-only hosts) and ``python -m torch.distributed.launch`` (its ``--local-rank=N`` is translated).
Outputs go under the working directory (``experiments/``, ``tb_logger/``), or under ``$WNE_BASICSR_ROOT`` if set.
"""
import os.path as osp
import sys

if osp.abspath(sys.path[0]) == osp.dirname(osp.abspath(__file__)):  # as a script: the package, not its folder
    sys.path[0] = osp.dirname(osp.dirname(osp.abspath(__file__)))

# compat patches and registration at module level: spawned DataLoader workers re-run these imports
from wne_basicsr.pipelines import train_main as main  # noqa: E402

if __name__ == '__main__':
    main()
