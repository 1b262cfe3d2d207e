"""Load a command-line tool of scripts/ or benchmarks/ as a module: they are files run by path, not package modules."""
import importlib.util
import os.path as osp
import sys
from types import ModuleType

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_script(path: str, register: bool = False) -> ModuleType:
    """The module of ``path`` (from the repository root, e.g. 'scripts/denoise.py').

    ``register`` enters it in sys.modules first, which a script defining dataclasses needs.
    """
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
