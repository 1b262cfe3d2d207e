"""Test set of whole clean images, for models that make their own measurements (the iterative sampler)."""
from __future__ import annotations

from basicsr.utils.registry import DATASET_REGISTRY

from wne_basicsr.data.image_io import ImageSetDataset, to_tensor


@DATASET_REGISTRY.register()
class CleanImageDataset(ImageSetDataset):
    """Whole clean images (sorted); returns gt, gt_path and index.

    Options: dataroot_gt, io_backend, color (gray | rgb), max_images (the first n images; default all).
    """

    def __getitem__(self, index: int) -> dict:
        img, path = self.clean(index)
        return {'gt': to_tensor(img), 'gt_path': path, 'index': index}
