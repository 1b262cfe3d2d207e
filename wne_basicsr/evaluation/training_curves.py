"""Training runs read back from their tensorboard logs: every scalar as a tidy row, the loss and validation curves
as a figure, and the validation values as a Markdown table."""
from __future__ import annotations

import os.path as osp
import re
from collections.abc import Sequence

from matplotlib.figure import Figure

from wne_basicsr.errors import OptionError

LOSS_TAG = 'losses/l_pix'


def _natural(tag: str) -> list:
    """Sort key that orders the numbers inside tags by value (sigma10 < sigma50 < sigma100)."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', tag)]


def read_scalars(logdir: str, label: str) -> list[dict]:
    """Every scalar of the tensorboard run in ``logdir`` as rows {run, tag, step, value}, by tag (numbers in
    natural order) then step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not osp.isdir(logdir):
        raise FileNotFoundError(f'tensorboard run folder {logdir!r} does not exist (tb_logger/<name> of a run with '
                                'logger: use_tb_logger: true)')
    events = EventAccumulator(logdir, size_guidance={'scalars': 0})
    events.Reload()
    tags = sorted(events.Tags()['scalars'], key=_natural)
    if not tags:
        raise OptionError(f'{logdir}: no scalars in this folder (expected tb_logger/<name> of a training run)')
    return [{'run': label, 'tag': tag, 'step': event.step, 'value': event.value}
            for tag in tags for event in events.Scalars(tag)]


def metric_tags(rows: Sequence[dict], metric: str) -> list[str]:
    """The validation tags ``metrics/<set>/<metric>`` of ``rows``, in order of first appearance."""
    return list(dict.fromkeys(r['tag'] for r in rows if r['tag'].startswith('metrics/')
                              and r['tag'].endswith(f'/{metric}')))


def curves_figure(rows: Sequence[dict], metric: str = 'psnr_float', loss_tag: str = LOSS_TAG) -> Figure:
    """The loss against iteration (log scale), then one subplot per validation set with ``metric`` against
    iteration; a line per run in each."""
    tags = metric_tags(rows, metric)
    runs = list(dict.fromkeys(r['run'] for r in rows))
    figure = Figure(figsize=(4 * (1 + len(tags)), 3.4), layout='constrained')
    axes = figure.subplots(1, 1 + len(tags), squeeze=False)[0]
    for ax, tag in zip(axes, [loss_tag, *tags]):
        for run in runs:
            points = sorted((r['step'], r['value']) for r in rows if r['run'] == run and r['tag'] == tag)
            if points:
                ax.plot(*zip(*points), marker='o' if tag != loss_tag else None, markersize=3, label=run)
        ax.set_xlabel('iteration')
        ax.set_title(tag.removeprefix('metrics/').removesuffix(f'/{metric}'))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_yscale('log')
    axes[0].set_ylabel(loss_tag.rsplit('/', 1)[-1])
    for ax in axes[1:]:
        ax.set_ylabel(f'{metric} (dB)' if 'psnr' in metric else metric)
    return figure


def validation_table(rows: Sequence[dict], metric: str = 'psnr_float') -> str:
    """A Markdown table: a row per run and validation iteration, a column per validation set (``metric``)."""
    tags = metric_tags(rows, metric)
    if not tags:
        raise OptionError(f'no validation scalars metrics/<set>/{metric} in these runs')
    values = {(r['run'], r['step'], r['tag']): r['value'] for r in rows}
    order = {run: i for i, run in enumerate(dict.fromkeys(r['run'] for r in rows))}
    keys = sorted({(r['run'], r['step']) for r in rows if r['tag'] in tags}, key=lambda key: (order[key[0]], key[1]))
    names = [tag.removeprefix('metrics/').removesuffix(f'/{metric}') for tag in tags]
    lines = [f'| run | iteration | {" | ".join(names)} |', '|' + '---|' * (2 + len(tags))]
    for run, step in keys:
        cells = [values.get((run, step, tag)) for tag in tags]
        lines.append(f'| {run} | {step} | ' + ' | '.join('–' if v is None else f'{v:.2f}' for v in cells) + ' |')
    return '\n'.join(lines)
