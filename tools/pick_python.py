"""Print the python that the Makefile's commands run.

Usage: ``python3 tools/pick_python.py PYTHON VENV_DIR``, run by the python PYTHON names. It prints PYTHON (keeping the
old behaviour) when a virtual environment is active or when PYTHON may install packages with pip; otherwise (no
environment active, and pip refuses PEP 668's externally-managed Python or is missing) it prints VENV_DIR's python,
which ``make install`` creates when it does not exist. An existing VENV_DIR is used whenever no environment is active.
Standard library only: it runs on whatever python3 the system has.
"""
from __future__ import annotations

import importlib.machinery
import os
import sys
import sysconfig

TRUE = ('1', 'true', 'yes', 'on')


def choose(python: str, venv_dir: str, in_venv: bool, venv_exists: bool, managed: bool, has_pip: bool,
           break_system_packages: bool) -> str:
    """The interpreter to run, from the facts about ``python`` (see the module's docstring)."""
    venv_python = os.path.join(venv_dir, 'bin', 'python')
    if in_venv:
        return python
    if venv_exists:
        return venv_python
    if (managed and not break_system_packages) or not has_pip:
        return venv_python
    return python


def facts(venv_dir: str, environ=os.environ) -> dict:
    """What ``choose`` needs, about the running interpreter."""
    return {
        'in_venv': bool(environ.get('VIRTUAL_ENV')) or sys.prefix != sys.base_prefix,
        'venv_exists': os.access(os.path.join(venv_dir, 'bin', 'python'), os.X_OK),
        'managed': os.path.isfile(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')),
        'has_pip': importlib.machinery.PathFinder.find_spec('pip') is not None,  # without importing it
        'break_system_packages': environ.get('PIP_BREAK_SYSTEM_PACKAGES', '').lower() in TRUE,
    }


def main(argv: list[str]) -> int:
    python, venv_dir = argv
    print(choose(python, venv_dir, **facts(venv_dir)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
