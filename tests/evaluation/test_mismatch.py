"""Mismatch sweep: σ grid, CSV and plots, per-point cache, batched draws, determinism, and the command line."""
import wne_basicsr  # noqa: F401

# isort: split
import csv
import math

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network

from wne_basicsr.archs.dncnn_arch import DnCNN
from wne_basicsr.cli import mismatch_curve
from wne_basicsr.evaluation import quality
from wne_basicsr.evaluation.mismatch import run_sweep
from wne_basicsr.evaluation.plots import model_lines, write_mismatch_plots
from wne_basicsr.evaluation.sweep_config import SweepConfig, sigma_grid
from wne_basicsr.evaluation.sweep_outputs import CSV_COLUMNS, write_mismatch_csv

TINY = {'type': 'DnCNN', 'num_in_ch': 1, 'num_feat': 4, 'num_layers': 3}
SIGMAS = [10, 50]  # plus σ_train 25: three σ values


def _write_images(folder, count: int, seed: int) -> str:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        smooth = cv2.GaussianBlur(rng.uniform(0, 255, (32, 32)), (0, 0), 2)
        cv2.imwrite(str(folder / f'img{i}.png'), np.clip(smooth, 0, 255).astype(np.uint8))
    return str(folder)


def _checkpoint(path, network_opt: dict, seed: int) -> str:
    torch.manual_seed(seed)
    net = build_network(dict(network_opt))
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.bias, 0, 0.05)
    torch.save({'params': net.state_dict()}, path)
    return str(path)


@pytest.fixture
def sweep_opt(tmp_path) -> dict:
    """Two tiny models (one read through a training options file) on two tiny gray test sets."""
    train_options = tmp_path / 'train_tiny_WNE.yml'
    wne = {'type': 'WNE', 'backbone': TINY}
    train_options.write_text(yaml.safe_dump({'network_g': wne, 'datasets': {
        'train': {'noise': {'type': 'gaussian', 'sigma': 25}}}}))
    return {
        'name': 'tiny', 'sigmas': SIGMAS, 'n_averages': 2, 'batch_size': 8, 'device': 'cpu',
        'ne_defect': {'num_affine': 2}, 'cache_dir': str(tmp_path / 'cache'), 'output_dir': str(tmp_path / 'out'),
        'datasets': {'SetA': {'dataroot_gt': _write_images(tmp_path / 'a', 2, 0)},
                     'SetB': {'dataroot_gt': _write_images(tmp_path / 'b', 1, 1)}},
        'models': {
            'DnCNN': {'network_g': TINY, 'checkpoint': _checkpoint(tmp_path / 'dncnn.pth', TINY, 0),
                      'sigma_train': 25},
            'WNE': {'options': str(train_options), 'checkpoint': _checkpoint(tmp_path / 'wne.pth', wne, 1)}},
    }


@pytest.fixture
def forward_calls(monkeypatch) -> list[int]:
    """Batch sizes of every DnCNN forward call (also those inside WNE)."""
    calls, forward = [], DnCNN.forward

    def counting(self, x):
        calls.append(x.shape[0])
        return forward(self, x)

    monkeypatch.setattr(DnCNN, 'forward', counting)
    return calls


def _read_csv(path: str) -> tuple[list[str], list[dict]]:
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def test_default_sigma_grid_is_twenty_geometric_points_plus_sigma_train():
    grid = sigma_grid(extra=[25])
    assert len(grid) == 21 and grid[0] == 5 and grid[-1] == 100 and 25 in grid
    assert [round(s, 3) for s in grid[1:3]] == [5.854, 6.854] and round(grid[-2], 3) == 85.413


