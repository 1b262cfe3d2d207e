"""Metrics, each registered in BasicSR's METRIC_REGISTRY (auto-imported: every module)."""
import os.path as osp

from wne_basicsr._autoimport import import_modules

_modules = import_modules(__name__, osp.dirname(osp.abspath(__file__)), '.py')
