"""Real noisy/clean pairs (SIDD blocks, docs/method.md §4.3): BasicSR's pairing, checked decoding, seeded crops."""
from __future__ import annotations

import os.path as osp

import numpy as np
import torch
from basicsr.data.paired_image_dataset import PairedImageDataset
from basicsr.utils import FileClient
from basicsr.utils.registry import DATASET_REGISTRY

from wne_basicsr.data.catalog import missing_root_hint
from wne_basicsr.data.image_io import COLORS, decode_image
from wne_basicsr.data.noise import TrainingStream
from wne_basicsr.option_checks import DATASET_LOADER_OPTIONS, OptionError
from wne_basicsr.registry_errors import check_known_keys


@DATASET_REGISTRY.register()
class PairedNoisyDataset(TrainingStream, PairedImageDataset):
    """Noisy (``dataroot_lq``) and clean (``dataroot_gt``) images with matching names; returns lq, gt, lq_path, gt_path.

    Pairing is BasicSR's (folders with ``filename_tmpl``, ``meta_info_file`` or LMDBs with equal keys), sorted by name.
    Unlike PairedImageDataset it decodes with the package's checks (corrupt files named, 16-bit scaled, transparency
    refused), offers ``color`` rgb (default) or gray, and in phase train takes a ``gt_size`` crop with h/v flips
    (p 0.5 each) and rot90 k ∈ {0..3} from the training stream (``seed``: see TrainingStream), as docs/method.md §4.3.
    ``max_images`` keeps the first n pairs (default all).
    """

    default_color = 'rgb'
    options = frozenset({'dataroot_gt', 'dataroot_lq', 'io_backend', 'color', 'gt_size', 'use_hflip', 'use_rot', 'seed',
                         'filename_tmpl', 'meta_info_file', 'max_images'})

    def __init__(self, opt: dict) -> None:
        where = f'dataset {opt.get("name", type(self).__name__)}'
        check_known_keys(opt, DATASET_LOADER_OPTIONS | self.options, where)
        opt = {'scale': 1, 'filename_tmpl': '{}', 'use_hflip': True, 'use_rot': True, **opt,
               'io_backend': dict(opt.get('io_backend') or {'type': 'disk'})}  # BasicSR edits io_backend in place
        if opt['scale'] != 1:
            raise OptionError(f'{where}: scale must be 1 for denoising pairs, got {opt["scale"]!r}')
        self.color = opt.get('color', self.default_color)
        if self.color not in COLORS:
            raise OptionError(f'{where}: color must be one of {COLORS}, got {self.color!r}')
        self.train = opt.get('phase') == 'train'
        if self.train and (not isinstance(opt.get('gt_size'), int) or opt['gt_size'] < 1):
            raise OptionError(f'{where}: gt_size must be a positive integer (patch size), got {opt.get("gt_size")!r}')
        max_images = opt.get('max_images')
        if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int)
                                       or max_images < 1):
            raise OptionError(f'{where}: max_images must be a positive integer or null, got {max_images!r}')
        lmdb = opt['io_backend'].get('type') == 'lmdb'
        for key in ('dataroot_lq', 'dataroot_gt'):
            root = opt.get(key)
            if not root or not osp.isdir(root):
                raise FileNotFoundError(f'{where}: {key} {root!r} is not a folder (noisy: lq, clean: gt); '
                                        f'{missing_root_hint(root) if root else "set it in the options"}')
            if lmdb and not osp.isfile(osp.join(root, 'meta_info.txt')):
                raise OptionError(f'{root}: LMDB has no meta_info.txt (make it with scripts/create_lmdb.py)')
        super().__init__(opt)
        self.paths = sorted(self.paths, key=lambda pair: pair['gt_path'])[:max_images]
        if not self.paths:
            raise OptionError(f'{where}: no image pairs in {self.lq_folder} and {self.gt_folder}')
        self.init_stream(self.opt.get('seed'))

    def _read(self, path: str, client_key: str, root: str) -> np.ndarray:
        content = self.file_client.get(path, client_key)
        name = path if self.io_backend_opt['type'] != 'lmdb' else f'{root}/{path}.png'
        if content is None:
            raise OptionError(f'{name}: key {path!r} not found in the LMDB')
        return decode_image(content, name, self.color)

    def _crop_and_augment(self, lq: np.ndarray, gt: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
        gen, p = self.generator(), self.opt['gt_size']
        h, w = gt.shape[:2]
        if h < p or w < p:
            raise OptionError(f'{name} is {h}×{w}, smaller than gt_size={p}')
        top = int(torch.randint(0, h - p + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - p + 1, (1,), generator=gen))
        hflip, vflip = (torch.rand(2, generator=gen) < 0.5).tolist()
        k = int(torch.randint(0, 4, (1,), generator=gen))

        def transform(img: np.ndarray) -> np.ndarray:
            img = img[top:top + p, left:left + p]
            if self.opt['use_hflip'] and hflip:
                img = img[:, ::-1]
            if self.opt['use_rot']:
                img = np.rot90(img[::-1] if vflip else img, k, axes=(0, 1))
            return img

        return transform(lq), transform(gt)

    def __getitem__(self, index: int) -> dict:
        if self.file_client is None:
            backend = dict(self.io_backend_opt)
            self.file_client = FileClient(backend.pop('type'), **backend)
        lq_path, gt_path = self.paths[index]['lq_path'], self.paths[index]['gt_path']
        lq = self._read(lq_path, 'lq', self.lq_folder)
        gt = self._read(gt_path, 'gt', self.gt_folder)
        if lq.shape != gt.shape:
            raise OptionError(f'{lq_path} ({lq.shape[0]}×{lq.shape[1]}) and {gt_path} ({gt.shape[0]}×{gt.shape[1]}) '
                              'differ in size; noisy and clean images must match')
        if self.train:
            lq, gt = self._crop_and_augment(lq, gt, gt_path)
        lq, gt = (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))) for x in (lq, gt))
        return {'lq': lq, 'gt': gt, 'lq_path': lq_path, 'gt_path': gt_path}