def test_input_psnr_is_of_the_unclamped_noisy_image_and_output_psnr_of_the_clamped_output(monkeypatch):
    """Clean 0.5; every third row of the noisy copy at 1.5, the rest exact; the identity network. Input MSE: 1²/3 →
    10·log10(3) dB; the output clamped to 1 is 0.5 off there: MSE 0.5²/3 → 10·log10(12) dB (in float64: 1/3 is not a
    float32)."""
    clean = torch.full((1, 12, 12), 0.5)
    noisy = clean.clone()
    noisy[:, ::3] = 1.5
    monkeypatch.setattr(quality, 'degraded_copy', lambda image, *args: noisy)
    result = quality.evaluate_quality(torch.nn.Identity(), [('img', clean)], 'gaussian', 25.0, n_averages=2)
    assert result['input_psnr_db'] == pytest.approx(10 * math.log10(3), abs=1e-12)
    assert result['psnr_float_db'] == pytest.approx(10 * math.log10(12), abs=1e-12)


def test_sweep_writes_tidy_csv_and_one_line_per_model(sweep_opt, tmp_path):
    config = SweepConfig.from_opt(sweep_opt)
    assert config.levels == (10, 25, 50) and config.models[1].sigma_train == 25  # σ_train read from the options
    rows = run_sweep(config, progress=False)
    columns, saved = _read_csv(write_mismatch_csv(rows, str(tmp_path / 'out' / 'mismatch.csv')))
    assert tuple(columns) == CSV_COLUMNS
    assert len(saved) == 2 * 2 * 3  # models × datasets × σ
    assert {(r['model'], r['dataset'], float(r['sigma_8bit'])) for r in saved} == {
        (m, d, s) for m in ('DnCNN', 'WNE') for d in ('SetA', 'SetB') for s in (10, 25, 50)}
    assert [r['is_train_sigma'] for r in saved[:3]] == ['0', '1', '0']
    by_key = {(r['model'], r['dataset'], r['sigma_8bit']): r for r in rows}
    assert by_key['WNE', 'SetA', 25.0]['ne_defect'] < 1e-5 < by_key['DnCNN', 'SetA', 25.0]['ne_defect']
    assert abs(by_key['DnCNN', 'SetA', 25.0]['input_psnr_db'] - 20 * math.log10(255 / 25)) < 0.5
    assert all(0 < r['ssim'] <= 1 and 0 < r['ssim_uint8'] <= 1 and math.isfinite(r['psnr_uint8_db']) for r in rows)
    assert {(r['dataset'], r['ne_evaluations']) for r in rows} == {('SetA', 2 * 2), ('SetB', 1 * 2)}  # images × K

    figures = write_mismatch_plots(rows, str(tmp_path / 'out'))
    assert set(figures) == {'psnr_vs_input', 'ssim_vs_sigma', 'ne_defect_vs_sigma'}
    for stem, figure in figures.items():
        assert model_lines(figure) == [['DnCNN', 'WNE'], ['DnCNN', 'WNE']]
        for line in (line for ax in figure.axes for line in ax.get_lines() if line.get_label() in ('DnCNN', 'WNE')):
            assert len(line.get_xdata()) == 3
        png = cv2.imread(str(tmp_path / 'out' / f'{stem}.png'))
        assert png is not None and png.shape[0] > 100 and png.std() > 0
        assert (tmp_path / 'out' / f'{stem}.pdf').read_bytes().startswith(b'%PDF')


def test_draws_are_batched_and_cached_points_are_not_recomputed(sweep_opt, forward_calls):
    first = run_sweep(SweepConfig.from_opt(sweep_opt), progress=False)
    quality_calls = [n for n in forward_calls if n == 2]
    assert len(quality_calls) == 2 * 3 * 3  # one batch of both draws per (model, image, σ)
    forward_calls.clear()
    assert run_sweep(SweepConfig.from_opt(sweep_opt), progress=False) == first
    assert forward_calls == []


def test_adding_a_model_only_computes_that_model(sweep_opt, tmp_path, forward_calls):
    first = {'DnCNN': sweep_opt['models']['DnCNN']}
    run_sweep(SweepConfig.from_opt({**sweep_opt, 'models': first}), progress=False)
    extra = {'network_g': TINY, 'checkpoint': _checkpoint(tmp_path / 'extra.pth', TINY, 7), 'sigma_train': 25}
    forward_calls.clear()
    grown = run_sweep(SweepConfig.from_opt({**sweep_opt, 'models': {**first, 'extra': extra}}), progress=False)
    with_cache = len(forward_calls)
    forward_calls.clear()
    alone = run_sweep(SweepConfig.from_opt({**sweep_opt, 'models': {'extra': extra},
                                            'cache_dir': str(tmp_path / 'fresh')}), progress=False)
    assert with_cache == len(forward_calls) > 0
    assert [r for r in grown if r['model'] == 'extra'] == alone


