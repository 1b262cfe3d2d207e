"""Summaries of sampler runs: mean and sample std of the per-image columns, the stop-reason counts, and what to do
about images that did not end at σ_stop."""
from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence

from wne_basicsr.sampling.algorithm import STOP_DIVERGED, STOP_SIGMA


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


def stop_advice(rows: Sequence[dict], sigma_stop_8bit: float) -> str | None:
    """A warning for the images of a run that did not reach σ_stop (``diverged`` or ``max_steps``), with the check
    and the fix; None where every image did."""
    missed = [r for r in rows if r['stop_reason'] != STOP_SIGMA]
    if not missed:
        return None
    finals = [r['final_sigma_8bit'] for r in missed]
    returned = ' each diverged image returned its least noisy state.' if any(
        r['stop_reason'] == STOP_DIVERGED for r in missed) else ''
    reasons = ', '.join(f'{n} {reason}' for reason, n in sorted(Counter(r['stop_reason'] for r in missed).items()))
    return (f'{len(missed)} of {len(rows)} images did not reach sigma_stop {sigma_stop_8bit:.3g} ({reasons}; final '
            f'sigma-hat {min(finals):.3g}-{max(finals):.3g}, 8-bit):{returned} A prior that is '
            f'inaccurate near sigma_stop cannot take the sampler there; check it with scripts/mismatch_curve.py '
            f'--sigmas {sigma_stop_8bit:.3g} (an output PSNR below the input\'s means it is), then train it down to '
            f'lower noise or raise sigma_stop to about their final sigma-hat (docs/sampler.md)')
