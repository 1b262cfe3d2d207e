"""Figures of the filter analysis and the panels, and the checked inputs of the figure tools (crops, σ, model files)."""
import wne_basicsr  # noqa: F401

# isort: split
import cv2
import numpy as np
import pytest
import torch

from wne_basicsr.evaluation.figure_inputs import Crop, check_sigmas, checked_model, read_image
from wne_basicsr.evaluation.filter_figures import (
    FilterImages,
    Panel,
    adaptive_filter_figure,
    comparison_figure,
    display_array,
    pixel_text,
    shift_figure,
)


def _titles(figure) -> list[str]:
    return [ax.get_title() for ax in figure.axes if ax.get_title()]


def test_adaptive_filter_figure_shows_the_rows_values():
    pixels = [(1, 2), (10, 11)]
    rng = np.random.default_rng(0)
    images, rows = {}, []
    for model, row_sum, rho in (('DnCNN', 0.9871, 0.0421), ('WNE-DnCNN', 1.0, 3.2e-8)):
        images[(model, 50.0)] = FilterImages(rng.random((12, 14)), rng.random((12, 14)), 14.1, 22.34,
                                             tuple(rng.normal(size=(12, 14)) for _ in pixels))
        rows += [{'model': model, 'sigma': 50.0, 'pixel': pixel_text(p), 'row_sum': row_sum + i, 'rho': rho}
                 for i, p in enumerate(pixels)]
    figure = adaptive_filter_figure(rows, images, pixels, window=5)
    titles = _titles(figure)
    assert 'DnCNN: 22.34 dB\nρ = 0.0421' in titles and 'WNE-DnCNN: 22.34 dB\nρ = 3.2e-08' in titles
    assert 'pixel 1 (1, 2)\nΣ = 0.987' in titles and 'pixel 2 (10, 11)\nΣ = 1.987' in titles
    assert 'pixel 1 (1, 2)\nΣ = 1.000' in titles and 'noisy, σ = 50\n14.10 dB' in titles
    heat = [ax.get_images()[0] for ax in figure.axes if ax.get_title().startswith('pixel')]
    assert heat[0].get_array().shape == (5, 5) and heat[0].get_clim()[0] == -heat[0].get_clim()[1]


def test_comparison_figure_crops_every_panel_and_labels_psnr():
    image = np.linspace(0, 1, 20 * 24).reshape(20, 24)
    panels = [Panel('clean', image), Panel('noisy', image, 14.234), Panel('WNE', image, 25.456)]
    figure = comparison_figure(panels, [(2, 3, 8, 10), None], 'title')
    assert _titles(figure)[:3] == ['clean', 'noisy\n14.23 dB', 'WNE\n25.46 dB']
    shapes = [ax.get_images()[0].get_array().shape for ax in figure.axes]
    assert shapes == [(8, 10)] * 3 + [(20, 24)] * 3
    assert display_array(torch.zeros(3, 4, 5)).shape == (4, 5, 3)
    assert display_array(torch.zeros(1, 4, 5)).shape == (4, 5)


def test_shift_figure_uses_one_scale():
    image = np.linspace(0.2, 0.9, 30 * 20).reshape(30, 20)
    figure = shift_figure(image)
    shown = [ax.get_images()[0] for ax in figure.axes if ax.get_images()]
    assert len(shown) == 3 and len({im.get_clim() for im in shown}) == 1
    low, high = shown[0].get_clim()
    assert low == pytest.approx(0.2 - image.mean()) and high == pytest.approx(0.9)
    assert float(shown[1].get_array().min()) == 0 and abs(float(shown[2].get_array().mean())) < 1e-12


def test_crops_sigmas_and_images(tmp_path):
    assert Crop.from_value('1,2,3,4', '--crops') == Crop(1, 2, 3, 4) == Crop.from_value([1, 2, 3, 4], 'crop')
    for bad in ('1,2,3', '1,2,x,4', [1, 2, 3.5, 4], [0, -1, 3, 4], [0, 0, 0, 4]):
        with pytest.raises(ValueError, match='^crop:'):
            Crop.from_value(bad, 'crop')
    Crop(2, 3, 10, 5).check_inside(12, 8, 'crop')
    with pytest.raises(ValueError, match=r'^crop: crop \[2, 4, 10, 5\] .* outside the 12×8 image'):
        Crop(2, 4, 10, 5).check_inside(12, 8, 'crop')
    assert check_sigmas([25, 50.5], 'sigmas') == [25.0, 50.5]
    for bad in ([], [25, -1], [25, 'x'], [float('nan')], 25, [25, 25.0]):
        with pytest.raises(ValueError, match='^sigmas:'):
            check_sigmas(bad, 'sigmas')
    cv2.imwrite(str(tmp_path / 'a.png'), np.full((6, 7, 3), (0, 0, 255), np.uint8))  # BGR red
    assert read_image(str(tmp_path / 'a.png'), 'rgb', 'image')[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert read_image(str(tmp_path / 'a.png'), 'gray', 'image').shape == (1, 6, 7)
    with pytest.raises(FileNotFoundError, match='^image: image file .* does not exist'):
        read_image(str(tmp_path / 'missing.png'), 'gray', 'image')


def test_checked_model_names_missing_files(tmp_path):
    options = tmp_path / 'train.yml'
    options.write_text('network_g: {type: DnCNN, num_in_ch: 1}\n')
    with pytest.raises(FileNotFoundError, match='^models.A.checkpoint: model file .* does not exist'):
        checked_model('A', {'options': str(options), 'checkpoint': str(tmp_path / 'none.pth')})
    with pytest.raises(FileNotFoundError, match='^models.B.options: training options file'):
        checked_model('B', {'options': str(tmp_path / 'none.yml'), 'checkpoint': str(tmp_path / 'none.pth')})
    (tmp_path / 'net.pth').write_bytes(b'')
    spec = checked_model('C', {'options': str(options), 'checkpoint': str(tmp_path / 'net.pth')})
    assert spec.label == 'C' and spec.network_opt['type'] == 'DnCNN'
