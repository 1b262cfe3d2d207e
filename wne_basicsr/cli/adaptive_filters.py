"""Denoisers as locally adaptive filters (docs/method.md §7): Jacobian rows at chosen pixels, non-linearity ratio ρ.

    python scripts/adaptive_filters.py -opt options/test/analysis/adaptive_filters_quickstart.yml

For every model and σ, the crop of the image with the sweeps' seeded Gaussian noise (draw 0, drawn on the whole image)
is denoised as it is (the network sees the crop only), in float32 and eval mode. At each pixel p (row, col in the
crop) the Jacobian row ∂f(y)_p/∂y comes from a vector-Jacobian product and Σ is the sum of its coefficients; ρ(y) =
‖f(y) − J_f(y)·y‖ / ‖f(y)‖ comes from one Jacobian-vector product. An exactly NE denoiser has Σ = 1 and ρ = 0.
Writes <output_dir>/<name>/adaptive_filters.csv (model, sigma, pixel, row_sum, rho) and adaptive_filters.{png,pdf},
whose Σ and ρ are those of the CSV. Colour models: the row of output channel 0, Σ over every input channel.
"""
from __future__ import annotations

import argparse
import os.path as osp
from collections.abc import Mapping
from dataclasses import dataclass

import torch

import wne_basicsr  # noqa: F401  (compat patches + registration, before anything from basicsr)
from wne_basicsr.data.image_io import COLORS
from wne_basicsr.data.noise import eval_noisy
from wne_basicsr.evaluation.figure_inputs import Crop, check_sigmas, checked_model, image_stem, read_image
from wne_basicsr.evaluation.filter_figures import FilterImages, adaptive_filter_figure, display_array, pixel_text
from wne_basicsr.evaluation.jacobian import euler_terms, jacobian_rows, nonlinearity_ratio
from wne_basicsr.evaluation.networks import load_network, resolve_device
from wne_basicsr.evaluation.options import merge_options
from wne_basicsr.evaluation.plots import save_figure
from wne_basicsr.evaluation.sweep_config import ModelSpec
from wne_basicsr.metrics.psnr_float import psnr_db
from wne_basicsr.startup import prepare_process
from wne_basicsr.utils.csv_io import write_csv

DEFAULTS = {'name': 'adaptive_filters', 'image': None, 'color': 'gray', 'crop': None, 'sigmas': [25, 50],
            'pixels': None, 'seed': 0, 'device': 'auto', 'window': None, 'models': {},
            'output_dir': 'results/analysis/adaptive_filters'}
CSV_COLUMNS = ('model', 'sigma', 'pixel', 'row_sum', 'rho')


@dataclass(frozen=True)
class FilterConfig:
    """A checked options file of the tool (see DEFAULTS and options/test/analysis/adaptive_filters_*.yml)."""

    name: str
    image: str
    color: str
    crop: Crop
    sigmas: tuple[float, ...]
    pixels: tuple[tuple[int, int], ...]
    seed: int
    device: str
    window: int | None
    models: tuple[ModelSpec, ...]
    output_dir: str

    @classmethod
    def from_opt(cls, opt: Mapping) -> FilterConfig:
        """Check every option (files exist, the crop lies inside the image, the pixels inside the crop)."""
        if not opt.get('name'):
            raise ValueError('name: missing (results go to <output_dir>/<name>)')
        if not opt.get('image'):
            raise ValueError('image: missing (the path of one image file)')
        if opt['color'] not in COLORS:
            raise ValueError(f'color: must be one of {COLORS}, got {opt["color"]!r}')
        clean = read_image(str(opt['image']), opt['color'], 'image')
        if opt['crop'] is None:
            crop = Crop(0, 0, *clean.shape[-2:])
        else:
            crop = Crop.from_value(opt['crop'], 'crop')
            crop.check_inside(*clean.shape[-2:], 'crop')
        window = opt['window']
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
            raise ValueError(f'window: expected a heat-map size in pixels (>= 1) or null, got {window!r}')
        models = opt['models']
        if not isinstance(models, Mapping) or not models:
            raise ValueError('models: expected a mapping {label: {options, checkpoint}} with at least one model')
        sigmas = tuple(check_sigmas(opt['sigmas'], 'sigmas'))
        specs = tuple(checked_model(label, m) for label, m in models.items())
        return cls(str(opt['name']), str(opt['image']), opt['color'], crop, sigmas, _pixels(opt['pixels'], crop),
                   int(opt['seed']), str(opt['device']), window, specs, str(opt['output_dir']))

    @property
    def folder(self) -> str:
        """Where the CSV and the figure go: ``<output_dir>/<name>``."""
        return osp.join(self.output_dir, self.name)


