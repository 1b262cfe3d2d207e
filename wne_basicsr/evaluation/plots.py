"""Figures of the evaluation: mismatch sweeps (a subplot per test set, a line per model, σ_train marked), Δ histograms
and Q-vs-Δ curves of the normalized-coordinate analysis.

Figures are plain ``matplotlib.figure.Figure`` objects (Agg for PNG, no pyplot state), returned so callers and tests
can inspect their lines. Helper artists (σ_train marks, the identity line, √d) carry labels starting with '_'.
"""
from __future__ import annotations

import math
import os
import os.path as osp
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.stats import gaussian_kde

from wne_basicsr.data.degradations import JPEG, level_column
from wne_basicsr.evaluation.sweep_outputs import level_key


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def model_lines(figure: Figure) -> list[list[str]]:
    """Per subplot, the labels of its model lines (helper artists excluded)."""
    return [[line.get_label() for line in ax.get_lines() if not line.get_label().startswith('_')]
            for ax in figure.axes]


def _train_range(text: str) -> tuple[float, float] | None:
    parts = text.split('-')
    return (float(parts[0]), float(parts[1])) if len(parts) == 2 and parts[0] else None


def _mark_train_sigma(ax: Axes, points: list[dict], x_key: str, y_key: str, color: str) -> None:
    """A star and a dashed line at the training σ, or a shaded band for a training σ range."""
    train = [p for p in points if p['is_train_sigma']]
    if train:
        x, y = train[0][x_key], train[0][y_key]
        ax.axvline(x, color=color, linestyle='--', linewidth=0.8, alpha=0.6, label='_sigma_train')
        if math.isfinite(y):
            ax.plot([x], [y], marker='*', markersize=12, color=color, linestyle='none', label='_sigma_train')
        return
    band = _train_range(points[0]['sigma_train']) if points else None
    if band is not None:
        sigmas = [p['sigma_8bit'] for p in points]
        xs = [p[x_key] for p in points]
        lo, hi = (float(np.interp(s, sigmas, xs)) for s in band)
        ax.axvspan(min(lo, hi), max(lo, hi), color=color, alpha=0.08, label='_sigma_train')


def _jpeg(rows: list[dict]) -> bool:
    return level_key(rows) == level_column(JPEG)


def _label_qualities(ax: Axes, points: list[dict]) -> None:
    """A top axis naming the JPEG quality of each input PSNR of the bottom axis."""
    top = ax.secondary_xaxis('top')
    top.set_xticks([p['input_psnr_db'] for p in points], [f'{int(p["quality"])}' for p in points], fontsize=7)
    top.set_xlabel('JPEG quality', fontsize=8)


