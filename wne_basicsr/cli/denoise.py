"""Denoise images with a trained checkpoint; no noise level is needed.

    python scripts/denoise.py --opt options/quickstart/train_DnCNN_WNE_s25.yml \\
        --checkpoint experiments/quickstart_DnCNN_WNE_s25/models/net_g_latest.pth --input noisy/ --output denoised/

--opt is a train or test options file: network_g, path.param_key_g (default params_ema, falling back to params), tile,
inference_dtype, channels_last and compile are read from it (the flags of the same names override them). Images of
any size, PNG/JPEG/TIFF/BMP/WebP, are read as gray or colour according to the network's input channels; each is
written to --output as <name>.png (sub-folders kept), 16-bit when the input is 16-bit, else 8-bit. --tile N
[--overlap M] runs the network tile by tile with whole-image statistics (exact NE).
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--opt', required=True, help='train or test options YAML (its network_g builds the network)')
    parser.add_argument('--checkpoint', required=True, help='BasicSR checkpoint (.pth) of that network')
    parser.add_argument('--input', required=True, help='an image, or a folder searched recursively')
    parser.add_argument('--output', required=True, help='folder for the denoised PNGs')
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
    return list(zip(images, outputs))


def read_image(path: str, color: str) -> tuple[torch.Tensor, np.dtype]:
    """The image as a 1×C×H×W float tensor in [0, 1] and its pixel type (uint8 or uint16)."""
    content = np.fromfile(path, np.uint8)
    raw = cv2.imdecode(content, cv2.IMREAD_UNCHANGED)
    img = decode_image(content.tobytes(), path, color)  # checks: corrupt, depth, transparency
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None], raw.dtype


def write_png(path: str, out: torch.Tensor, dtype: np.dtype) -> None:
    """Write a 1×C×H×W output clamped to [0, 1] as an 8- or 16-bit PNG (``dtype``), BGR for colour."""
    peak = np.iinfo(dtype).max
    img = (out[0].clamp(0, 1).cpu().numpy().transpose(1, 2, 0) * peak).round().astype(dtype)
    img = img[..., 0] if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    if not cv2.imwrite(path, img):
        raise OSError(f'{path}: cannot write the PNG')


def main(argv: list[str] | None = None) -> None:
    """Denoise every input image; exit with a one-line error naming the file or option on bad input."""
    prepare_process()
    args = parse_args(argv)
    try:
        jobs = output_paths(args.input, args.output)
        model = build_denoiser(args)
        channels = input_channels(model.inference_network())
        if channels not in CHANNEL_COLORS:
            raise ValueError(f'{args.opt}: network_g takes {channels} input channels; only 1 (gray) and 3 (colour) '
                             'images can be denoised')
        for image, out_path in tqdm(jobs, unit='image', desc='denoise'):
            x, dtype = read_image(image, CHANNEL_COLORS[channels])
            write_png(out_path, model.denoise(x.to(model.device), names=image), dtype)
    except (ValueError, KeyError, OSError) as err:
        sys.exit(f'denoise.py: error: {err}')
    print(f'denoised {len(jobs)} image(s) into {osp.abspath(args.output)}')


if __name__ == '__main__':
    main()
