"""Make BasicSR 1.4.2 import and run on current torch/torchvision/numpy, on CPU too.

Import this module before anything from ``basicsr`` (``import wne_basicsr`` does it first).
Every patch is applied only where it is needed and says what breaks without it.
"""
from __future__ import annotations

import os
import os.path as osp
import subprocess
import sys
import types

import torch
import torch.distributed as dist
import torchvision.transforms.functional as tvf


def _alias_functional_tensor() -> None:
    """Provide ``torchvision.transforms.functional_tensor`` (removed in torchvision 0.17)."""
    # Without it: `import basicsr` raises ModuleNotFoundError in basicsr/data/degradations.py.
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401
    except ModuleNotFoundError:
        module = types.ModuleType('torchvision.transforms.functional_tensor')
        module.rgb_to_grayscale = tvf.rgb_to_grayscale
        sys.modules['torchvision.transforms.functional_tensor'] = module


def _init_dist_pytorch(backend: str = 'nccl', **kwargs) -> None:
    """Initialize torchrun's process group on GPUs (requested backend) or CPU-only hosts (gloo)."""
    if torch.cuda.is_available():
        local_rank = int(os.environ.get('LOCAL_RANK', os.environ.get('RANK', 0)))
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    else:
        backend = 'gloo'
    backend = os.environ.get('WNE_DIST_BACKEND', backend)
    dist.init_process_group(backend=backend, **kwargs)


def _init_dist_slurm(backend: str = 'nccl', port: int | None = None) -> None:
    """Initialize a slurm job's process group on GPUs (requested backend) or CPU-only nodes (gloo)."""
    proc_id, ntasks = int(os.environ['SLURM_PROCID']), int(os.environ['SLURM_NTASKS'])
    if torch.cuda.is_available():
        local_rank = proc_id % torch.cuda.device_count()
        torch.cuda.set_device(local_rank)
    else:
        local_rank, backend = int(os.environ.get('SLURM_LOCALID', 0)), 'gloo'
    node_list = os.environ['SLURM_NODELIST']
    os.environ['MASTER_ADDR'] = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    os.environ['MASTER_PORT'] = str(port) if port is not None else os.environ.get('MASTER_PORT', '29500')
    os.environ.update(WORLD_SIZE=str(ntasks), LOCAL_RANK=str(local_rank), RANK=str(proc_id))
    dist.init_process_group(backend=os.environ.get('WNE_DIST_BACKEND', backend))


def _list_states(state_dir: str) -> list[str]:
    """Training-state files of ``state_dir``, newest iteration first."""
    if not osp.isdir(state_dir):
        return []
    states = [f for f in os.listdir(state_dir) if f.endswith('.state') and f[:-6].isdigit()]
    return [osp.join(state_dir, f) for f in sorted(states, key=lambda f: int(f[:-6]), reverse=True)]


def load_resume_state(opt: dict) -> dict | None:
    """Load the state to resume from: the newest complete one under ``--auto_resume``, on any device."""
    from basicsr.utils import check_resume, get_root_logger

    if opt['auto_resume']:
        candidates = _list_states(opt['path']['training_states'])
    else:
        candidates = [opt['path']['resume_state']] if opt['path'].get('resume_state') else []
    map_location = (f'cuda:{torch.cuda.current_device()}' if torch.cuda.is_available() and opt.get('num_gpu', 0) != 0
                    else 'cpu')
    for path in candidates:
        try:
            state = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as err:  # a state cut short by a crash: fall back to the previous one
            if not opt['auto_resume']:
                raise
            get_root_logger().warning(f'Skipping unreadable training state {path}: {err}')
            continue
        opt['path']['resume_state'] = path
        check_resume(opt, state['iter'])
        return state
    return None


def _patch_basicsr() -> None:
    """Replace the BasicSR functions that fail on CPU-only hosts."""
    import basicsr.train
    import basicsr.utils.dist_util

    # Without it: `--launcher pytorch` dies with ZeroDivisionError on a host without GPUs.
    basicsr.utils.dist_util._init_dist_pytorch = _init_dist_pytorch
    # Without it: `--launcher slurm` on CPU-only nodes divides by torch.cuda.device_count() == 0 and asks for nccl.
    basicsr.utils.dist_util._init_dist_slurm = _init_dist_slurm
    # Without it: resuming maps tensors to CUDA ("Found no NVIDIA driver") and looks for states relative to the CWD.
    basicsr.train.load_resume_state = load_resume_state


_alias_functional_tensor()
_patch_basicsr()
