"""Cut SIDD-Medium sRGB pairs into blocks (docs/method.md §4.3) for PairedNoisyDataset: <output>/{noisy,clean}.

    python scripts/prepare_sidd.py --input datasets/SIDD_Medium_Srgb/Data --output datasets/SIDD/train
    python scripts/prepare_sidd.py --val-mat ValidationNoisyBlocksSrgb.mat ValidationGtBlocksSrgb.mat \\
        --output datasets/SIDD/val

Training pairs are the ``*GT_SRGB*`` files and their ``*NOISY_SRGB*`` twins found (recursively) under --input. Each
pair is cut into --block × --block blocks every --stride pixels, plus a last row/column flush with the image edge.
Block names drop the GT/NOISY tag (0001_GT_SRGB_010.PNG → 0001_SRGB_010_s001.png), so noisy and clean names match.
--val-mat writes SIDD's validation blocks (images × blocks × H × W × 3, RGB) as <image>_<block>.png. With --lmdb the
blocks go into <output>/noisy.lmdb and <output>/clean.lmdb instead of folders.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.io

import wne_basicsr  # noqa: F401  (compat before basicsr)
from wne_basicsr.cli.create_lmdb import BYTES_PER_PIXEL_BOUND, LMDB_SLACK, PER_IMAGE_SLACK, prepare_output

# isort: split
from basicsr.utils.lmdb_util import LmdbMaker
from tqdm import tqdm

from wne_basicsr.data.image_io import ImageSource

SIDES = ('noisy', 'clean')
Block = tuple[str, np.ndarray, np.ndarray]  # name, noisy block, clean block


def block_starts(length: int, block: int, stride: int) -> list[int]:
    """Block offsets along one axis: 0, stride, 2·stride, … and, if pixels remain, one block flush with the end."""
    starts = list(range(0, length - block + 1, stride))
    if starts and starts[-1] + block < length:
        starts.append(length - block)
    return starts


def find_pairs(root: str) -> list[tuple[str, str, str, tuple[int, int]]]:
    """(name, noisy path, clean path, (H, W)) of every ``*GT_SRGB*`` image under ``root``, sorted."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'--input {root}: no such folder')
    pairs, seen = [], {}
    for record in ImageSource(root, {'type': 'disk'}, f'--input {root}').records:
        base = osp.basename(record.path)
        if 'GT_SRGB' not in base:
            continue
        noisy = osp.join(osp.dirname(record.path), base.replace('GT_SRGB', 'NOISY_SRGB'))
        if not osp.isfile(noisy):
            raise FileNotFoundError(f'{record.path}: its noisy twin {noisy} is missing')
        name = osp.splitext(base)[0].replace('GT_SRGB', 'SRGB').replace('.', '_')
        if name in seen:
            raise ValueError(f'{record.path} and {seen[name]} would give the same block names ({name}_s…)')
        seen[name] = record.path
        pairs.append((name, noisy, record.path, record.size))
    if not pairs:
        raise ValueError(f'--input {root}: no *GT_SRGB* images (expected SIDD-Medium sRGB scene folders)')
    return pairs


class BlockWriter:
    """Writes named blocks as PNGs into a folder, or into an LMDB through BasicSR's LmdbMaker."""

    def __init__(self, path: str, pixels: int, count: int, compress_level: int) -> None:
        self.path, self.compress_level = path, compress_level
        self.maker: LmdbMaker | None = None
        if path.endswith('.lmdb'):
            map_size = LMDB_SLACK + count * (pixels * BYTES_PER_PIXEL_BOUND + PER_IMAGE_SLACK)
            self.maker = LmdbMaker(path, map_size=map_size, compress_level=compress_level)
        else:
            os.makedirs(path)

    def put(self, name: str, img: np.ndarray) -> None:
        ok, encoded = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, self.compress_level])
        if not ok:
            raise ValueError(f'{name}: cannot encode the block as PNG')
        if self.maker is None:
            encoded.tofile(osp.join(self.path, f'{name}.png'))
        else:
            self.maker.put(encoded.tobytes(), name, (*img.shape[:2], img.shape[2] if img.ndim == 3 else 1))

    def close(self) -> None:
        if self.maker is not None:
            self.maker.close()


@dataclass(frozen=True)
class Output:
    """Where blocks go: <folder>/noisy and <folder>/clean as PNG folders, or as .lmdb; overwrite only with force."""

    folder: str
    lmdb: bool = False
    force: bool = False
    compress_level: int = 0


