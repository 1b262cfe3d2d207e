"""Datasets, each registered in BasicSR's DATASET_REGISTRY (auto-imported: every `*_dataset.py` file)."""
import os.path as osp

from wne_basicsr._autoimport import import_modules

_modules = import_modules(__name__, osp.dirname(osp.abspath(__file__)), '_dataset.py')
