"""The figure tools on tiny inputs: adaptive_filters, compare_panels and shift_manipulation, and their option errors."""
import wne_basicsr  # noqa: F401

# isort: split
import csv
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network
from script_loader import load_script

from wne_basicsr.cli import adaptive_filters, compare_panels, shift_manipulation
from wne_basicsr.data.noise import eval_noisy

TINY = {'type': 'DnCNN', 'num_in_ch': 1, 'num_feat': 6, 'num_layers': 3}
NETWORKS = {'DnCNN': TINY, 'WNE-DnCNN': {'type': 'WNE', 'backbone': TINY}}


@pytest.fixture
def tools(tmp_path):
    """Two images, and training options + BasicSR checkpoints of a tiny DnCNN (random biases) and a tiny WNE(DnCNN)."""
    rng = np.random.default_rng(0)
    (tmp_path / 'images').mkdir()
    for name in ('a', 'b'):
        smooth = cv2.GaussianBlur(rng.uniform(0, 255, (30, 36)), (0, 0), 2)
        cv2.imwrite(str(tmp_path / 'images' / f'{name}.png'), np.clip(smooth, 0, 255).astype(np.uint8))
    models = {}
    for seed, (label, network) in enumerate(NETWORKS.items()):
        torch.manual_seed(seed)
        net = build_network(dict(network)).eval()
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.normal_(module.bias, 0, 0.05)
        options, checkpoint = tmp_path / f'{label}.yml', tmp_path / f'{label}.pth'
        options.write_text(yaml.safe_dump({'name': label, 'network_g': network}))
        torch.save({'params': net.state_dict()}, checkpoint)
        models[label] = {'options': str(options), 'checkpoint': str(checkpoint), 'net': net}
    return tmp_path, models


def _model_entries(models: dict) -> dict:
    return {label: {'options': m['options'], 'checkpoint': m['checkpoint']} for label, m in models.items()}


def _filter_options(tmp_path, models: dict, changes: dict | None = None) -> str:
    opt = {'name': 'tiny', 'image': str(tmp_path / 'images' / 'a.png'), 'crop': [3, 5, 20, 24], 'sigmas': [25, 50],
           'pixels': [[10, 12]], 'device': 'cpu', 'window': 9, 'models': _model_entries(models),
           'output_dir': str(tmp_path / 'out'), **(changes or {})}
    path = tmp_path / 'filters.yml'
    path.write_text(yaml.safe_dump(opt))
    return str(path)


def _error(capsys, main, argv: list[str]) -> str:
    with pytest.raises(SystemExit):
        main(argv)
    return capsys.readouterr().err


def test_adaptive_filters_csv_and_figure_agree(tools, monkeypatch):
    tmp_path, models = tools
    drawn, original = [], adaptive_filters.adaptive_filter_figure
    monkeypatch.setattr(adaptive_filters, 'adaptive_filter_figure', lambda *a: drawn.append(original(*a)) or drawn[-1])
    adaptive_filters.main(['-opt', _filter_options(tmp_path, models)])
    folder = tmp_path / 'out' / 'tiny'
    assert (folder / 'adaptive_filters.png').is_file() and (folder / 'adaptive_filters.pdf').is_file()
    with open(folder / 'adaptive_filters.csv') as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == ('model', 'sigma', 'pixel', 'row_sum', 'rho')
        rows = list(reader)
    assert [(r['model'], r['sigma'], r['pixel']) for r in rows] == [
        ('DnCNN', '25', '10,12'), ('WNE-DnCNN', '25', '10,12'), ('DnCNN', '50', '10,12'), ('WNE-DnCNN', '50', '10,12')]
    for row in rows:
        if row['model'] == 'WNE-DnCNN':
            assert abs(float(row['row_sum']) - 1) < 1e-4 and float(row['rho']) <= 1e-5
        else:
            assert float(row['rho']) > 1e-3
    titles = [ax.get_title() for ax in drawn[0].axes]
    for index, row in enumerate(rows):  # a figure row per CSV row here (one pixel): its Σ and ρ are shown
        assert titles[3 * index + 1].startswith(f'{row["model"]}: ')
        assert titles[3 * index + 1].endswith(f'\nρ = {float(row["rho"]):.3g}')
        assert titles[3 * index + 2] == f'pixel 1 (10, 12)\nΣ = {float(row["row_sum"]):.3f}'


def test_adaptive_filters_rejects_bad_options(tools, capsys):
    tmp_path, models = tools
    missing = {**_model_entries(models), 'WNE-DnCNN': {'options': models['WNE-DnCNN']['options'],
                                                       'checkpoint': str(tmp_path / 'gone.pth')}}
    cases = [({'models': missing}, 'models.WNE-DnCNN.checkpoint: model file'),
             ({'sigmas': [25, -5]}, 'sigmas: every σ must be a number >= 0'),
             ({'sigmas': [25, 'fifty']}, 'sigmas: every σ must be a number >= 0'),
             ({'crop': [20, 20, 20, 20]}, 'crop: crop [20, 20, 20, 20] (top, left, height, width) reaches outside'),
             ({'pixels': [[0, 0], [20, 3]]}, 'pixels: [20, 3] lies outside the 20×24 crop'),
             ({'image': str(tmp_path / 'none.png')}, 'image: image file')]
    for changes, message in cases:
        assert message in _error(capsys, adaptive_filters.main, ['-opt', _filter_options(tmp_path, models, changes)])


