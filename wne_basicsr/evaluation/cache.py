"""The sweeps' result cache: small JSON files keyed by a hash of everything that determines a result."""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
from collections.abc import Mapping

CACHE_VERSION = 2  # raised whenever the keys or the measurements change, so that older entries are never read


def file_sha256(path: str) -> str:
    """SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


class ResultCache:
    """Small JSON files keyed by a hash of everything that determines a result; ``folder=None`` turns it off."""

    def __init__(self, folder: str | None) -> None:
        self.folder = folder

    def _path(self, key: Mapping) -> str:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return osp.join(self.folder, digest[:2], f'{digest}.json')

    def get(self, key: Mapping) -> dict | None:
        """The stored value for ``key``, or None."""
        if self.folder is None or not osp.isfile(self._path(key)):
            return None
        with open(self._path(key)) as f:
            return json.load(f)['value']

    def put(self, key: Mapping, value: dict) -> None:
        """Store ``value`` for ``key`` (written to a temporary file, then renamed)."""
        if self.folder is None:
            return
        path = self._path(key)
        os.makedirs(osp.dirname(path), exist_ok=True)
        temporary = f'{path}.{os.getpid()}.tmp'
        with open(temporary, 'w') as f:
            json.dump({'key': key, 'value': value}, f, sort_keys=True)
        os.replace(temporary, path)
