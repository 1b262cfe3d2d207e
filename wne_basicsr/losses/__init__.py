"""Losses, each registered in BasicSR's LOSS_REGISTRY (auto-imported: every `*_loss.py` file)."""
import os.path as osp

from wne_basicsr._autoimport import import_modules

_modules = import_modules(__name__, osp.dirname(osp.abspath(__file__)), '_loss.py')
