"""Import every module of a sub-package whose name ends with a suffix, so that it registers itself."""
from __future__ import annotations

import importlib
from os import listdir


def import_modules(package: str, folder: str, suffix: str) -> list:
    """Import ``package.<name>`` for each ``<name><suffix>`` file in ``folder``; return the modules."""
    names = sorted(f[:-3] for f in listdir(folder) if f.endswith(suffix) and not f.startswith(('.', '_')))
    return [importlib.import_module(f'{package}.{name}') for name in names]