def _sweep(tmp_path, models: dict, jpeg: bool = False) -> str:
    levels = {'noise': 'jpeg', 'qualities': [10]} if jpeg else {'sigmas': [25]}
    opt = {'name': 'tiny_sweep', **levels, 'n_averages': 1, 'seed': 3, 'device': 'cpu',
           'datasets': {'tiny': {'dataroot_gt': str(tmp_path / 'images')}}, 'models': _model_entries(models)}
    path = tmp_path / ('jpeg_sweep.yml' if jpeg else 'sweep.yml')
    path.write_text(yaml.safe_dump(opt))
    return str(path)


def test_compare_panels_uses_the_sweeps_noise(tools, monkeypatch, capsys):
    tmp_path, models = tools
    drawn, original = [], compare_panels.comparison_figure
    monkeypatch.setattr(compare_panels, 'comparison_figure', lambda *a: drawn.append(original(*a)) or drawn[-1])
    image = str(tmp_path / 'images' / 'b.png')
    compare_panels.main(['-opt', _sweep(tmp_path, models), '--images', image, '--sigmas', '50',
                         '--crops', '0,0,16,16', '4,6,20,24', '--output', str(tmp_path / 'panels')])
    assert (tmp_path / 'panels' / 'b_sigma50.png').is_file() and (tmp_path / 'panels' / 'b_sigma50.pdf').is_file()
    clean = torch.from_numpy(cv2.imread(image, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255)[None]
    noisy = eval_noisy(clean, 'gaussian', 50, 'b', 3, 0)
    titles = [ax.get_title() for ax in drawn[0].axes]
    assert titles[:2] == ['clean', f'noisy\n{-10 * np.log10(float((noisy - clean).square().mean())):.2f} dB']
    for label, model in models.items():
        with torch.no_grad():
            out = model['net'](noisy[None])[0].clamp(0, 1)
        assert f'{label}\n{-10 * np.log10(float((out - clean).square().mean())):.2f} dB' in titles
    assert len(titles) == 8 and titles[4:] == titles[:4]
    assert 'b  σ = 50' in capsys.readouterr().out


def test_compare_panels_of_a_jpeg_sweep(tools, monkeypatch):
    tmp_path, models = tools
    drawn, original = [], compare_panels.comparison_figure
    monkeypatch.setattr(compare_panels, 'comparison_figure', lambda *a: drawn.append(original(*a)) or drawn[-1])
    image = str(tmp_path / 'images' / 'a.png')
    compare_panels.main(['-opt', _sweep(tmp_path, models, jpeg=True), '--images', image, '--qualities', '10',
                         '--models', 'WNE-DnCNN', '--output', str(tmp_path / 'panels')])
    assert (tmp_path / 'panels' / 'a_q10.png').is_file()
    clean = cv2.imread(image, cv2.IMREAD_GRAYSCALE)
    _, encoded = cv2.imencode('.jpg', clean, [cv2.IMWRITE_JPEG_QUALITY, 10])
    jpeg = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255
    psnr = -10 * np.log10(np.mean((jpeg - clean / 255) ** 2))
    assert [ax.get_title().split('\n')[0] for ax in drawn[0].axes] == ['clean', 'JPEG q = 10', 'WNE-DnCNN']
    assert drawn[0].axes[1].get_title() == f'JPEG q = 10\n{psnr:.2f} dB'


def test_compare_panels_rejects_bad_options(tools, capsys):
    tmp_path, models = tools
    sweep, image = _sweep(tmp_path, models), str(tmp_path / 'images' / 'a.png')
    base = ['-opt', sweep, '--images', image, '--output', str(tmp_path / 'panels')]
    assert '--sigmas: every σ must be a number >= 0' in _error(capsys, compare_panels.main, [*base, '--sigmas', '-5'])
    assert 'argument --sigmas' in _error(capsys, compare_panels.main, [*base, '--sigmas', 'x'])
    assert f'--crops ({image}): crop [10, 0, 25, 10]' in _error(
        capsys, compare_panels.main, [*base, '--sigmas', '25', '--crops', '10,0,25,10'])
    assert '--models: [\'SwinIR\'] are not models' in _error(
        capsys, compare_panels.main, [*base, '--sigmas', '25', '--models', 'SwinIR'])
    jpeg = ['-opt', _sweep(tmp_path, models, jpeg=True), '--images', image]
    assert '--qualities must be a JPEG quality' in _error(capsys, compare_panels.main, [*jpeg, '--qualities', '0'])
    assert '--qualities: a noise: jpeg sweep takes --qualities, not --sigmas' in _error(
        capsys, compare_panels.main, [*jpeg, '--sigmas', '25'])
    models['DnCNN']['checkpoint'] = str(tmp_path / 'gone.pth')
    base[1] = _sweep(tmp_path, models)
    assert 'models.DnCNN.checkpoint: model file' in _error(capsys, compare_panels.main, [*base, '--sigmas', '25'])
    assert not osp.exists(tmp_path / 'panels')


def test_shift_manipulation_from_the_script(tools, capsys):
    tmp_path, _ = tools
    script = load_script('scripts/shift_manipulation.py')
    image = str(tmp_path / 'images' / 'a.png')
    script.main(['--image', image, '--crop', '2,2,20,20', '--output', str(tmp_path / 'shift')])
    assert (tmp_path / 'shift' / 'shift_a.png').is_file() and (tmp_path / 'shift' / 'shift_a.pdf').is_file()
    assert '--crop: crop [2, 2, 40, 20]' in _error(capsys, shift_manipulation.main,
                                                   ['--image', image, '--crop', '2,2,40,20'])
    assert '--image: image file' in _error(capsys, shift_manipulation.main, ['--image', str(tmp_path / 'x.png')])