def sweep_figure(rows: list[dict], x_key: str, y_key: str, xlabel: str, ylabel: str, log_y: bool = False,
                 identity: bool = False) -> Figure:
    """``y_key`` against ``x_key``: a subplot per dataset, a line per model (points in level order)."""
    datasets, models = _unique([r['dataset'] for r in rows]), _unique([r['model'] for r in rows])
    jpeg, level = _jpeg(rows), level_key(rows)
    figure = Figure(figsize=(5.2 * len(datasets), 4.2), layout='constrained')
    axes = figure.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets):
        subset = [r for r in rows if r['dataset'] == dataset]
        for index, model in enumerate(models):
            points = sorted((r for r in subset if r['model'] == model), key=lambda r: float(r[level]))
            color = f'C{index % 10}'
            ax.plot([p[x_key] for p in points], [p[y_key] for p in points], marker='o', markersize=3, color=color,
                    label=model)
            if not jpeg:
                _mark_train_sigma(ax, points, x_key, y_key, color)
        if jpeg and x_key == 'input_psnr_db':
            _label_qualities(ax, points)
        if identity:
            xs = [r[x_key] for r in subset if math.isfinite(r[x_key])]
            ax.plot([min(xs), max(xs)], [min(xs), max(xs)], color='0.5', linestyle=':', linewidth=1,
                    label='_identity')
        if log_y:
            values = [r[y_key] for r in subset if math.isfinite(r[y_key])]
            if values and min(values) > 0:
                ax.set_yscale('log')
            else:
                ax.set_yscale('symlog', linthresh=1e-8)
        noise = subset[0]['noise'] if subset else ''
        ax.set_title(f'{dataset} (JPEG)' if jpeg else f'{dataset} ({noise}; ★ = training σ)', fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure


def psnr_vs_input_figure(rows: list[dict]) -> Figure:
    """The paper's mismatch figure: output float PSNR against input PSNR, with output = input dotted."""
    return sweep_figure(rows, 'input_psnr_db', 'psnr_float_db', 'input PSNR (dB)', 'output PSNR (dB)',
                        identity=True)


def ssim_vs_sigma_figure(rows: list[dict]) -> Figure:
    """SSIM (paper protocol) against σ in 8-bit units (or the JPEG quality)."""
    return sweep_figure(rows, level_key(rows), 'ssim', 'JPEG quality' if _jpeg(rows) else 'σ (8-bit units)', 'SSIM')


def ne_defect_vs_sigma_figure(rows: list[dict]) -> Figure:
    """NE defect against σ (or the JPEG quality), on a log axis."""
    return sweep_figure(rows, level_key(rows), 'ne_defect', 'JPEG quality' if _jpeg(rows) else 'σ (8-bit units)',
                        'NE defect', log_y=True)


def save_figure(figure: Figure, stem: str) -> list[str]:
    """Save as ``stem.png`` and ``stem.pdf``; return the two paths."""
    os.makedirs(osp.dirname(stem) or '.', exist_ok=True)
    paths = [f'{stem}.png', f'{stem}.pdf']
    for path in paths:
        figure.savefig(path, dpi=150)
    return paths


def plot_stems(rows: list[dict]) -> list[str]:
    """File stems of the sweep figures for ``rows``: the NE-defect figure only when it was measured."""
    axis = 'quality' if _jpeg(rows) else 'sigma'
    stems = ['psnr_vs_input', f'ssim_vs_{axis}']
    return stems + [f'ne_defect_vs_{axis}'] if any(math.isfinite(r['ne_defect']) for r in rows) else stems


def write_mismatch_plots(rows: list[dict], folder: str) -> dict[str, Figure]:
    """The three sweep figures saved under ``folder`` (NE defect only when measured); returned by file stem."""
    makers = {'psnr': psnr_vs_input_figure, 'ssim': ssim_vs_sigma_figure, 'ne_defect': ne_defect_vs_sigma_figure}
    figures = {stem: makers[stem.split('_vs_')[0]](rows) for stem in plot_stems(rows)}
    for stem, figure in figures.items():
        save_figure(figure, osp.join(folder, stem))
    return figures


def delta_histogram_figure(deltas: Mapping[float, np.ndarray], dimension: int, bins: int = 40,
                           kde_samples: int = 20000) -> Figure:
    """Δ histograms per σ (densities, ``bins`` bins over [0, 1.05·√d]) with a KDE line each and a line at √d."""
    figure = Figure(figsize=(7, 4.2), layout='constrained')
    ax = figure.subplots()
    top = 1.05 * math.sqrt(dimension)
    grid = np.linspace(0, top, 400)
    for index, (sigma, values) in enumerate(deltas.items()):
        color = f'C{index % 10}'
        ax.hist(values, bins=bins, range=(0, top), density=True, histtype='stepfilled', alpha=0.25, color=color)
        kde = gaussian_kde(values[:kde_samples])
        ax.plot(grid, kde(grid), color=color, label=f'σ = {sigma:g}')
    ax.axvline(math.sqrt(dimension), color='k', linestyle='--', linewidth=0.8, label='_sqrt_d')
    ax.set_xlabel(f'Δ = ‖y − x‖ / s_y   (dashed: √d = {math.sqrt(dimension):.1f})')
    ax.set_ylabel('density')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def q_vs_delta_figure(binned: Mapping[str, Mapping[float, Mapping[str, np.ndarray]]]) -> Figure:
    """Mean ± std of Q per Δ bin: a subplot per model, a line per σ (``binned[model][σ]`` from ``binned_q``)."""
    figure = Figure(figsize=(5.2 * len(binned), 4.2), layout='constrained')
    axes = figure.subplots(1, len(binned), squeeze=False)[0]
    for ax, (model, per_sigma) in zip(axes, binned.items()):
        for index, (sigma, stats) in enumerate(per_sigma.items()):
            color = f'C{index % 10}'
            centres = (stats['edges'][:-1] + stats['edges'][1:]) / 2
            ax.plot(centres, stats['mean'], marker='o', markersize=3, color=color, label=f'σ = {sigma:g}')
            ax.fill_between(centres, stats['mean'] - stats['std'], stats['mean'] + stats['std'], color=color,
                            alpha=0.15, label='_std')
        ax.set_title(model, fontsize=10)
        ax.set_xlabel('Δ = ‖ỹ − x̃‖')
        ax.set_ylabel('Q = −10·log10 ‖f̃ − x̃‖²')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure
