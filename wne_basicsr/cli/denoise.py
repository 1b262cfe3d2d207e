"""Denoise images with a trained checkpoint; no noise level is needed.

    python scripts/denoise.py -opt options/quickstart/train_DnCNN_WNE_s25.yml \\
        --checkpoint experiments/quickstart_DnCNN_WNE_s25/models/net_g_latest.pth --input noisy/ --output denoised/

-opt (or --opt) is a train or test options file: network_g, path.param_key_g (default params_ema, falling back to
params), tile, inference_dtype, channels_last and compile are read from it (the flags of the same names override them),
and allow_tf32. Images of any size, PNG/JPEG/TIFF/BMP/WebP, are denoised and written to --output as <name>.png
(sub-folders kept), 16-bit when the input is 16-bit, else 8-bit; each file appears whole or not at all. --output must
lie outside --input (the noisy originals are never overwritten). A colour image given to a gray network is denoised as
--color-mode says (default per-channel, with a warning per image); a gray image given to a colour network is denoised as
three equal channels. Unreadable images are skipped: the others are still written, and the run then exits with an error
naming every skipped file. --tile N [--overlap M] runs the network tile by tile with whole-image statistics (exact NE).
"""
from __future__ import annotations

import argparse
import logging
import os
import os.path as osp
import sys

import cv2
import numpy as np
import torch
import yaml
from tqdm import tqdm

import wne_basicsr  # noqa: F401  (compat patches + registration, before anything from basicsr)

# isort: split
from basicsr.utils import get_root_logger

from wne_basicsr.data.image_io import IMAGE_EXTENSIONS, decode_image, list_images
from wne_basicsr.inference.forward import TileSpec
from wne_basicsr.inference.precision import PRECISIONS
from wne_basicsr.models.denoising_model import DenoisingModel, input_channels
from wne_basicsr.startup import prepare_process

