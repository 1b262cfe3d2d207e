"""Test set of whole clean images, for models that make their own measurements (the iterative sampler)."""
from __future__ import annotations

from basicsr.utils.registry import DATASET_REGISTRY

from wne_basicsr.data.image_io import ImageSetDataset, to_tensor
from wne_basicsr.option_checks import DATASET_LOADER_OPTIONS, OptionError
from wne_basicsr.registry_errors import check_known_keys


@DATASET_REGISTRY.register()
class CleanImageDataset(ImageSetDataset):
    """Whole clean images (sorted), or their central ``center_crop``² square; returns gt, gt_path and index.

    Options: dataroot_gt, io_backend, color (gray | rgb), max_images (the first n images; default all), center_crop
    (side of the central square kept; default the whole image).
    """

    options = frozenset({'dataroot_gt', 'io_backend', 'color', 'max_images', 'center_crop'})

    def __init__(self, opt: dict) -> None:
        check_known_keys(opt, DATASET_LOADER_OPTIONS | self.options, f'dataset {opt.get("name", type(self).__name__)}')
        super().__init__(opt)
        crop = opt.get('center_crop')
        if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
            raise OptionError(f'{self.where}: center_crop must be a positive integer or null, got {crop!r}')
        self.center_crop = crop

    def __getitem__(self, index: int) -> dict:
        img, path = self.clean(index)
        if self.center_crop is not None:
            size = self.center_crop
            h, w = img.shape[:2]
            if h < size or w < size:
                raise OptionError(f'{self.where}: {path} is {h}×{w}, smaller than center_crop {size}')
            top, left = (h - size) // 2, (w - size) // 2
            img = img[top:top + size, left:left + size]
        return {'gt': to_tensor(img), 'gt_path': path, 'index': index}