def test_missing_checkpoints_fail_before_any_work(sweep_opt, forward_calls):
    models = {**sweep_opt['models'], 'untrained': {'network_g': TINY, 'checkpoint': '/nonexistent/net_g_latest.pth'}}
    with pytest.raises(FileNotFoundError, match='untrained: /nonexistent'):
        run_sweep(SweepConfig.from_opt({**sweep_opt, 'models': models}), progress=False)
    assert forward_calls == []


def test_command_line_runs_are_deterministic(sweep_opt, tmp_path):
    options = tmp_path / 'sweep.yml'
    options.write_text(yaml.safe_dump(sweep_opt))
    outputs = []
    for run in ('one', 'two'):
        mismatch_curve.main([
            '-opt', str(options), '--no-cache', '--quiet', '--output-dir', str(tmp_path / run), '--dataset', 'SetC',
            sweep_opt['datasets']['SetB']['dataroot_gt'], '--n-averages', '1', '--no-ne-defect'])
        folder = tmp_path / run / 'tiny'
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f'{stem}.{ext}' for stem in ('psnr_vs_input', 'ssim_vs_sigma') for ext in ('png', 'pdf')]
            + ['mismatch.csv', *(f'mismatch_wide_{name}.csv' for name in ('SetA', 'SetB', 'SetC'))])
        outputs.append((folder / 'mismatch.csv').read_text())
    assert outputs[0] == outputs[1]
    columns, rows = _read_csv(str(tmp_path / 'one' / 'tiny' / 'mismatch.csv'))
    assert len(rows) == 2 * 3 * 3 and {r['dataset'] for r in rows} == {'SetA', 'SetB', 'SetC'}
    assert all(r['n_averages'] == '1' and r['ne_defect'] == 'nan' and r['ne_evaluations'] == '0' for r in rows)
    assert not (tmp_path / 'cache').exists()


@pytest.mark.parametrize('flags, reason', [
    (['--max-images', '1'], 'SetA images 2 → 1'),
    (['--sigmas', '10'], '4 points left out (e.g. DnCNN | SetA | gaussian 50)'),
    (['--n-averages', '1'], 'n_averages 2 → 1'),
    (['--no-ne-defect'], 'the NE defect measured → not measured'),
])
def test_a_shortened_rerun_refuses_to_replace_the_full_sweep_of_the_same_name(sweep_opt, tmp_path, flags, reason):
    options = tmp_path / 'sweep.yml'
    options.write_text(yaml.safe_dump(sweep_opt))
    mismatch_curve.main(['-opt', str(options), '--quiet'])
    full = tmp_path / 'out' / 'tiny' / 'mismatch.csv'
    before = full.read_text()
    with pytest.raises(SystemExit) as stop:
        mismatch_curve.main(['-opt', str(options), '--quiet', *flags])
    assert reason in str(stop.value.code) and 'give --name' in str(stop.value.code)
    assert full.read_text() == before
    mismatch_curve.main(['-opt', str(options), '--quiet', *flags, '--name', 'short'])
    assert full.read_text() == before and (tmp_path / 'out' / 'short' / 'mismatch.csv').is_file()
    mismatch_curve.main(['-opt', str(options), '--quiet', *flags, '--overwrite'])
    assert full.read_text() != before


def test_a_rerun_with_more_models_or_the_same_points_replaces_the_csv(sweep_opt, tmp_path):
    options = tmp_path / 'sweep.yml'
    options.write_text(yaml.safe_dump({**sweep_opt, 'models': {'DnCNN': sweep_opt['models']['DnCNN']}}))
    mismatch_curve.main(['-opt', str(options), '--quiet'])
    mismatch_curve.main(['-opt', str(options), '--quiet'])
    wne = sweep_opt['models']['WNE']
    mismatch_curve.main(['-opt', str(options), '--quiet', '--model', 'WNE', wne['options'], wne['checkpoint']])
    _, rows = _read_csv(str(tmp_path / 'out' / 'tiny' / 'mismatch.csv'))
    assert {r['model'] for r in rows} == {'DnCNN', 'WNE'}


