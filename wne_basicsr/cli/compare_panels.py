"""Qualitative panels of the models of a sweep options file: clean, degraded and each model's output, PSNR on each.

    python scripts/compare_panels.py -opt options/test/mismatch/quickstart_DnCNN_s25.yml \\
        --images datasets/Set12/01.png --sigmas 50 --crops 0,0,256,256 96,112,128,128 \\
        --output results/panels/quickstart_DnCNN_s25
    python scripts/compare_panels.py -opt options/test/mismatch/jpeg_from_uniform_s14.yml \\
        --images datasets/Set12/05.png --qualities 10

The degraded input is the sweeps' copy 0 of the whole image (the sweep's noise family and seed at each σ of --sigmas,
or JPEG at each quality of --qualities for a noise: jpeg sweep). Every model denoises the whole image in eval mode
at the sweep's inference precision, and each panel's PSNR is that of the whole image (float PSNR on [0, 1]; outputs
clamped, the input not), which is the sweep's value for one draw. Each crop box is a row of the figure (no --crops:
the whole image). Writes <output>/<image stem>_sigma<σ>.{png,pdf} (or _q<quality>) per image and level.
"""
from __future__ import annotations

import argparse
import os.path as osp
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

import wne_basicsr  # noqa: F401  (compat patches + registration, before anything from basicsr)
from wne_basicsr.data.degradations import JPEG, degraded_copy
from wne_basicsr.data.image_io import COLORS
from wne_basicsr.data.noise import check_quality
from wne_basicsr.evaluation.figure_inputs import (
    Crop,
    check_checkpoint,
    check_options_file,
    check_sigmas,
    image_stem,
    read_image,
)
from wne_basicsr.evaluation.filter_figures import Panel, comparison_figure, display_array
from wne_basicsr.evaluation.networks import load_network, resolve_device
from wne_basicsr.evaluation.options import read_yaml
from wne_basicsr.evaluation.plots import save_figure
from wne_basicsr.evaluation.sweep_config import ModelSpec, SweepConfig
from wne_basicsr.inference.forward import padded_forward
from wne_basicsr.inference.precision import autocast, precision_dtype
from wne_basicsr.metrics.psnr_float import psnr_db
from wne_basicsr.startup import prepare_process


@dataclass(frozen=True)
class PanelConfig:
    """Checked inputs: the sweep (degradation, seed) and its chosen models; the images, levels and crops."""

    sweep: SweepConfig
    models: tuple[ModelSpec, ...]
    images: dict[str, Tensor]
    levels: tuple[float, ...]  # σ in 8-bit units, or JPEG qualities
    crops: tuple[Crop | None, ...]
    device: str
    output: str


def _levels(args: argparse.Namespace, noise: str) -> tuple[float, ...]:
    """--qualities for a JPEG sweep, else --sigmas, each checked; the other flag is an error."""
    wanted, other = ('--qualities', '--sigmas') if noise == JPEG else ('--sigmas', '--qualities')
    values, unwanted = (args.qualities, args.sigmas) if noise == JPEG else (args.sigmas, args.qualities)
    if unwanted is not None or values is None:
        raise ValueError(f'{wanted}: a noise: {noise} sweep takes {wanted}, not {other}')
    if noise != JPEG:
        return tuple(check_sigmas(values, '--sigmas'))
    qualities = tuple(check_quality(q, '--qualities') for q in values)
    if len(set(qualities)) != len(qualities):
        raise ValueError(f'--qualities: JPEG qualities must be distinct, got {list(qualities)}')
    return qualities


