"""Figures of sampler runs: PSNR and the effective noise level σ̂ along the trajectory."""
from __future__ import annotations

from matplotlib.figure import Figure

from wne_basicsr.sampling.algorithm import SampleRecord


def trajectory_figure(record: SampleRecord, title: str, sigma_stop_8bit: float) -> Figure:
    """PSNR (left axis) and σ̂ in 8-bit units (right, log) against the step, with the observed and one-pass PSNR."""
    steps = [row['step'] for row in record.trajectory]
    figure = Figure(figsize=(7, 4), layout='constrained')
    ax = figure.add_subplot()
    ax.plot(steps, [row['psnr'] for row in record.trajectory], color='C0', label='PSNR of x̂_t')
    ax.axhline(record.metrics['observed_psnr'], color='C0', ls=':', label='observed')
    ax.axhline(record.metrics['one_pass_psnr'], color='C2', ls='--', label='one pass')
    ax.set_xlabel('step t')
    ax.set_ylabel('PSNR (dB)')
    ax.set_title(title)
    ax.legend(loc='lower right')
    sigma_ax = ax.twinx()
    sigma_ax.semilogy(steps[1:], [row['sigma_hat_8bit'] for row in record.trajectory[1:]], color='C1')
    sigma_ax.axhline(sigma_stop_8bit, color='C1', ls=':')
    sigma_ax.set_ylabel('σ̂ (8-bit units)', color='C1')
    return figure
