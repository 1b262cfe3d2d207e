"""Markdown tables from result CSVs: a mismatch sweep (PSNR per model and test σ or JPEG quality) and sampler runs
(per_image.csv)."""
from __future__ import annotations

import csv
import math
import os.path as osp
from collections.abc import Mapping, Sequence

from wne_basicsr.errors import OptionError
from wne_basicsr.evaluation.sweep_outputs import level_key
from wne_basicsr.sampling.summary import summarize

COLUMNS = ('psnr_float_db', 'psnr_uint8_db', 'ssim', 'ssim_uint8', 'ne_defect')
SAMPLER_COLUMNS = ('image', 'observed_psnr', 'one_pass_psnr', 'final_psnr', 'final_ssim', 'final_step', 'stop_reason')
SAMPLER_TEXT_COLUMNS = ('image', 'stop_reason')  # image stems such as '01' stay text


def read_mismatch_csv(path: str) -> list[dict]:
    """The tidy rows of a mismatch CSV, with the level as a number (``sigma_8bit`` a float, a JPEG ``quality`` an
    int); CSVs written before the ``degradation`` column are read as noise sweeps."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'mismatch CSV {path!r} does not exist (run scripts/mismatch_curve.py first)')
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    missing = {'model', 'dataset', 'sigma_8bit', 'input_psnr_db', *COLUMNS} - set(rows[0] if rows else ())
    if missing:
        raise OptionError(f'{path}: not a mismatch CSV, columns {sorted(missing)} are missing')
    for row in rows:
        row.setdefault('degradation', row.get('noise', ''))
        key = level_key([row])
        row[key] = int(float(row[key])) if key == 'quality' else float(row[key])
    return rows


def _cell(rows: list[dict], level: float, column: str, where: str) -> str:
    """The value of ``column`` at test σ (8-bit) or JPEG quality ``level`` (to 1e-6), formatted; an error names what
    is there."""
    key = level_key(rows)
    name = 'quality' if key == 'quality' else 'sigma'
    match = [r for r in rows if math.isclose(r[key], level, abs_tol=1e-6)]
    if not match:
        have = sorted({r[key] for r in rows})
        raise OptionError(f'{where}: no row at {name} {level:g}; the CSV has {name} '
                          f'{", ".join(f"{s:g}" for s in have)}')
    value = float(match[0][column]) if match[0][column] not in ('', None) else math.nan
    return '–' if math.isnan(value) else f'{value:.2f}' if 'psnr' in column else f'{value:.3g}'


def mismatch_table(rows: list[dict], sigmas: Sequence[float], datasets: Sequence[str] | None = None,
                   column: str = 'psnr_float_db') -> str:
    """A Markdown table: per test set, the degraded input's PSNR and each model's ``column`` at each test σ (or, for a
    JPEG sweep, each quality in ``sigmas``)."""
    if column not in COLUMNS:
        raise OptionError(f'column must be one of {COLUMNS}, got {column!r}')
    names = list(dict.fromkeys(r['dataset'] for r in rows))
    for name in datasets or ():
        if name not in names:
            raise OptionError(f'test set {name!r} is not in the CSV; it has {names}')
    symbol = 'q' if level_key(rows) == 'quality' else 'σ'
    header = f'| test set | model | {" | ".join(f"{symbol} = {s:g}" for s in sigmas)} |'
    lines = [header, '|' + '---|' * (len(sigmas) + 2)]
    for name in datasets or names:
        of_set = [r for r in rows if r['dataset'] == name]
        models = list(dict.fromkeys(r['model'] for r in of_set))
        first = [r for r in of_set if r['model'] == models[0]]
        lines.append(f'| {name} | input ({"JPEG" if symbol == "q" else "noisy"}) | '
                     + ' | '.join(_cell(first, s, 'input_psnr_db', name) for s in sigmas) + ' |')
        for model in models:
            of_model = [r for r in of_set if r['model'] == model]
            lines.append(f'| {name} | {model} | '
                         + ' | '.join(_cell(of_model, s, column, f'{name}/{model}') for s in sigmas) + ' |')
    return '\n'.join(lines)


def read_sampler_csv(path: str) -> list[dict]:
    """The rows of a sampler ``per_image.csv`` (written by SamplerModel), numbers as floats."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'sampler CSV {path!r} does not exist (run wne_basicsr/test.py with a sampler option)')
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise OptionError(f'{path}: the sampler CSV has no image rows')
    missing = set(SAMPLER_COLUMNS) - set(rows[0])
    if missing:
        raise OptionError(f'{path}: not a sampler per_image.csv, columns {sorted(missing)} are missing')
    return [{key: value if key in SAMPLER_TEXT_COLUMNS else _number(value) for key, value in row.items()}
            for row in rows]


def _number(text: str) -> float | str:
    """``text`` as a float, or as it is when it is not a number."""
    try:
        return float(text)
    except ValueError:
        return text


def sampler_table(runs: Mapping[str, list[dict]]) -> str:
    """A Markdown table: per run (label → per_image rows), the mean PSNRs, final SSIM, steps and stop reasons."""
    lines = ['| model | images | observed | one pass | final (sd) | final SSIM | steps | stop |', '|' + '---|' * 8]
    for label, rows in runs.items():
        summary = summarize(rows)
        mean, sd = summary['mean'], summary['std']['final_psnr']
        stops = sorted(summary['stop_reasons'].items(), key=lambda item: -item[1])
        lines.append(f'| {label} | {summary["count"]} | {mean["observed_psnr"]:.2f} | {mean["one_pass_psnr"]:.2f}'
                     f' | {mean["final_psnr"]:.2f} ({"–" if sd is None else f"{sd:.2f}"}) | {mean["final_ssim"]:.3f}'
                     f' | {mean["final_step"]:.1f} | {", ".join(f"{reason} {n}" for reason, n in stops)} |')
    return '\n'.join(lines)


def sampler_image_table(runs: Mapping[str, list[dict]]) -> str:
    """A Markdown table of the final PSNR per image (the images every run has), with second − first for two runs."""
    labels = list(runs)
    by_image = {label: {r['image']: r for r in rows} for label, rows in runs.items()}
    images = [r['image'] for r in runs[labels[0]] if all(r['image'] in by_image[label] for label in labels)]
    if not images:
        raise OptionError(f'the runs {labels} have no image in common')
    two = len(labels) == 2
    header = '| image | ' + ' | '.join(f'{label} final (steps)' for label in labels) + (
        f' | {labels[1]} − {labels[0]} |' if two else ' |')
    lines = [header, '|' + '---|' * (len(labels) + 1 + two)]
    for image in images:
        rows = [by_image[label][image] for label in labels]
        cells = [f'{r["final_psnr"]:.2f} ({r["final_step"]:.0f})' for r in rows]
        if two:
            cells.append(f'{rows[1]["final_psnr"] - rows[0]["final_psnr"]:+.2f}')
        lines.append(f'| {image} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