def parse_args(argv: list[str] | None = None) -> PanelConfig:
    """Flags and the sweep options file; every problem is reported with the option's name."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', required=True, help='sweep options YAML (options/test/mismatch/*.yml)')
    parser.add_argument('--images', nargs='+', required=True, help='image files (the noise seed uses the file stem)')
    parser.add_argument('--sigmas', nargs='+', type=float, help='σ values in 8-bit units (noise sweeps)')
    parser.add_argument('--qualities', nargs='+', type=int, help='JPEG qualities in [1, 100] (noise: jpeg sweeps)')
    parser.add_argument('--crops', nargs='+', default=[], metavar='TOP,LEFT,HEIGHT,WIDTH',
                        help='crop boxes in pixels, one figure row each (default: the whole image)')
    parser.add_argument('--models', nargs='+', help='labels of the sweep\'s models to show (default: all, in order)')
    parser.add_argument('--color', choices=COLORS, help='how to read the images (default: the sweep\'s first test set)')
    parser.add_argument('--output', help='output folder (default results/panels/<sweep name>)')
    parser.add_argument('--device', help='auto, cpu, cuda, … (default: the sweep\'s device)')
    parser.add_argument('--threads', type=int, help='CPU threads for torch')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        opt = read_yaml(args.opt)
        entries = opt.get('models')
        if not isinstance(entries, Mapping) or not entries:
            raise ValueError(f'{args.opt}: models: expected a mapping {{label: {{options, checkpoint}}}} of the sweep')
        labels = args.models or list(entries)
        unknown = [label for label in labels if label not in entries]
        if unknown:
            raise ValueError(f'--models: {unknown} are not models of {args.opt} ({list(entries)})')
        for label in labels:
            check_options_file(label, entries[label])
        sweep = SweepConfig.from_opt(opt)
        models = tuple(next(m for m in sweep.models if m.label == label) for label in labels)
        for model in models:
            check_checkpoint(model)
        levels = _levels(args, sweep.noise)
        color = args.color or sweep.datasets[0].color
        images = {path: read_image(path, color, '--images') for path in args.images}
        crops = tuple(Crop.from_value(value, '--crops') for value in args.crops) or (None,)
        for path, image in images.items():
            for crop in crops:
                if crop is not None:
                    crop.check_inside(*image.shape[-2:], f'--crops ({path})')
        return PanelConfig(sweep, models, images, levels, crops, args.device or sweep.device,
                           args.output or osp.join('results', 'panels', sweep.name))
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))


def render(config: PanelConfig) -> list[str]:
    """Denoise every (image, level) with every model; save one figure per (image, level); return the PNG paths."""
    device = resolve_device(config.device)
    jpeg = config.sweep.noise == JPEG
    degraded = {(path, level): degraded_copy(clean, config.sweep.noise, level, image_stem(path), config.sweep.seed, 0)
                for path, clean in config.images.items() for level in config.levels}
    outputs = {}
    for spec in config.models:
        net = load_network(spec, device)
        dtype = precision_dtype(spec.inference_dtype, f'models.{spec.label}.inference_dtype', device)
        for key, y in degraded.items():
            with torch.no_grad(), autocast(device, dtype):
                outputs[key, spec.label] = padded_forward(net, y[None].to(device)).float().cpu()[0]
    paths = []
    for (path, level), y in degraded.items():
        clean, stem = config.images[path], image_stem(path)
        panels = [Panel('clean', display_array(clean)),
                  Panel(f'JPEG q = {level:g}' if jpeg else 'noisy', display_array(y), float(psnr_db(y, clean)))]
        panels += [Panel(spec.label, display_array(outputs[(path, level), spec.label]),
                         float(psnr_db(outputs[(path, level), spec.label], clean, clamp=True)))
                   for spec in config.models]
        for panel in panels[1:]:
            print(f'  {stem}  {"q" if jpeg else "σ"} = {level:g}  {panel.label:>20}: {panel.psnr:.2f} dB')
        where = (f'JPEG quality {level:g}' if jpeg
                 else f'{config.sweep.noise} σ = {level:g} (seed {config.sweep.seed}, draw 0)')
        figure = comparison_figure(panels, [None if c is None else tuple(c.as_list()) for c in config.crops],
                                   f'{stem}, {where}; PSNR of the whole image')
        name = f'{stem}_q{level:g}' if jpeg else f'{stem}_sigma{level:g}'
        paths.append(save_figure(figure, osp.join(config.output, name))[0])
    return paths


def main(argv: list[str] | None = None) -> None:
    """Check the inputs, draw the panels and print where they went."""
    prepare_process()
    for path in render(parse_args(argv)):
        print(f'→ {path} (and .pdf)')


if __name__ == '__main__':
    main()
