"""Command-line helpers of the entry points: ``--local-rank`` translation, option type checks, clean DDP exit."""
from __future__ import annotations

import torch.distributed as dist
from basicsr.utils.options import parse_options

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


def parse_checked_options(root_path: str, is_train: bool = True) -> tuple[dict, object]:
    """BasicSR's ``parse_options`` followed by ``check_train_options``."""
    opt, args = parse_options(root_path, is_train)
    check_train_options(opt)
    return opt, args


def close_process_group() -> None:
    """Wait for every rank, then tear the process group down (an abrupt gloo exit can abort a peer on CPU)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
