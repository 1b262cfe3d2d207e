"""Figures of the filter analysis and the qualitative panels: adaptive filters (Jacobian rows with Σ and ρ), denoising
panels with PSNR labels, and the shift manipulation (an image, minus its minimum, minus its mean, on one colour scale).

Figures are plain ``matplotlib.figure.Figure`` objects (no pyplot state), saved by ``plots.save_figure``. Images are
given as H×W (gray) or H×W×3 (colour) arrays in [0, 1]; ``display_array`` turns a C×H×W tensor into one.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

PANEL_INCHES = 2.4


def display_array(image: Tensor) -> np.ndarray:
    """A C×H×W tensor as an H×W (one channel) or H×W×C float array."""
    array = image.detach().float().cpu().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def _show(ax: Axes, image: np.ndarray) -> None:
    """An image in [0, 1] (values outside are clipped for display only), without ticks."""
    if image.ndim == 2:
        ax.imshow(image, cmap='gray', vmin=0, vmax=1, interpolation='nearest')
    else:
        ax.imshow(np.clip(image, 0, 1), interpolation='nearest')
    ax.set_xticks([])
    ax.set_yticks([])


@dataclass(frozen=True)
class FilterImages:
    """What one (model, σ) row of the adaptive-filter figure shows besides the CSV values."""

    noisy: np.ndarray
    output: np.ndarray
    input_psnr: float
    output_psnr: float
    maps: tuple[np.ndarray, ...]  # one H×W Jacobian row per pixel (summed over input channels)


def _window(shape: tuple[int, int], pixel: Sequence[int], size: int | None) -> tuple[slice, slice]:
    """Rows and columns of a ``size``×``size`` window centred on ``pixel``, shifted to stay inside ``shape``."""
    if size is None:
        return slice(0, shape[0]), slice(0, shape[1])
    spans = []
    for centre, length in zip(pixel, shape):
        extent = min(size, length)
        start = min(max(centre - extent // 2, 0), length - extent)
        spans.append(slice(start, start + extent))
    return spans[0], spans[1]


def _mark_pixels(ax: Axes, pixels: Sequence[Sequence[int]]) -> None:
    for index, (row, col) in enumerate(pixels, 1):
        color = f'C{(index - 1) % 10}'
        ax.plot([col], [row], marker='o', markersize=7, markerfacecolor='none', markeredgecolor=color,
                markeredgewidth=1.5, linestyle='none', label='_pixel')
        ax.annotate(str(index), (col, row), xytext=(4, 4), textcoords='offset points', color=color, fontsize=8,
                    fontweight='bold')


def adaptive_filter_figure(rows: Sequence[Mapping], images: Mapping[tuple[str, float], FilterImages],
                           pixels: Sequence[Sequence[int]], window: int | None = None) -> Figure:
    """A row per (model, σ) of ``images``: noisy, denoised (PSNR, ρ), each pixel's Jacobian row (Σ) in a ``window``².

    Σ and ρ are read from ``rows``, the CSV rows (model, sigma, pixel, row_sum, rho); heat maps use a symmetric scale.
    """
    values = {(r['model'], float(r['sigma']), r['pixel']): r for r in rows}
    keys = list(images)
    columns = 2 + len(pixels)
    figure = Figure(figsize=(PANEL_INCHES * columns + 0.6, PANEL_INCHES * len(keys) + 0.4), layout='constrained')
    axes = figure.subplots(len(keys), columns, squeeze=False)
    for ax_row, (model, sigma) in zip(axes, keys):
        shown = images[(model, sigma)]
        pixel_rows = [values[(model, sigma, pixel_text(p))] for p in pixels]
        _show(ax_row[0], shown.noisy)
        _mark_pixels(ax_row[0], pixels)
        ax_row[0].set_title(f'noisy, σ = {sigma:g}\n{shown.input_psnr:.2f} dB', fontsize=9)
        ax_row[0].set_ylabel(f'{model}\nσ = {sigma:g}', fontsize=10)
        _show(ax_row[1], shown.output)
        _mark_pixels(ax_row[1], pixels)
        ax_row[1].set_title(f'{model}: {shown.output_psnr:.2f} dB\nρ = {float(pixel_rows[0]["rho"]):.3g}', fontsize=9)
        for index, (ax, pixel, row, heat) in enumerate(zip(ax_row[2:], pixels, pixel_rows, shown.maps), 1):
            rows_span, cols_span = _window(heat.shape, pixel, window)
            part = heat[rows_span, cols_span]
            scale = float(np.abs(part).max()) or 1.0
            image = ax.imshow(part, cmap='RdBu_r', vmin=-scale, vmax=scale, interpolation='nearest')
            ax.set_xticks([pixel[1] - cols_span.start], [''])  # ticks on the frame point at the pixel
            ax.set_yticks([pixel[0] - rows_span.start], [''])
            ax.tick_params(length=6, width=1.5, top=True, right=True)
            ax.set_title(f'pixel {index} ({pixel[0]}, {pixel[1]})\nΣ = {float(row["row_sum"]):.3f}', fontsize=9,
                         color=f'C{(index - 1) % 10}')
            figure.colorbar(image, ax=ax, shrink=0.8, ticks=[-scale, 0, scale], format='%.2g').ax.tick_params(
                labelsize=6)
    return figure


def pixel_text(pixel: Sequence[int]) -> str:
    """A pixel as the CSV writes it: 'row,col' (relative to the crop)."""
    return f'{int(pixel[0])},{int(pixel[1])}'


@dataclass(frozen=True)
class Panel:
    """One column of a comparison: a label, a whole image and its PSNR (None for the clean image)."""

    label: str
    image: np.ndarray
    psnr: float | None = None


def comparison_figure(panels: Sequence[Panel], crops: Sequence[tuple[int, int, int, int] | None],
                      title: str = '') -> Figure:
    """A column per panel (clean, noisy, each model), a row per crop box (top, left, height, width; None: whole)."""
    figure = Figure(figsize=(PANEL_INCHES * 1.2 * len(panels), PANEL_INCHES * 1.2 * len(crops) + 0.5),
                    layout='constrained')
    axes = figure.subplots(len(crops), len(panels), squeeze=False)
    for ax_row, crop in zip(axes, crops):
        for ax, panel in zip(ax_row, panels):
            image = panel.image
            if crop is not None:
                top, left, height, width = crop
                image = image[top:top + height, left:left + width]
            _show(ax, image)
            label = panel.label if panel.psnr is None else f'{panel.label}\n{panel.psnr:.2f} dB'
            ax.set_title(label, fontsize=10)
        if crop is not None:
            ax_row[0].set_ylabel(f'crop {list(crop)}', fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def shift_figure(image: np.ndarray, title: str = '') -> Figure:
    """y, y − min(y) and y − mean(y) of an H×W image on one common gray scale, with one colour bar."""
    shifted = {'y': image, 'y − min(y)': image - image.min(), 'y − mean(y)': image - image.mean()}
    low = min(float(v.min()) for v in shifted.values())
    high = max(float(v.max()) for v in shifted.values())
    figure = Figure(figsize=(PANEL_INCHES * 1.5 * 3 + 0.8, PANEL_INCHES * 1.5 + 0.6), layout='constrained')
    axes = figure.subplots(1, 3)
    for ax, (label, values) in zip(axes, shifted.items()):
        shown = ax.imshow(values, cmap='gray', vmin=low, vmax=high, interpolation='nearest')
        ax.set_xticks([])
        ax.set_yticks([])
        # rounded, then + 0.0 so that a mean of -1e-9 prints as 0.000 rather than -0.000
        low_v, high_v, mean = (round(float(v), 3) + 0.0 for v in (values.min(), values.max(), values.mean()))
        ax.set_title(f'{label}\nrange [{low_v:.3f}, {high_v:.3f}], mean {mean:.3f}', fontsize=9)
    figure.colorbar(shown, ax=list(axes), shrink=0.85, label=f'common scale [{low:.3f}, {high:.3f}]')
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
