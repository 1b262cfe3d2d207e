"""Command-line helpers of the entry points: ``--local-rank`` translation, option parsing and checks, clean DDP exit."""
from __future__ import annotations

import os.path as osp
from collections.abc import Iterator
from contextlib import contextmanager

import basicsr.utils.options
import torch.distributed as dist

# (dotted option, kind, minimum, required): values BasicSR's trainer does arithmetic on before any check of its own.
# '*' stands for any dataset phase; 'int' must be an integer, 'number' an int or float (BasicSR writes !!float 5e3).
TRAIN_OPTION_TYPES = (
    ('datasets.train.batch_size_per_gpu', 'int', 1, True),
    ('datasets.*.num_worker_per_gpu', 'int', 0, False),
    ('datasets.*.dataset_enlarge_ratio', 'number', 1, False),
    ('train.total_iter', 'number', 1, True),
    ('train.warmup_iter', 'number', -1, False),
    ('train.ema_decay', 'number', 0, False),
    ('train.optim_g.lr', 'number', 0, False),
    ('train.optim_g.weight_decay', 'number', 0, False),
    ('logger.print_freq', 'number', 1, True),
    ('logger.save_checkpoint_freq', 'number', 1, True),
    ('val.val_freq', 'number', 1, True),
)


def translate_local_rank(argv: list[str]) -> list[str]:
    """Rewrite ``--local-rank[=N]`` (``torch.distributed.launch`` on torch ≥ 2.0) as BasicSR's ``--local_rank``."""
    return [f'--local_rank{arg[len("--local-rank"):]}' if arg == '--local-rank' or arg.startswith('--local-rank=')
            else arg for arg in argv]


def _option_values(opt: dict, path: str) -> list[tuple[str, object]]:
    """(concrete dotted name, value) of each option matching ``path``; a missing key gives the value ``...``."""
    found: list[tuple[str, object]] = [('', opt)]
    for key in path.split('.'):
        step = []
        for name, node in found:
            if key != '*':
                step.append((f'{name}.{key}'.lstrip('.'), node.get(key, ...) if isinstance(node, dict) else ...))
            elif isinstance(node, dict):
                step.extend((f'{name}.{k}', v) for k, v in node.items())
        found = step
    return found


def check_train_options(opt: dict) -> None:
    """Raise a ValueError naming an option of TRAIN_OPTION_TYPES that is missing, of the wrong type or too small."""
    for path, kind, minimum, required in TRAIN_OPTION_TYPES:
        if path.startswith('val.') and opt.get('val') is None:
            continue  # no validation during training
        for name, value in _option_values(opt, path):
            if value is ... or value is None:
                if required:
                    raise ValueError(f'option {name} is required')
                continue
            types = (int,) if kind == 'int' else (int, float)
            if isinstance(value, bool) or not isinstance(value, types):
                hint = ''
                if isinstance(value, str):
                    hint = (' (quoted in the YAML? PyYAML also reads 2e-4 as a string: write 2.0e-4 or !!float 2e-4)'
                            if kind == 'number' else ' (quoted in the YAML?)')
                article = 'an integer' if kind == 'int' else 'a number'
                raise ValueError(f'option {name} must be {article}, got {value!r} ({type(value).__name__}){hint}')
            if value < minimum:
                raise ValueError(f'option {name} must be at least {minimum}, got {value!r}')


class _PathsWithLists:
    """``os.path`` as BasicSR's option parser sees it, with an ``expanduser`` that also takes a list of paths."""

    def __getattr__(self, name: str):
        return getattr(osp, name)

    @staticmethod
    def expanduser(path: str | list[str]) -> str | list[str]:
        return [osp.expanduser(p) for p in path] if isinstance(path, (list, tuple)) else osp.expanduser(path)


@contextmanager
def list_roots_allowed() -> Iterator[None]:
    """Let BasicSR's ``parse_options`` take a list of roots (``dataroot_gt: [a, b]``): it expands ``~`` on each."""
    module = basicsr.utils.options
    saved, module.osp = module.osp, _PathsWithLists()
    try:
        yield
    finally:
        module.osp = saved


def parse_checked_options(root_path: str, is_train: bool = True) -> tuple[dict, object]:
    """BasicSR's ``parse_options`` (list roots allowed), then ``check_train_options`` for training."""
    with list_roots_allowed():
        opt, args = basicsr.utils.options.parse_options(root_path, is_train)
    if is_train:
        check_train_options(opt)
    return opt, args


def close_process_group(wait: bool = True) -> None:
    """Tear the process group down, first waiting for every rank unless ``wait`` is false (an abrupt gloo exit can
    abort a peer on CPU; a rank that failed must not wait for peers that may never arrive)."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
