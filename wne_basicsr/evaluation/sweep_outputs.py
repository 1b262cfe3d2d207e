"""What a sweep writes: the tidy CSV (a row per model × set × level), the wide CSVs (a row per level, a column per
model: the format of the paper's curves) and, optionally, tensorboard scalars."""
from __future__ import annotations

import math
import os.path as osp
from collections.abc import Sequence

from wne_basicsr.data.degradations import level_column
from wne_basicsr.evaluation.quality import QUALITY_COLUMNS
from wne_basicsr.utils.csv_io import write_csv

CSV_COLUMNS = ('model', 'dataset', 'degradation', 'noise', 'sigma_8bit', 'sigma', 'quality', 'sigma_train',
               'is_train_sigma', 'n_averages', 'num_images', *QUALITY_COLUMNS, 'ne_defect', 'ne_evaluations')
TENSORBOARD_METRICS = ('psnr_float_db', 'psnr_uint8_db', 'ssim', 'ne_defect')


def write_mismatch_csv(rows: list[dict], path: str) -> str:
    """Write the tidy rows (columns ``CSV_COLUMNS``) to ``path``; return it."""
    return write_csv(rows, path, CSV_COLUMNS)


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
