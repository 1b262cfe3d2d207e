"""Resuming a run: the newest complete training state of the experiment, loaded on the run's device."""
from __future__ import annotations

import os
import os.path as osp

import torch
import torch.distributed as dist
from basicsr.utils import check_resume, get_root_logger


def _list_states(state_dir: str) -> list[str]:
    """Training-state files of ``state_dir``, newest iteration first."""
    if not osp.isdir(state_dir):
        return []
    states = [f for f in os.listdir(state_dir) if f.endswith('.state') and f[:-6].isdigit()]
    return [osp.join(state_dir, f) for f in sorted(states, key=lambda f: int(f[:-6]), reverse=True)]


def load_resume_state(opt: dict) -> dict | None:
    """Load the state to resume from: the newest complete one under ``--auto_resume``, on any device; in a distributed
    run, the same one on every process."""
    state = _load_newest_state(opt)
    if opt.get('dist'):
        same_resume_point(opt, None if state is None else state['iter'])
    return state


def same_resume_point(opt: dict, resume_iter: int | None) -> None:
    """Refuse a distributed run whose processes found different training states to resume from: a process that
    starts again from iteration 0 beside others that resume would train out of step and wait for them forever."""
    found = [None] * opt['world_size']
    dist.all_gather_object(found, resume_iter)
    if len(set(found)) > 1:
        where = ', '.join(f'rank {rank}: {"nothing" if it is None else f"iter {it}"}' for rank, it in enumerate(found))
        raise FileNotFoundError(
            f'the processes found different training states to resume from under experiments/{opt["name"]}/ '
            f'({where}): every machine must see the same experiments folder (a shared file system), or copy it from '
            'the machine of rank 0 to the others before resuming')


def _load_newest_state(opt: dict) -> dict | None:
    """The newest readable state of the experiment (``--auto_resume``) or the ``path.resume_state`` file, if any."""
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