def test_inference_dtype_per_sweep_or_per_model_changes_quality_not_the_ne_defect(sweep_opt, forward_calls):
    """bf16 points are computed apart from the fp32 ones (own cache keys); the NE defect is measured in fp32."""
    fp32 = run_sweep(SweepConfig.from_opt(sweep_opt), progress=False)
    forward_calls.clear()
    models = {**sweep_opt['models'], 'WNE': {**sweep_opt['models']['WNE'], 'inference_dtype': 'fp32'}}
    bf16 = run_sweep(SweepConfig.from_opt({**sweep_opt, 'models': models, 'inference_dtype': 'bf16'}), progress=False)
    assert forward_calls == [2] * 3 * 3  # only DnCNN's quality points: 3 images × 3 σ, NE defects read back
    for a, b in zip(fp32, bf16):
        if a['model'] == 'WNE':
            assert a == b
        else:
            assert a['psnr_float_db'] != b['psnr_float_db'] and abs(a['psnr_float_db'] - b['psnr_float_db']) < 0.5
            assert a['ne_defect'] == b['ne_defect']


def test_bad_inference_options_of_a_model_are_named(sweep_opt):
    models = {**sweep_opt['models'], 'WNE': {**sweep_opt['models']['WNE'], 'inference_dtype': 'half'}}
    with pytest.raises(ValueError, match=r'models.WNE.inference_dtype must be one of'):
        SweepConfig.from_opt({**sweep_opt, 'models': models})


def test_jpeg_sweep_rows_plots_and_cache_keys_by_quality(sweep_opt, forward_calls, tmp_path):
    opt = {**sweep_opt, 'noise': 'jpeg', 'qualities': [20, 80], 'ne_defect': False}
    del opt['sigmas']
    config = SweepConfig.from_opt(opt)
    assert config.levels == (20, 80) and config.n_averages == 1 and config.level_key == 'quality'
    rows = run_sweep(config, progress=False)
    assert len(rows) == 2 * 2 * 2 and {r['degradation'] for r in rows} == {'jpeg'}
    assert {(r['quality'], r['sigma_8bit'], r['is_train_sigma']) for r in rows} == {(20, '', 0), (80, '', 0)}
    by = {(r['model'], r['dataset'], r['quality']): r for r in rows}
    assert by['WNE', 'SetA', 80]['input_psnr_db'] > by['WNE', 'SetA', 20]['input_psnr_db']
    forward_calls.clear()
    grown = run_sweep(SweepConfig.from_opt({**opt, 'qualities': [20, 50, 80]}), progress=False)
    assert len(forward_calls) == 2 * 3  # only quality 50 is new: 2 models × 3 images, one copy each
    assert [r for r in grown if r['quality'] != 50] == rows
    figures = write_mismatch_plots(rows, str(tmp_path / 'plots'))
    assert set(figures) == {'psnr_vs_input', 'ssim_vs_quality'}
    assert figures['ssim_vs_quality'].axes[0].get_xlabel() == 'JPEG quality'
    assert [t.get_text() for t in figures['psnr_vs_input'].axes[0].child_axes[0].get_xticklabels()] == ['20', '80']


def test_jpeg_sweep_options_are_checked(sweep_opt):
    with pytest.raises(ValueError, match='noise: jpeg takes "qualities"'):
        SweepConfig.from_opt({**sweep_opt, 'noise': 'jpeg', 'qualities': [5]})
    opt = {k: v for k, v in sweep_opt.items() if k != 'sigmas'}
    with pytest.raises(ValueError, match=r'qualities\[1\] must be a JPEG quality'):
        SweepConfig.from_opt({**opt, 'noise': 'jpeg', 'qualities': [5, 0]})
    with pytest.raises(ValueError, match='"qualities" go with noise: jpeg'):
        SweepConfig.from_opt({**opt, 'qualities': [5]})