def write_blocks(out: Output, pixels: int, count: int, blocks: Iterable[Block]) -> None:
    """Write ``(name, noisy, clean)`` blocks of ``pixels`` pixels each; remove both outputs if anything fails."""
    paths = [osp.join(out.folder, side + ('.lmdb' if out.lmdb else '')) for side in SIDES]
    for path in paths:
        if out.lmdb:
            prepare_output(path, out.force)
        elif osp.exists(path):
            if not out.force:
                raise FileExistsError(f'{path} already exists; pass --force to overwrite it')
            shutil.rmtree(path)
    os.makedirs(out.folder, exist_ok=True)
    writers = []
    try:
        writers = [BlockWriter(path, pixels, count, out.compress_level) for path in paths]
        for name, *images in blocks:
            for writer, img in zip(writers, images):
                writer.put(name, img)
    except BaseException:
        for writer in writers:
            writer.close()
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        raise
    for writer in writers:
        writer.close()


def read_image(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f'{path}: cannot decode the image (corrupt or truncated file?)')
    return img


def cut_pairs(root: str, out: Output, block: int = 512, stride: int = 384) -> int:
    """Cut every SIDD pair under ``root`` into blocks; return the number of blocks per side."""
    plan = []
    for name, noisy, clean, (h, w) in find_pairs(root):
        if h < block or w < block:
            raise ValueError(f'{clean} is {h}×{w}, smaller than --block {block}')
        plan.append((name, noisy, clean, [(t, x) for t in block_starts(h, block, stride)
                                          for x in block_starts(w, block, stride)]))

    def blocks() -> Iterator[Block]:
        for name, noisy_path, clean_path, positions in tqdm(plan, unit='pair', desc='SIDD'):
            noisy, clean = read_image(noisy_path), read_image(clean_path)
            if noisy.shape != clean.shape:
                raise ValueError(f'{noisy_path} {noisy.shape} and {clean_path} {clean.shape} differ in shape')
            for index, (t, x) in enumerate(positions, 1):
                yield f'{name}_s{index:03d}', noisy[t:t + block, x:x + block], clean[t:t + block, x:x + block]

    count = sum(len(positions) for *_, positions in plan)
    write_blocks(out, block * block, count, blocks())
    return count


def load_mat_blocks(path: str) -> np.ndarray:
    """The images × blocks × H × W × 3 uint8 RGB array of a SIDD .mat file."""
    arrays = [v for k, v in scipy.io.loadmat(path).items() if not k.startswith('__')]
    if len(arrays) != 1 or arrays[0].ndim != 5 or arrays[0].shape[-1] != 3 or arrays[0].dtype != np.uint8:
        raise ValueError(f'{path}: expected one uint8 array shaped images × blocks × H × W × 3')
    return arrays[0]


def write_validation(noisy_mat: str, clean_mat: str, out: Output) -> int:
    """Write SIDD's validation blocks as <image>_<block> images; return the number of blocks."""
    noisy, clean = load_mat_blocks(noisy_mat), load_mat_blocks(clean_mat)
    if noisy.shape != clean.shape:
        raise ValueError(f'{noisy_mat} {noisy.shape} and {clean_mat} {clean.shape} differ in shape')
    images, per_image, h, w, _ = clean.shape
    blocks = ((f'{i:02d}_{j:02d}', cv2.cvtColor(noisy[i, j], cv2.COLOR_RGB2BGR),
               cv2.cvtColor(clean[i, j], cv2.COLOR_RGB2BGR)) for i in range(images) for j in range(per_image))
    write_blocks(out, h * w, images * per_image, blocks)
    return images * per_image


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--input', metavar='DIR', help='SIDD-Medium sRGB data (scene folders of GT/NOISY pairs)')
    source.add_argument('--val-mat', nargs=2, metavar=('NOISY.mat', 'GT.mat'), help='SIDD validation blocks')
    parser.add_argument('--output', required=True, metavar='DIR', help='writes DIR/noisy and DIR/clean')
    parser.add_argument('--lmdb', action='store_true', help='write DIR/noisy.lmdb and DIR/clean.lmdb instead')
    parser.add_argument('--block', type=int, default=512, help='block size (default 512)')
    parser.add_argument('--stride', type=int, default=384, help='block stride (default 384)')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    parser.add_argument('--compress-level', type=int, default=0, choices=range(10), metavar='0-9',
                        help='PNG compression (default 0: larger files, fastest to decode; see create_lmdb.py)')
    args = parser.parse_args(argv)
    if args.block < 1 or args.stride < 1:
        parser.error('--block and --stride must be positive')
    out = Output(args.output, args.lmdb, args.force, args.compress_level)
    try:
        if args.input:
            count = cut_pairs(args.input, out, args.block, args.stride)
        else:
            count = write_validation(*args.val_mat, out)
    except (ValueError, OSError) as err:
        sys.exit(f'prepare_sidd: error: {err}')
    print(f'Wrote {count} noisy/clean block pairs under {args.output}')


if __name__ == '__main__':
    main()
