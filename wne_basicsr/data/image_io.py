"""Clean-image sources for the datasets: folders (recursive) or LMDBs through BasicSR's FileClient, checked decoding."""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from basicsr.utils import FileClient
from PIL import Image
from torch import Tensor
from torch.utils import data

from wne_basicsr.data.catalog import missing_root_hint
from wne_basicsr.errors import OptionError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
COLORS = ('gray', 'rgb')


@dataclass(frozen=True)
class ImageRecord:
    """One image: the FileClient key to read it with, its client key, a display path and its (H, W)."""

    key: str
    client_key: str
    path: str
    size: tuple[int, int]


def list_images(folder: str) -> list[str]:
    """Image files under ``folder``, recursively, sorted."""
    found = []
    for root, _, files in os.walk(folder, followlinks=True):
        found.extend(osp.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(found)


def _disk_records(root: str, client_key: str) -> list[ImageRecord]:
    records = []
    for path in list_images(root):
        try:
            with Image.open(path) as im:
                width, height = im.size
        except Exception as err:
            raise OptionError(f'{path}: not a readable image ({err})') from err
        records.append(ImageRecord(path, client_key, path, (height, width)))
    return records


def _lmdb_records(root: str, client_key: str) -> list[ImageRecord]:
    if not root.endswith('.lmdb'):
        raise OptionError(f'{root}: an LMDB folder name must end with ".lmdb"')
    meta = osp.join(root, 'meta_info.txt')
    if not osp.isfile(meta):
        raise OptionError(f'{root}: LMDB has no meta_info.txt (make it with scripts/create_lmdb.py)')
    records = []
    with open(meta) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                name, shape = line.split()[:2]
                height, width = (int(v) for v in shape.strip('()').split(',')[:2])
            except ValueError as err:
                raise OptionError(f'{meta}:{line_no}: expected "<key>.png (h,w,c) <level>", got {line!r}') from err
            key = name.rsplit('.', 1)[0]
            records.append(ImageRecord(key, client_key, f'{root}/{key}.png', (height, width)))
    return records


class ImageSource:
    """Images of one or several roots (folders or LMDBs) read through a lazily opened BasicSR FileClient."""

    def __init__(self, dataroot: str | list[str] | None, io_backend: dict | None, where: str) -> None:
        if not dataroot:
            raise OptionError(f'{where}: option "dataroot_gt" is missing (a folder or .lmdb of clean images)')
        roots = [osp.expanduser(r) for r in ([dataroot] if isinstance(dataroot, str) else dataroot)]
        self.io_opt = dict(io_backend or {'type': 'disk'})
        self.backend = self.io_opt.pop('type', 'disk')
        if self.backend not in ('disk', 'lmdb'):
            raise OptionError(f'{where}: io_backend.type must be "disk" or "lmdb", got {self.backend!r}')
        self.client_keys = [f'gt{i}' for i in range(len(roots))]
        self.records: list[ImageRecord] = []
        for root, client_key in zip(roots, self.client_keys):
            if not osp.exists(root):
                raise FileNotFoundError(f'{where}: dataroot_gt {root!r} does not exist (relative paths are read from '
                                        f'the working directory, {os.getcwd()}); {missing_root_hint(root)}')
            found = _lmdb_records(root, client_key) if self.backend == 'lmdb' else _disk_records(root, client_key)
            if not found:
                raise OptionError(f'{where}: dataroot_gt {root!r} holds no images ({", ".join(IMAGE_EXTENSIONS)})')
            self.records.extend(found)
        self.roots = roots
        self._client: FileClient | None = None

    def __len__(self) -> int:
        return len(self.records)

    def read(self, index: int, color: str) -> np.ndarray:
        """Image ``index`` as float32 H×W×C in [0, 1] (C = 1 for gray, RGB order for rgb)."""
        if self._client is None:
            if self.backend == 'lmdb':
                self._client = FileClient('lmdb', db_paths=self.roots, client_keys=self.client_keys, **self.io_opt)
            else:
                self._client = FileClient('disk', **self.io_opt)
        record = self.records[index]
        content = self._client.get(record.key, record.client_key)
        if content is None:
            raise OptionError(f'{record.path}: key {record.key!r} not found in the LMDB')
        return decode_image(content, record.path, color)


def decode_image(content: bytes, name: str, color: str) -> np.ndarray:
    """Decode image bytes to float32 H×W×C in [0, 1]; 16-bit is scaled by 65535, opaque alpha dropped, gray = BT.601."""
    if color not in COLORS:
        raise OptionError(f'color must be one of {COLORS}, got {color!r}')
    img = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OptionError(f'{name}: cannot decode the image (corrupt or truncated file?)')
    if img.dtype not in (np.uint8, np.uint16):
        raise OptionError(f'{name}: unsupported pixel type {img.dtype}; expected 8- or 16-bit integers')
    peak = float(np.iinfo(img.dtype).max)
    if img.ndim == 3 and img.shape[2] == 4:
        if (img[..., 3] != peak).any():
            raise OptionError(f'{name}: the image has transparency (RGBA with alpha < max); '
                              'flatten it onto a background first')
        img = img[..., :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = img[..., None] if color == 'gray' else np.repeat(img[..., None], 3, axis=2)
    elif color == 'gray':
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[..., None]  # ITU-R 601 luma, rounded
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img.astype(np.float32) / peak


class ImageSetDataset(data.Dataset):
    """Base of the datasets over clean images: options ``dataroot_gt``, ``io_backend``, ``color``, ``max_images``."""

    default_color = 'gray'

    def __init__(self, opt: dict) -> None:
        super().__init__()
        self.opt = opt
        self.where = f'dataset {opt.get("name", type(self).__name__)}'
        self.color = opt.get('color', self.default_color)
        if self.color not in COLORS:
            raise OptionError(f'{self.where}: color must be one of {COLORS}, got {self.color!r}')
        max_images = opt.get('max_images')
        if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int)
                                       or max_images < 1):
            raise OptionError(f'{self.where}: max_images must be a positive integer or null, got {max_images!r}')
        self.source = ImageSource(opt.get('dataroot_gt'), opt.get('io_backend'), self.where)
        self.source.records = self.source.records[:max_images]

    def __len__(self) -> int:
        return len(self.source)

    def clean(self, index: int) -> tuple[np.ndarray, str]:
        """Image ``index`` as float32 H×W×C in [0, 1] and its path."""
        if not 0 <= index < len(self.source):
            raise IndexError(f'{self.where}: index {index} out of range for {len(self.source)} images')
        return self.source.read(index, self.color), self.source.records[index].path


def to_tensor(img: np.ndarray) -> Tensor:
    """H×W×C float array → C×H×W tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
