"""Pack image folders into one BasicSR LMDB that the datasets read with ``io_backend: {type: lmdb}``.

    python scripts/create_lmdb.py --input datasets/Train400 --output datasets/Train400.lmdb
    python scripts/create_lmdb.py --input datasets/DIV2K/DIV2K_train_HR datasets/Flickr2K --output x.lmdb --color gray

Folders are listed recursively. A key is the image's path relative to its input folder without the extension
('/'-separated, as BasicSR's REDS keys), prefixed by the folder's name when several folders are given; characters that
BasicSR keys cannot hold ('.', whitespace, non-ASCII) become '_'. ``--color unchanged`` (default) stores the decoded
pixels as they are (8/16-bit, 1/3/4 channels); ``gray``/``rgb`` convert with the datasets' own decoding (gray = ITU-R
601 luma, rounded; transparency refused), so patches stay identical to reading the folder with that ``color``.
Images are stored as uncompressed PNGs by default (--compress-level 0): decoding dominates the cost of a patch.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import re
import shutil
import sys

import cv2
import numpy as np

import wne_basicsr  # noqa: F401  (compat before basicsr)

# isort: split
from basicsr.utils.lmdb_util import LmdbMaker
from tqdm import tqdm

from wne_basicsr.data.image_io import ImageSource, decode_image

BYTES_PER_PIXEL_BOUND = 9  # 16-bit RGBA (8 bytes, the largest pixel cv2 decodes to) plus PNG and LMDB overhead
PER_IMAGE_SLACK = 64 * 1024
LMDB_SLACK = 1 << 20


def lmdb_key(root: str, path: str, prefixed: bool) -> str:
    """The LMDB key of ``path`` under input folder ``root``: relative path, no extension, valid for BasicSR."""
    key = osp.splitext(osp.relpath(path, root))[0].replace(os.sep, '/')
    if prefixed:
        key = f'{osp.basename(osp.normpath(root))}/{key}'
    return re.sub(r'[^!-~]|\.', '_', key)


def read_pixels(path: str, color: str) -> np.ndarray:
    """The integer pixels to store (BGR or gray, as cv2 writes them): decoded as is, or converted to gray/rgb."""
    with open(path, 'rb') as f:
        content = f.read()
    raw = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f'{path}: cannot decode the image (corrupt or truncated file?)')
    if raw.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'{path}: unsupported pixel type {raw.dtype}; expected 8- or 16-bit integers')
    if color == 'unchanged':
        return raw
    img = np.rint(decode_image(content, path, color) * np.iinfo(raw.dtype).max).astype(raw.dtype)
    return img[..., 0] if color == 'gray' else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)


def prepare_output(output: str, force: bool) -> None:
    """Check the output name; remove an existing LMDB only with ``force``, and never anything that is not one."""
    if not output.endswith('.lmdb'):
        raise ValueError(f'--output {output}: an LMDB folder name must end with ".lmdb"')
    if not osp.exists(output):
        return
    if not force:
        raise FileExistsError(f'--output {output} already exists; pass --force to overwrite it')
    if not osp.isdir(output) or (os.listdir(output) and not osp.isfile(osp.join(output, 'data.mdb'))):
        raise FileExistsError(f'--output {output} exists and is not an LMDB (no data.mdb); not deleting it')
    shutil.rmtree(output)


def create_lmdb(inputs: list[str], output: str, color: str = 'unchanged', force: bool = False,
                compress_level: int = 0) -> int:
    """Write every image under ``inputs`` into the LMDB ``output``; return the number of images."""
    items, owner = [], {}
    for root in inputs:
        if not osp.isdir(root):
            raise FileNotFoundError(f'--input {root}: no such folder')
        for record in ImageSource(root, {'type': 'disk'}, f'--input {root}').records:
            key = lmdb_key(root, record.path, prefixed=len(inputs) > 1)
            if key in owner:
                raise ValueError(f'{record.path} and {owner[key]} would share the LMDB key {key!r}; rename one')
            owner[key] = record.path
            items.append((key, record))
    prepare_output(output, force)
    os.makedirs(osp.dirname(osp.abspath(output)), exist_ok=True)
    map_size = LMDB_SLACK + sum(r.size[0] * r.size[1] * BYTES_PER_PIXEL_BOUND + PER_IMAGE_SLACK for _, r in items)
    maker = LmdbMaker(output, map_size=map_size, compress_level=compress_level)
    try:
        for key, record in tqdm(items, unit='image', desc=osp.basename(output)):
            img = read_pixels(record.path, color)
            ok, encoded = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, compress_level])
            if not ok:
                raise ValueError(f'{record.path}: cannot encode the image as PNG')
            maker.put(encoded.tobytes(), key, (*img.shape[:2], img.shape[2] if img.ndim == 3 else 1))
    except BaseException:
        maker.close()
        shutil.rmtree(output, ignore_errors=True)
        raise
    maker.close()
    return len(items)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', nargs='+', required=True, metavar='DIR', help='image folders (listed recursively)')
    parser.add_argument('--output', required=True, metavar='X.lmdb', help='the LMDB folder to write')
    parser.add_argument('--force', action='store_true', help='overwrite an existing LMDB')
    parser.add_argument('--color', choices=('gray', 'rgb', 'unchanged'), default='unchanged',
                        help='convert before storing (default: store the decoded pixels unchanged)')
    parser.add_argument('--compress-level', type=int, default=0, choices=range(10), metavar='0-9',
                        help='PNG compression of the stored images (default 0: larger, about twice as fast to decode '
                             'as compressed PNGs, which is what makes LMDB patches faster than files)')
    args = parser.parse_args(argv)
    try:
        count = create_lmdb(args.input, args.output, args.color, args.force, args.compress_level)
    except (ValueError, OSError) as err:
        sys.exit(f'create_lmdb: error: {err}')
    print(f'Wrote {count} images to {args.output}')


if __name__ == '__main__':
    main()
