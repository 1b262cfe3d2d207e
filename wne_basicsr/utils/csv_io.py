"""Writing result rows as CSV files (sweeps, sampler runs, analyses)."""
from __future__ import annotations

import csv
import os
import os.path as osp
from collections.abc import Mapping, Sequence


def write_csv(rows: Sequence[Mapping], path: str, columns: Sequence[str] | None = None) -> str:
    """Write dict rows to ``path`` (its folder made): the ``columns`` of each row, in that order (default: the first
    row's keys; a missing one is a KeyError); return the path."""
    columns = list(columns if columns is not None else rows[0])
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: row[c] for c in columns} for row in rows)
    return path
