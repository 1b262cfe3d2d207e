"""Resumable, checked downloads of the catalog's archives, and their unpacking (``scripts/download_datasets.py``).

Under the datasets root, ``.downloads/`` holds the file being downloaded (``<file>.part``), a complete download not yet
unpacked (``<file>``), a rejected one (``<file>.corrupt``) and the markers of what is done (``<file>.done``);
``.download_lock.json`` holds the SHA-256 of each archive whose publisher gives no checksum.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import os.path as osp
import time
from urllib.parse import urlsplit

import requests
from tqdm import tqdm

from wne_basicsr.data.archives import DownloadError, unpack
from wne_basicsr.data.catalog import Archive

STATE_DIR = '.downloads'
LOCK_FILE = '.download_lock.json'
CHUNK = 1 << 20
TIMEOUT_S = (15, 60)  # connect, read
RETRY_WAIT_S = 5.0  # times the attempt number
RETRY_STATUS = (408, 429, 500, 502, 503, 504)


class _Transient(Exception):
    """A transfer that stopped early or was refused for now: trying again may work."""


def state_path(root: str, name: str) -> str:
    """``<root>/.downloads/<name>``."""
    return osp.join(root, STATE_DIR, name)


def with_base_url(url: str, base_url: str) -> str:
    """``url`` with its scheme and host replaced by ``base_url`` (a mirror holding the same paths); '' keeps it."""
    if not base_url:
        return url
    parts = urlsplit(url)
    return base_url.rstrip('/') + parts.path + (f'?{parts.query}' if parts.query else '')


def hash_file(path: str, algo: str) -> str:
    """The hex digest of the file ``path`` with hashlib's ``algo``."""
    hasher = hashlib.new(algo)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(CHUNK), b''):
            hasher.update(chunk)
    return hasher.hexdigest()


def digest_algo(archive: Archive) -> str:
    """The hashlib algorithm the download of ``archive`` is checked with."""
    return 'sha256' if archive.check == 'lock' else archive.check


class Lock:
    """``<root>/.download_lock.json``: the SHA-256 and size of the first complete download of each 'lock' archive."""

    def __init__(self, root: str) -> None:
        self.path = osp.join(root, LOCK_FILE)
        self.entries: dict[str, dict] = {}
        if osp.isfile(self.path):
            try:
                with open(self.path, encoding='utf-8') as f:
                    self.entries = json.load(f)
            except ValueError as err:
                raise DownloadError(f'{self.path}: not valid JSON ({err}); repair or delete it') from None

    def record(self, archive: Archive, sha256: str, size: int) -> None:
        """Record the first complete download of ``archive`` and write the file."""
        self.entries[archive.file] = {'url': archive.url, 'sha256': sha256, 'size': size,
                                      'recorded': datetime.date.today().isoformat()}
        os.makedirs(osp.dirname(self.path) or '.', exist_ok=True)
        with open(self.path + '.tmp', 'w', encoding='utf-8') as f:
            json.dump(self.entries, f, indent=2, sort_keys=True)
            f.write('\n')
        os.replace(self.path + '.tmp', self.path)


