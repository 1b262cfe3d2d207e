"""Make BasicSR 1.4.2 import and run on current torch and torchvision, on CPU too.

Import this module before anything from ``basicsr`` (``import wne_basicsr`` does it first). Each patch is applied only
where the failure it fixes would happen (a missing torchvision module, a host without GPUs) and says what breaks
without it. The rest of BasicSR's trouble (CPU resume, list roots, the training loop) is fixed in our own entry
points (``resume.py``, ``option_checks.py``, ``pipelines.py``), not by patching BasicSR.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
import types

import torch
import torch.distributed as dist
import torchvision.transforms.functional as tvf

BASICSR_INSTALL = 'pip install --no-build-isolation --no-deps basicsr==1.4.2'


def _require_basicsr() -> None:
    """Stop with one line that says how to install basicsr where it is missing (pip does not install it with us)."""
    # basicsr is left out of setup.py's requirements: pip would then also install its tb-nightly, which clobbers
    # tensorboard. It is installed on its own, after torch, whose presence its build needs.
    if importlib.util.find_spec('basicsr') is None:
        raise ModuleNotFoundError(f'wne_basicsr needs basicsr 1.4.2, which is not installed: run `{BASICSR_INSTALL}` '
                                  '(after torch)', name='basicsr')


def _alias_functional_tensor() -> bool:
    """Provide ``torchvision.transforms.functional_tensor`` (removed in torchvision 0.17) where it is missing."""
    # Without it: `import basicsr` raises ModuleNotFoundError in basicsr/data/degradations.py.
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401
    except ModuleNotFoundError:
        module = types.ModuleType('torchvision.transforms.functional_tensor')
        module.rgb_to_grayscale = tvf.rgb_to_grayscale
        sys.modules['torchvision.transforms.functional_tensor'] = module
        return True
    return False


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


def _patch_cpu_only_dist() -> bool:
    """On a host without GPUs, replace BasicSR's process-group initializers; elsewhere leave them as they are."""
    if torch.cuda.is_available():
        return False
    import basicsr.utils.dist_util

    # Without it: `--launcher pytorch` dies with ZeroDivisionError on a host without GPUs.
    basicsr.utils.dist_util._init_dist_pytorch = _init_dist_pytorch
    # Without it: `--launcher slurm` on CPU-only nodes divides by torch.cuda.device_count() == 0 and asks for nccl.
    basicsr.utils.dist_util._init_dist_slurm = _init_dist_slurm
    return True


class _TorchWithIjMeshgrid(types.ModuleType):
    """``torch`` as one module sees it, with ``meshgrid`` indexing 'ij' stated."""

    meshgrid = functools.partial(torch.meshgrid, indexing='ij')

    def __getattr__(self, name: str) -> object:
        return getattr(torch, name)


def _patch_swinir_meshgrid() -> None:
    """BasicSR's SwinIR calls ``torch.meshgrid`` without ``indexing``, meaning 'ij': give it that explicitly."""
    import basicsr.archs.swinir_arch as swinir_arch

    # Without it: every SwinIR built warns that torch.meshgrid will require the indexing argument.
    swinir_arch.torch = _TorchWithIjMeshgrid('torch')


_require_basicsr()
_alias_functional_tensor()
_patch_cpu_only_dist()
_patch_swinir_meshgrid()
