"""Summaries of sampler runs: mean and sample std of the per-image columns, and the stop-reason counts."""
from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summarize(rows: Sequence[dict]) -> dict:
    """Mean and sample std (n − 1) of every numeric per-image column, plus the stop-reason counts."""
    columns = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and k != 'index']
    mean = {k: _finite_or_none(statistics.fmean(float(row[k]) for row in rows)) for k in columns}
    std = {k: _finite_or_none(statistics.stdev(float(row[k]) for row in rows)) if len(rows) > 1 else None
           for k in columns}
    return {'count': len(rows), 'mean': mean, 'std': std, 'stop_reasons': dict(Counter(r['stop_reason'] for r in rows))}
