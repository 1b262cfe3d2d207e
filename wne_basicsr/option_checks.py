"""Command-line helpers of the entry points: ``--local-rank`` translation, option parsing and checks, clean DDP exit."""
from __future__ import annotations

import os
import os.path as osp
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import basicsr.utils.options
import torch.distributed as dist

from wne_basicsr.cli_help import check_command_line
from wne_basicsr.errors import OptionError  # re-exported: older imports of OptionError from here keep working

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


# The options of any set that BasicSR's parser, data loader and sampler read (besides those of the dataset itself).
DATASET_LOADER_OPTIONS = frozenset({'name', 'type', 'phase', 'scale', 'batch_size_per_gpu', 'num_worker_per_gpu',
                                    'use_shuffle', 'pin_memory', 'persistent_workers', 'prefetch_mode',
                                    'num_prefetch_queue', 'dataset_enlarge_ratio'})


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
    """Raise an OptionError naming an option of TRAIN_OPTION_TYPES that is missing, of the wrong type or too small."""
    for path, kind, minimum, required in TRAIN_OPTION_TYPES:
        if path.startswith('val.') and opt.get('val') is None:
            continue  # no validation during training
        for name, value in _option_values(opt, path):
            if value is ... or value is None:
                if required:
                    raise OptionError(f'option {name} is required')
                continue
            types = (int,) if kind == 'int' else (int, float)
            if isinstance(value, bool) or not isinstance(value, types):
                hint = ''
                if isinstance(value, str):
                    hint = (' (quoted in the YAML? PyYAML also reads 2e-4 as a string: write 2.0e-4 or !!float 2e-4)'
                            if kind == 'number' else ' (quoted in the YAML?)')
                article = 'an integer' if kind == 'int' else 'a number'
                raise OptionError(f'option {name} must be {article}, got {value!r} ({type(value).__name__}){hint}')
            if value < minimum:
                raise OptionError(f'option {name} must be at least {minimum}, got {value!r}')


ROOT_OPTIONS = ('dataroot_gt', 'dataroot_lq')


def _paths(value: object) -> list[str]:
    """The paths of a ``dataroot_*`` option: a string or a list of strings (anything else is left to the dataset)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


def check_dataset_roots(opt: dict, is_train: bool) -> None:
    """Raise a FileNotFoundError naming every ``dataroot_gt`` / ``dataroot_lq`` that does not exist (for testing, those
    of the training sets are left out), with where to get them all."""
    # imported here: the datasets import this module, and importing the catalog imports wne_basicsr.data
    from wne_basicsr.data.catalog import bundled_alternative, missing_roots_hint, word_list

    parts, alternatives, all_missing = [], [], []
    for key, dataset_opt in (opt.get('datasets') or {}).items():
        if not isinstance(dataset_opt, dict) or (not is_train and dataset_opt.get('phase') == 'train'):
            continue
        for option in ROOT_OPTIONS:
            roots = _paths(dataset_opt.get(option))
            missing = [root for root in roots if not osp.exists(osp.expanduser(root))]
            if not missing:
                continue
            others = missing[1:]
            nor = f', nor do{"es" if len(others) == 1 else ""} {word_list([repr(r) for r in others])}' if others else ''
            parts.append(f'datasets.{key}: {option} {missing[0]!r} does not exist{nor}')
            all_missing += missing
            if option == 'dataroot_gt':
                alternatives.append(bundled_alternative(key, roots, missing))
    if not parts:
        return
    relative = (f' (relative paths are read from the working directory, {os.getcwd()})'
                if any(not osp.isabs(osp.expanduser(root)) for root in all_missing) else '')
    raise FileNotFoundError('; '.join(parts) + relative + '; ' + '; '.join(
        hint for hint in (missing_roots_hint(all_missing), *alternatives) if hint))


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
    """``sys.argv`` read by our described parser (``--help``), then by BasicSR's ``parse_options`` (list roots
    allowed); then ``check_train_options`` for training and ``check_dataset_roots``."""
    check_command_line(sys.argv[1:], is_train, sys.argv[0])
    with list_roots_allowed():
        opt, args = basicsr.utils.options.parse_options(root_path, is_train)
    if is_train:
        check_train_options(opt)
    check_dataset_roots(opt, is_train)
    return opt, args


def close_process_group(wait: bool = True) -> None:
    """Tear the process group down, first waiting for every rank unless ``wait`` is false (an abrupt gloo exit can
    abort a peer on CPU; a rank that failed must not wait for peers that may never arrive)."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
