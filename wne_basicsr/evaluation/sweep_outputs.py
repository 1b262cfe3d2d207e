"""What a sweep writes: the tidy CSV (a row per model × set × level), the wide CSVs (a row per level, a column per
model: the format of the paper's curves) and, optionally, tensorboard scalars."""
from __future__ import annotations

import csv
import math
import os.path as osp
from collections.abc import Sequence
from typing import TYPE_CHECKING

from wne_basicsr.data.degradations import level_column
from wne_basicsr.evaluation.quality import QUALITY_COLUMNS
from wne_basicsr.utils.csv_io import write_csv

if TYPE_CHECKING:
    from wne_basicsr.evaluation.sweep_config import SweepConfig

CSV_COLUMNS = ('model', 'dataset', 'degradation', 'noise', 'sigma_8bit', 'sigma', 'quality', 'sigma_train',
               'is_train_sigma', 'n_averages', 'num_images', *QUALITY_COLUMNS, 'ne_defect', 'ne_evaluations')
TENSORBOARD_METRICS = ('psnr_float_db', 'psnr_uint8_db', 'ssim', 'ne_defect')


def write_mismatch_csv(rows: list[dict], path: str) -> str:
    """Write the tidy rows (columns ``CSV_COLUMNS``) to ``path``; return it."""
    return write_csv(rows, path, CSV_COLUMNS)


def what_a_rerun_loses(config: SweepConfig, path: str) -> list[str]:
    """What rewriting the CSV at ``path`` with ``config``'s sweep would lose: points it holds that the sweep leaves out,
    and points measured with other n_averages, image counts or an NE defect the sweep does not measure."""
    if not osp.isfile(path):
        return []
    with open(path, newline='') as f:
        old = list(csv.DictReader(f))
    column = level_column(config.noise)
    counts = {d.name: len(d.source().records) for d in config.datasets}
    new = {(m.label, d.name, config.noise, float(level))
           for m in config.models for d in config.datasets for level in config.levels}
    dropped, changed = [], set()
    for row in old:
        level = row.get(column) or row.get('quality') or row.get('sigma_8bit') or 'nan'
        point = (row['model'], row['dataset'], row.get('degradation') or row.get('noise', ''), float(level))
        if point not in new:
            dropped.append(f'{point[0]} | {point[1]} | {point[2]} {float(level):g}')
            continue
        if int(row.get('n_averages') or config.n_averages) != config.n_averages:
            changed.add(f'n_averages {row["n_averages"]} → {config.n_averages}')
        if int(row.get('num_images') or counts[row['dataset']]) != counts[row['dataset']]:
            changed.add(f'{row["dataset"]} images {row["num_images"]} → {counts[row["dataset"]]}')
        if config.ne_defect is None and row.get('ne_defect') not in ('', 'nan', None):
            changed.add('the NE defect measured → not measured')
    lost = sorted(changed)
    if dropped:
        lost.insert(0, f'{len(dropped)} points left out (e.g. {dropped[0]})')
    return lost


def level_key(rows: Sequence[dict]) -> str:
    """The column holding the rows' degradation level: ``quality`` for JPEG sweeps, else ``sigma_8bit``."""
    return level_column(rows[0].get('degradation', '') if rows else '')


def wide_rows(rows: Sequence[dict], dataset: str) -> list[dict]:
    """The rows of one test set as a table: a row per level with the input PSNR, whether it is a training σ, and per
    model its float and uint8 PSNR (columns ``<model>`` and ``<model>_uint8``)."""
    key = level_key(rows)
    of_set = [r for r in rows if r['dataset'] == dataset]
    models = list(dict.fromkeys(r['model'] for r in of_set))
    table: dict[float, dict] = {}
    for row in of_set:
        level = float(row[key])
        entry = table.setdefault(level, {key: row[key], 'input_psnr_db': row['input_psnr_db'], 'is_train_sigma': 0})
        entry['is_train_sigma'] = max(int(entry['is_train_sigma']), int(row['is_train_sigma']))
        entry[row['model']] = row['psnr_float_db']
        entry[f'{row["model"]}_uint8'] = row['psnr_uint8_db']
    columns = [key, 'input_psnr_db', 'is_train_sigma', *(c for m in models for c in (m, f'{m}_uint8'))]
    return [{c: table[level].get(c, '') for c in columns} for level in sorted(table)]


def write_wide_csvs(rows: Sequence[dict], folder: str) -> list[str]:
    """``mismatch_wide_<set>.csv`` for every test set of ``rows`` in ``folder``; return the paths."""
    paths = []
    for dataset in dict.fromkeys(r['dataset'] for r in rows):
        table = wide_rows(rows, dataset)
        paths.append(write_csv(table, osp.join(folder, f'mismatch_wide_{dataset}.csv')))
    return paths


def write_tensorboard(rows: Sequence[dict], log_dir: str) -> str:
    """Every point as a tensorboard scalar ``<set>/<metric>/<model>``; the step is 1000 × σ (tensorboard steps are
    integers) or the JPEG quality. Returns ``log_dir``."""
    from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415  (tensorboard only when asked for)

    key = level_key(rows)
    scale = 1 if key == 'quality' else 1000
    with SummaryWriter(log_dir=log_dir) as writer:
        for row in rows:
            step = round(float(row[key]) * scale)
            for metric in TENSORBOARD_METRICS:
                value = float(row[metric])
                if math.isfinite(value):
                    writer.add_scalar(f'{row["dataset"]}/{metric}/{row["model"]}', value, step)
    return log_dir
