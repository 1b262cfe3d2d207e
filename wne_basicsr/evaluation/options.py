"""Options files of the evaluation tools: read a YAML mapping, merge defaults, the file and the command-line flags."""
from __future__ import annotations

import argparse
import os.path as osp

import torch
import yaml

from wne_basicsr.data.noise import NOISE_TYPES
from wne_basicsr.errors import OptionError

# Flags the patch analyses share: name → add_argument keywords (each overrides the options key of the same name).
PATCH_FLAGS = {
    'dataroot-gt': {'nargs': '+', 'help': 'clean training folders or LMDBs (default datasets/Train400)'},
    'sigmas': {'nargs': '+', 'type': float, 'help': 'σ values in 8-bit units (default 10 20 30 40 50)'},
    'patch-size': {'type': int, 'help': 'patch side P (default 70, so √d = 70)'},
    'noise': {'choices': NOISE_TYPES, 'help': 'noise family (default gaussian)'},
    'seed': {'type': int, 'help': 'base seed (default 0)'},
    'output-dir': {'help': 'output folder (default under results/analysis/)'},
    'threads': {'type': int, 'help': 'CPU threads for torch'},
}


def read_yaml(path: str) -> dict:
    """A YAML options file as a dict."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'options file {path!r} does not exist')
    with open(path) as f:
        opt = yaml.safe_load(f)
    if not isinstance(opt, dict):
        raise OptionError(f'{path}: expected a mapping of options, got {type(opt).__name__}')
    return opt


def merge_options(defaults: dict, path: str | None, flags: dict) -> dict:
    """Defaults, then the options file at ``path``, then the flags that were given (not None)."""
    opt = {**defaults, **(read_yaml(path) if path else {})}
    unknown = set(opt) - set(defaults)
    if unknown:
        raise OptionError(f'{path}: unknown options {sorted(unknown)}; expected {sorted(defaults)}')
    opt.update({key: value for key, value in flags.items() if value is not None})
    return opt


def add_patch_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``-opt`` and the flags of ``PATCH_FLAGS`` to an analysis tool's parser."""
    parser.add_argument('-opt', help='options YAML (options/test/analysis/*.yml)')
    for name, keywords in PATCH_FLAGS.items():
        parser.add_argument(f'--{name}', **keywords)


def options_from_flags(parser: argparse.ArgumentParser, defaults: dict, argv: list[str] | None,
                       extra: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Parse ``argv``: defaults, then the ``-opt`` file, then the flags given; ``--threads`` is applied. Returns the
    options and the ``extra`` flags (those that are not options keys), popped out."""
    args = vars(parser.parse_args(argv))
    path, threads = args.pop('opt'), args.pop('threads')
    kept = {name: args.pop(name) for name in extra}
    try:
        opt = merge_options(defaults, path, args)
    except ValueError as err:
        parser.error(str(err))
    if threads:
        torch.set_num_threads(threads)
    return opt, kept