def _pixels(value: object, crop: Crop) -> tuple[tuple[int, int], ...]:
    """The ``pixels`` option: [[row, col], …] inside the crop."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f'pixels: expected a non-empty list of [row, col] relative to the crop, got {value!r}')
    pixels = []
    for pixel in value:
        if (not isinstance(pixel, (list, tuple)) or len(pixel) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in pixel)):
            raise ValueError(f'pixels: every entry must be [row, col] (integers), got {pixel!r}')
        if not (0 <= pixel[0] < crop.height and 0 <= pixel[1] < crop.width):
            raise ValueError(f'pixels: {list(pixel)} lies outside the {crop.height}×{crop.width} crop')
        pixels.append((pixel[0], pixel[1]))
    return tuple(pixels)


def parse_args(argv: list[str] | None = None) -> FilterConfig:
    """The options file, overridden by the flags given; every problem is reported with the option's name."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', required=True, help='options YAML (options/test/analysis/adaptive_filters_*.yml)')
    parser.add_argument('--device', help='auto (default), cpu, cuda, …')
    parser.add_argument('--output-dir', help='parent output folder (default results/analysis/adaptive_filters)')
    parser.add_argument('--threads', type=int, help='CPU threads for torch')
    args = vars(parser.parse_args(argv))
    path, threads = args.pop('opt'), args.pop('threads')
    if threads:
        torch.set_num_threads(threads)
    try:
        return FilterConfig.from_opt(merge_options(DEFAULTS, path, args))
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))


def measure(config: FilterConfig) -> tuple[list[dict], dict[tuple[str, float], FilterImages]]:
    """The CSV rows (σ-major, models in order) and what the figure shows of each (model, σ)."""
    device = resolve_device(config.device)
    full = read_image(config.image, config.color, 'image')
    clean = config.crop.apply(full)
    noisy = {sigma: config.crop.apply(eval_noisy(full, 'gaussian', sigma, image_stem(config.image), config.seed, 0))
             for sigma in config.sigmas}
    rows, images = {}, {}
    for spec in config.models:
        net = load_network(spec, device)
        for sigma, y in noisy.items():
            out, tangent = euler_terms(net, y.to(device))
            rho = nonlinearity_ratio(out, tangent)
            maps = jacobian_rows(net, y.to(device), config.pixels).cpu().double()
            rows[(spec.label, sigma)] = [{'model': spec.label, 'sigma': sigma, 'pixel': pixel_text(pixel),
                                          'row_sum': float(row.sum()), 'rho': rho}
                                         for pixel, row in zip(config.pixels, maps)]
            output = out[0].cpu()
            psnrs = float(psnr_db(y, clean)), float(psnr_db(output, clean, clamp=True))
            images[(spec.label, sigma)] = FilterImages(display_array(y), display_array(output), *psnrs,
                                                       tuple(row.sum(dim=0).numpy() for row in maps))
    order = [(spec.label, sigma) for sigma in config.sigmas for spec in config.models]
    return [row for key in order for row in rows[key]], {key: images[key] for key in order}


def write_outputs(config: FilterConfig, rows: list[dict], images: dict[tuple[str, float], FilterImages]) -> str:
    """The CSV, then the figure drawn from the same rows; returns the output folder."""
    write_csv([{**row, 'sigma': f'{row["sigma"]:g}'} for row in rows], osp.join(config.folder, 'adaptive_filters.csv'),
              CSV_COLUMNS)
    figure = adaptive_filter_figure(rows, images, config.pixels, config.window)
    save_figure(figure, osp.join(config.folder, 'adaptive_filters'))
    return config.folder


def main(argv: list[str] | None = None) -> None:
    """Measure Σ and ρ for every model, σ and pixel; write the CSV and the figure; print the values."""
    prepare_process()
    config = parse_args(argv)
    rows, images = measure(config)
    folder = write_outputs(config, rows, images)
    for row in rows:
        print(f'  {row["model"]:>16}  σ = {row["sigma"]:<5g}  pixel {row["pixel"]:>7}  Σ = {row["row_sum"]:.6f}  '
              f'ρ = {row["rho"]:.3e}')
    print(f'→ {folder}/adaptive_filters.csv, adaptive_filters.png / .pdf')


if __name__ == '__main__':
    main()