def _content_range(response: requests.Response) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header such as 'bytes 100-199/200' or 'bytes */200'."""
    value = response.headers.get('Content-Range', '')
    span, _, total = value.removeprefix('bytes ').partition('/')
    first = span.split('-')[0]
    return (int(first) if first.isdigit() else None), (int(total) if total.isdigit() else None)


def _transfer(session: requests.Session, url: str, part: str, archive: Archive) -> tuple[str, int]:
    """One request for the rest of ``part``; return the digest and size of the complete file."""
    offset = osp.getsize(part) if osp.isfile(part) else 0
    headers = {'Accept-Encoding': 'identity'}
    if offset:
        headers['Range'] = f'bytes={offset}-'
    with session.get(url, headers=headers, stream=True, timeout=TIMEOUT_S) as response:
        if offset and response.status_code == 416:
            if _content_range(response)[1] == offset:
                return hash_file(part, digest_algo(archive)), offset
            os.remove(part)
            raise _Transient('the partial download is longer than the file on the server; starting over')
        if response.status_code in RETRY_STATUS:
            raise _Transient(f'the server answered HTTP {response.status_code}')
        response.raise_for_status()
        if response.headers.get('Content-Type', '').startswith('text/html'):
            raise DownloadError(f'{archive.file}: {url} sent an HTML page instead of the file (moved, or behind a '
                                'login?); see datasets/README.md, section "Downloading"')
        if response.status_code != 206:
            offset = 0
        elif _content_range(response)[0] != offset:
            raise DownloadError(f'{archive.file}: {url} answered the request for bytes {offset}- with '
                                f'{response.headers.get("Content-Range")!r}; delete {part} and rerun')
        hasher = hashlib.new(digest_algo(archive))
        if offset:
            with open(part, 'rb') as f:
                for chunk in iter(lambda: f.read(CHUNK), b''):
                    hasher.update(chunk)
        length = response.headers.get('Content-Length')
        expected = int(length) if length and length.isdigit() else None
        received = 0
        # keep every byte that arrived when the connection breaks (urllib3 would drop its last buffered read to raise
        # IncompleteRead); the length is checked below instead
        response.raw.enforce_content_length = False
        with open(part, 'ab' if offset else 'wb') as f, \
                tqdm(total=offset + expected if expected is not None else archive.size, initial=offset, unit='B',
                     unit_scale=True, unit_divisor=1024, desc=archive.file) as bar:
            try:
                for chunk in response.iter_content(CHUNK):
                    f.write(chunk)
                    hasher.update(chunk)
                    bar.update(len(chunk))
                    received += len(chunk)
            except requests.exceptions.ChunkedEncodingError:
                if expected is None:
                    raise
        if expected is not None and received < expected:
            raise _Transient(f'the connection broke off after {offset + received:,} of {offset + expected:,} bytes')
    return hasher.hexdigest(), offset + received


def _network_reason(err: Exception) -> str:
    """What went wrong with the connection, in a few words."""
    text = repr(err)
    if isinstance(err, requests.ConnectTimeout):
        return 'connecting timed out'
    if isinstance(err, requests.Timeout):
        return 'the server stopped sending (read timed out)'
    if any(s in text for s in ('NameResolutionError', 'Name or service not known', 'name resolution', 'getaddrinfo',
                               'nodename nor servname')):
        return 'DNS lookup failed (no network?)'
    if 'Connection refused' in text or 'ConnectionRefusedError' in text:
        return 'connection refused'
    if isinstance(err, requests.exceptions.ChunkedEncodingError):
        return 'the connection broke off'
    return str(err) if isinstance(err, _Transient) else 'the connection failed'


def fetch(session: requests.Session, archive: Archive, url: str, part: str, retries: int) -> tuple[str, int]:
    """Download ``url`` into ``part``, resuming what is there, with ``retries`` more tries; return digest and size."""
    attempt = 0
    while True:
        try:
            return _transfer(session, url, part, archive)
        except requests.HTTPError as err:
            raise DownloadError(f'{archive.file}: {url} answered HTTP {err.response.status_code}; the file may have '
                                'moved: see datasets/README.md, section "Downloading"') from None
        except (requests.RequestException, _Transient) as err:
            if attempt == retries:
                kept = osp.getsize(part) if osp.isfile(part) else 0
                resume = f'; the {kept:,} bytes so far stay in {part} and are resumed' if kept else ''
                raise DownloadError(f'{archive.file}: {_network_reason(err)} ({urlsplit(url).netloc}); check the '
                                    f'network connection and rerun{resume}') from None
            attempt += 1
            time.sleep(RETRY_WAIT_S * attempt)


def verify(archive: Archive, part: str, digest: str, size: int, lock: Lock) -> None:
    """Move the complete download ``part`` to its final name, or to ``.corrupt`` (and raise) if it is not the file
    that the table's checksum and size, or the lock file, describe."""
    target = part.removesuffix('.part')
    problem = ''
    if archive.size is not None and size != archive.size:
        problem = f'size mismatch: {size:,} bytes, expected {archive.size:,} ({archive.source})'
    elif archive.check != 'lock' and digest != archive.checksum:
        problem = f'checksum mismatch: {archive.check} {digest}, expected {archive.checksum} ({archive.source})'
    elif archive.file in lock.entries and digest != lock.entries[archive.file]['sha256']:
        entry = lock.entries[archive.file]
        problem = (f'checksum mismatch: sha256 {digest}, expected {entry["sha256"]} (recorded {entry["recorded"]} '
                   f'in {lock.path})')
    if not problem:
        os.replace(part, target)
        if osp.isfile(target + '.corrupt'):
            os.remove(target + '.corrupt')
        return
    os.replace(part, target + '.corrupt')
    advice = (f'if its publisher changed the file on purpose, delete the "{archive.file}" entry of {lock.path} and '
              'rerun' if archive.file in lock.entries else
              'if it fails again, the file on the server changed: see datasets/README.md, section "Downloading"')
    raise DownloadError(f'{archive.file}: {problem}. The download is kept as {target}.corrupt and '
                        f'nothing else was changed; rerun to download it again ({advice})')


def obtain(session: requests.Session, archive: Archive, root: str, lock: Lock, base_url: str = '',
           retries: int = 3) -> None:
    """Download (or resume), check and unpack ``archive`` under ``root``, unless its marker says that is done."""
    done = state_path(root, archive.file + '.done')
    if osp.isfile(done):
        if osp.lexists(osp.join(root, archive.dest)):
            return
        os.remove(done)  # unpacked once, deleted since
    target = state_path(root, archive.file)
    os.makedirs(osp.dirname(target), exist_ok=True)
    if not osp.isfile(target):
        digest, size = fetch(session, archive, with_base_url(archive.url, base_url), target + '.part', retries)
        verify(archive, target + '.part', digest, size, lock)
    else:
        digest, size = '', osp.getsize(target)
    if archive.check == 'lock' and archive.file not in lock.entries:
        lock_entry = (digest or hash_file(target, 'sha256'), size)
        unpack(target, archive, root, state_path(root, archive.file + '.unpack'))
        lock.record(archive, *lock_entry)
    else:
        unpack(target, archive, root, state_path(root, archive.file + '.unpack'))
    with open(done, 'w', encoding='utf-8') as f:
        json.dump({'url': archive.url, 'dest': archive.dest, 'done': datetime.datetime.now().isoformat()}, f)
    if osp.isfile(target):
        os.remove(target)
