"""Markdown tables from a mismatch CSV (``scripts/mismatch_curve.py``): PSNR per model and test σ, per test set."""
from __future__ import annotations

import csv
import math
import os.path as osp
from collections.abc import Sequence

COLUMNS = ('psnr_float_db', 'psnr_uint8_db', 'ssim', 'ssim_uint8', 'ne_defect')


def read_mismatch_csv(path: str) -> list[dict]:
    """The tidy rows of a mismatch CSV, with ``sigma_8bit`` as a float."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'mismatch CSV {path!r} does not exist (run scripts/mismatch_curve.py first)')
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    missing = {'model', 'dataset', 'sigma_8bit', 'input_psnr_db', *COLUMNS} - set(rows[0] if rows else ())
    if missing:
        raise ValueError(f'{path}: not a mismatch CSV, columns {sorted(missing)} are missing')
    for row in rows:
        row['sigma_8bit'] = float(row['sigma_8bit'])
    return rows


def _cell(rows: list[dict], sigma: float, column: str, where: str) -> str:
    """The value of ``column`` at test σ ``sigma`` (8-bit, to 1e-6), formatted; an error names what is there."""
    match = [r for r in rows if math.isclose(r['sigma_8bit'], sigma, abs_tol=1e-6)]
    if not match:
        have = sorted({r['sigma_8bit'] for r in rows})
        raise ValueError(f'{where}: no row at sigma {sigma:g}; the CSV has sigma {", ".join(f"{s:g}" for s in have)}')
    value = float(match[0][column]) if match[0][column] not in ('', None) else math.nan
    return '–' if math.isnan(value) else f'{value:.2f}' if 'psnr' in column else f'{value:.3g}'


def mismatch_table(rows: list[dict], sigmas: Sequence[float], datasets: Sequence[str] | None = None,
                   column: str = 'psnr_float_db') -> str:
    """A Markdown table: per test set, the noisy input's PSNR and each model's ``column`` at each test σ."""
    if column not in COLUMNS:
        raise ValueError(f'column must be one of {COLUMNS}, got {column!r}')
    names = list(dict.fromkeys(r['dataset'] for r in rows))
    for name in datasets or ():
        if name not in names:
            raise ValueError(f'test set {name!r} is not in the CSV; it has {names}')
    header = f'| test set | model | {" | ".join(f"σ = {s:g}" for s in sigmas)} |'
    lines = [header, '|' + '---|' * (len(sigmas) + 2)]
    for name in datasets or names:
        of_set = [r for r in rows if r['dataset'] == name]
        models = list(dict.fromkeys(r['model'] for r in of_set))
        first = [r for r in of_set if r['model'] == models[0]]
        lines.append(f'| {name} | input (noisy) | '
                     + ' | '.join(_cell(first, s, 'input_psnr_db', name) for s in sigmas) + ' |')
        for model in models:
            of_model = [r for r in of_set if r['model'] == model]
            lines.append(f'| {name} | {model} | '
                         + ' | '.join(_cell(of_model, s, column, f'{name}/{model}') for s in sigmas) + ' |')
    return '\n'.join(lines)