CHANNEL_COLORS = {1: 'gray', 3: 'rgb'}
COLOR_MODES = ('per-channel', 'y', 'gray')
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601: the Y of full-range YCbCr, and the gray of the training images


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', '--opt', dest='opt', required=True,
                        help='train or test options YAML (its network_g builds the network)')
    parser.add_argument('--checkpoint', required=True, help='BasicSR checkpoint (.pth) of that network')
    parser.add_argument('--input', required=True, help='an image, or a folder searched recursively')
    parser.add_argument('--output', required=True,
                        help='folder for the denoised PNGs, outside --input (refused otherwise)')
    parser.add_argument('--color-mode', choices=COLOR_MODES,
                        help='colour images with a gray (1-channel) network: per-channel (the default: R, G and B '
                             'denoised one by one; colour output), y (the Y of full-range YCbCr denoised and '
                             'recombined with the original Cb and Cr; colour output) or gray (the denoised Y alone; '
                             'gray output). Without this flag each such image gets a warning')
    parser.add_argument('--tile', type=int, help='tile size in pixels (default: the options\' tile, else whole images)')
    parser.add_argument('--overlap', type=int, help='tile overlap in pixels (default: the options\' overlap, else 32)')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto', help='default: cuda if present')
    parser.add_argument('--inference-dtype', choices=PRECISIONS,
                        help="autocast dtype (default: the options' inference_dtype, else fp32; auto: bf16 where the "
                             'device computes it natively)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None,
                        help="channels-last memory format (default: the options' channels_last)")
    parser.add_argument('--compile', action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile the backbone (default: the options' compile)")
    return parser.parse_args(argv)


def tile_option(args: argparse.Namespace, opt: dict) -> dict | None:
    """The ``tile`` option: the options file's, overridden by --tile/--overlap."""
    tile = dict(opt.get('tile') or {})
    if args.tile is not None:
        tile['size'] = args.tile
    if args.overlap is not None:
        tile['overlap'] = args.overlap
    if not tile:
        return None
    if 'size' not in tile:
        raise ValueError('--overlap needs --tile (or a tile option in --opt)')
    TileSpec.from_opt(tile)  # fail before loading anything
    return tile


def build_denoiser(args: argparse.Namespace) -> DenoisingModel:
    """A DenoisingModel in test mode with the network of --opt and the weights of --checkpoint."""
    with open(args.opt) as f:
        opt = yaml.safe_load(f) or {}
    if not isinstance(opt.get('network_g'), dict):
        raise ValueError(f'{args.opt}: the options have no network_g')
    device = args.device if args.device != 'auto' else ('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda: no CUDA device is available')
    path_opt = opt.get('path') or {}
    model_opt = {
        'name': opt.get('name', 'denoise'), 'model_type': 'DenoisingModel', 'scale': 1, 'is_train': False,
        'dist': False, 'rank': 0, 'world_size': 1, 'num_gpu': 1 if device == 'cuda' else 0,
        'network_g': opt['network_g'], 'tile': tile_option(args, opt), 'datasets': {},
        'inference_dtype': args.inference_dtype or opt.get('inference_dtype', 'fp32'),
        'allow_tf32': opt.get('allow_tf32', False),
        'channels_last': opt.get('channels_last', False) if args.channels_last is None else args.channels_last,
        'compile': opt.get('compile') if args.compile is None else args.compile,
        'path': {'pretrain_network_g': args.checkpoint, 'strict_load_g': True,
                 'param_key_g': path_opt.get('param_key_g', 'params_ema')},
    }
    get_root_logger(log_level=logging.ERROR)  # keep BasicSR's network printout and key listings off the console
    return DenoisingModel(model_opt)


def output_paths(input_path: str, output_dir: str) -> list[tuple[str, str]]:
    """(image, PNG to write) pairs for a file or a folder; two inputs that would share an output are refused."""
    if osp.isdir(input_path):
        images = list_images(input_path)
        if not images:
            raise ValueError(f'--input {input_path}: no images ({", ".join(IMAGE_EXTENSIONS)})')
        relative = [osp.relpath(p, input_path) for p in images]
    elif osp.isfile(input_path):
        images, relative = [input_path], [osp.basename(input_path)]
    else:
        raise FileNotFoundError(f'--input {input_path}: no such file or folder')
    outputs = [osp.join(output_dir, osp.splitext(r)[0] + '.png') for r in relative]
    seen: dict[str, str] = {}
    for image, out in zip(images, outputs):
        if out in seen:
            raise ValueError(f'{seen[out]} and {image} would both be written to {out}; rename one of them')
        seen[out] = image
    inputs = {osp.realpath(image) for image in images}
    source, target = osp.realpath(input_path), osp.realpath(output_dir)
    if (osp.isdir(input_path) and osp.commonpath([source, target]) == source) or \
            any(osp.realpath(out) in inputs for out in outputs):
        raise ValueError(f'--output {output_dir} is (inside) --input {input_path}: the denoised images would overwrite '
                         'or mix with the noisy originals; choose an --output folder outside --input')
    return list(zip(images, outputs))


def read_image(path: str, channels: int) -> tuple[torch.Tensor, np.dtype]:
    """The image as a 1×C×H×W float tensor in [0, 1] and its pixel type (uint8 or uint16): RGB for a colour image or
    a colour network, else gray."""
    content = np.fromfile(path, np.uint8)
    raw = cv2.imdecode(content, cv2.IMREAD_UNCHANGED)
    colour = raw is not None and raw.ndim == 3 and raw.shape[2] > 1
    img = decode_image(content.tobytes(), path, 'rgb' if colour or channels == 3 else 'gray')  # checks: corrupt, ...
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None], raw.dtype


def denoise_image(model: DenoisingModel, x: torch.Tensor, name: str, color_mode: str) -> torch.Tensor:
    """The network's output for ``x``; a colour image given to a gray network is denoised as ``color_mode`` says."""
    if x.shape[1] == input_channels(model.inference_network()):
        return model.denoise(x, names=name)
    if color_mode == 'per-channel':
        return torch.cat([model.denoise(x[:, c:c + 1], names=name) for c in range(x.shape[1])], dim=1)
    luma = (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    denoised = model.denoise(luma, names=name)
    # with Cb and Cr kept, the full-range YCbCr → RGB inverse adds the change of Y to each of R, G and B
    return denoised if color_mode == 'gray' else x + (denoised - luma)


def write_png(path: str, out: torch.Tensor, dtype: np.dtype) -> None:
    """Write a 1×C×H×W output clamped to [0, 1] as an 8- or 16-bit PNG (``dtype``), BGR for colour, atomically: a
    hidden temporary file beside ``path`` renamed over it, so that an interrupted run leaves no partial file."""
    peak = np.iinfo(dtype).max
    img = (out[0].clamp(0, 1).cpu().numpy().transpose(1, 2, 0) * peak).round().astype(dtype)
    img = img[..., 0] if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode('.png', img)
    if not ok:
        raise OSError(f'{path}: cannot encode the PNG')
    folder = osp.dirname(path) or '.'
    os.makedirs(folder, exist_ok=True)
    partial = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.partial')
    try:
        with open(partial, 'wb') as f:
            f.write(encoded.tobytes())
        os.replace(partial, path)
    finally:
        if osp.exists(partial):
            os.remove(partial)


def main(argv: list[str] | None = None) -> None:
    """Denoise every input image; exit with a one-line error naming the option on bad options, or every skipped file
    once the others are written."""
    prepare_process()
    args = parse_args(argv)
    skipped = []
    try:
        jobs = output_paths(args.input, args.output)
        model = build_denoiser(args)
        channels = input_channels(model.inference_network())
        if channels not in CHANNEL_COLORS:
            raise ValueError(f'{args.opt}: network_g takes {channels} input channels; only 1 (gray) and 3 (colour) '
                             'images can be denoised')
        for image, out_path in tqdm(jobs, unit='image', desc='denoise'):
            try:
                x, dtype = read_image(image, channels)
                if x.shape[1] != channels and args.color_mode is None:
                    tqdm.write(f'denoise.py: warning: {image}: a colour image and a gray network: R, G and B '
                               'denoised one by one (--color-mode per-channel | y | gray chooses)', file=sys.stderr)
                write_png(out_path, denoise_image(model, x.to(model.device), image, args.color_mode or 'per-channel'),
                          dtype)
            except (ValueError, OSError) as err:  # one bad file: skip it, report it at the end
                skipped.append(str(err) if image in str(err) else f'{image}: {err}')
    except (ValueError, KeyError, OSError) as err:
        sys.exit(f'denoise.py: error: {err}')
    if len(skipped) < len(jobs):
        print(f'denoised {len(jobs) - len(skipped)} image(s) into {osp.abspath(args.output)}')
    if skipped:
        sys.exit(f'denoise.py: error: {len(skipped)} of {len(jobs)} image(s) skipped, nothing written for them: '
                 + '; '.join(skipped))


if __name__ == '__main__':
    main()
