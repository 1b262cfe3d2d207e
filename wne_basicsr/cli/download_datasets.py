"""Download the datasets of the paper's recipes into the folders the options files name (``wne-download``).

    python scripts/download_datasets.py --sets DIV2K Flickr2K Waterloo CBSD68 SIDD --root datasets [--lmdb]
    python scripts/download_datasets.py --list

The URLs and checksums are the table of wne_basicsr/data/catalog.py (datasets/README.md, section "Downloading").
Each file is streamed into <root>/.downloads/ with a progress bar; an interrupted download resumes where it stopped
(HTTP Range). It is checked against the published checksum or, where none is published, against the SHA-256 that
<root>/.download_lock.json recorded at its first complete download; then the folders the options files use are
unpacked (DIV2K/DIV2K_train_HR, Flickr2K/Flickr2K_HR, WaterlooExploration, CBSD68, ...) and the archive deleted.
A finished set is marked and skipped by later runs; so is a set whose folders are all there already. Waterloo is a
.rar archive: unpacking it needs unrar, 7-Zip, bsdtar or unar. SIDD: the SIDD-Medium sRGB pairs (kept in
<root>/SIDD_Medium_Srgb) are cut as scripts/prepare_sidd.py does by default into SIDD/train/{noisy,clean}, and the
validation .mat blocks written to SIDD/val/{noisy,clean}. --lmdb then makes each folder's LMDB with
scripts/create_lmdb.py's function (<root>/DIV2K_train_HR.lmdb, ..., <root>/SIDD/train/noisy.lmdb, ...).
--list tells, per set, whether it is complete, present, partial, corrupt or missing, and how large its download is
(the publishers' sizes; "size unknown" where none is published). Exit status 1 if any set fails.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import os.path as osp
import shutil
import sys

import requests

import wne_basicsr  # noqa: F401  (compat before basicsr)
from wne_basicsr.cli.create_lmdb import create_lmdb
from wne_basicsr.cli.prepare_sidd import SIDES, Output, cut_pairs, write_validation
from wne_basicsr.data.archives import DownloadError, conflict
from wne_basicsr.data.catalog import CATALOG, DatasetEntry, download_size, downloadable
from wne_basicsr.data.download import STATE_DIR, Lock, obtain, state_path


def has_files(path: str) -> bool:
    """Whether ``path`` is a folder with something in it."""
    if not osp.isdir(path):
        return False
    with os.scandir(path) as entries:
        return any(entries)


def set_state(entry: DatasetEntry, root: str) -> tuple[str, str]:
    """(state, details) of a set under ``root``: complete, present, corrupt, partial or missing."""
    folders = [osp.join(root, folder) for folder in entry.folders]
    if all(has_files(folder) for folder in folders):
        if osp.isfile(state_path(root, f'{entry.name}.complete')):
            return 'complete', ', '.join(folders)
        return 'present', 'all folders are there (not made by this download)'
    corrupt = [a.file for a in entry.archives if osp.isfile(state_path(root, a.file + '.corrupt'))]
    if corrupt:
        return 'corrupt', 'checksum mismatch or unreadable: ' + ', '.join(
            state_path(root, file + '.corrupt') for file in corrupt)
    details = []
    for archive in entry.archives:
        part = state_path(root, archive.file + '.part')
        if osp.isfile(state_path(root, archive.file + '.done')):
            details.append(f'{archive.file} unpacked')
        elif osp.isfile(state_path(root, archive.file)):
            details.append(f'{archive.file} downloaded, not unpacked')
        elif osp.isfile(part):
            total = f' of {archive.size:,}' if archive.size else ''
            details.append(f'{archive.file} {osp.getsize(part):,}{total} bytes downloaded')
    details += [f'{folder} exists' for folder in folders if osp.lexists(folder)]
    return ('partial', '; '.join(details)) if details else ('missing', '')


def prepare_sidd(entry: DatasetEntry, root: str) -> None:
    """Cut the SIDD-Medium pairs into SIDD/train and write the validation blocks into SIDD/val, each once."""
    raw, noisy_mat, clean_mat = (osp.join(root, archive.dest) for archive in entry.archives)
    steps = {'train': lambda out: cut_pairs(raw, out), 'val': lambda out: write_validation(noisy_mat, clean_mat, out)}
    for split, make in steps.items():
        final = osp.join(root, 'SIDD', split)
        done = state_path(root, f'SIDD.{split}.done')
        outputs = [osp.join(final, side) for side in SIDES]
        if osp.isfile(done) and all(osp.isdir(output) for output in outputs):
            continue
        existing = [output for output in outputs if osp.lexists(output)]
        if existing:
            raise DownloadError(f'{existing[0]} already exists without its pair or was not made by this download; '
                                'move it away and rerun')
        staging = state_path(root, f'SIDD.{split}.blocks')
        shutil.rmtree(staging, ignore_errors=True)
        print(f'SIDD: writing the {split} blocks')
        make(Output(staging))
        os.makedirs(final, exist_ok=True)
        for side in SIDES:
            os.replace(osp.join(staging, side), osp.join(final, side))
        shutil.rmtree(staging)
        with open(done, 'w', encoding='utf-8') as f:
            f.write(datetime.datetime.now().isoformat() + '\n')


PREPARE = {'SIDD': prepare_sidd}


def download_set(entry: DatasetEntry, root: str, session: requests.Session, lock: Lock, base_url: str,
                 retries: int) -> None:
    """Download, check and unpack every archive of ``entry`` that is not done yet, then mark the set complete."""
    state, _ = set_state(entry, root)
    if state in ('complete', 'present'):
        print(f'{entry.name}: {state}, skipped')
        return
    problems = [conflict(archive, root, state_path(root, archive.file + '.done')) for archive in entry.archives]
    if any(problems):
        raise DownloadError(next(p for p in problems if p))
    for archive in entry.archives:
        obtain(session, archive, root, lock, base_url, retries)
    if entry.name in PREPARE:
        PREPARE[entry.name](entry, root)
    missing = [folder for folder in entry.folders if not has_files(osp.join(root, folder))]
    if missing:
        raise DownloadError(f'{entry.name}: the archives did not fill {", ".join(missing)} under {root}; please '
                            'report it (wne_basicsr/data/catalog.py)')
    with open(state_path(root, f'{entry.name}.complete'), 'w', encoding='utf-8') as f:
        json.dump({'archives': [archive.url for archive in entry.archives],
                   'complete': datetime.datetime.now().isoformat()}, f)
    print(f'{entry.name}: complete ({", ".join(osp.join(root, folder) for folder in entry.folders)})')


def make_lmdbs(entry: DatasetEntry, root: str) -> None:
    """Make the LMDB of each folder of ``entry`` that has none yet."""
    for folder, lmdb in zip(entry.folders, entry.lmdbs, strict=True):
        output = osp.join(root, lmdb)
        if osp.isfile(osp.join(output, 'data.mdb')):
            print(f'{output}: exists, skipped')
            continue
        if osp.lexists(output):
            raise DownloadError(f'{output} exists and is not an LMDB (no data.mdb); move it away and rerun')
        count = create_lmdb([osp.join(root, folder)], output)
        print(f'Wrote {count} images to {output}')


def download(names: list[str], root: str, catalog: tuple[DatasetEntry, ...] = CATALOG, base_url: str = '',
             retries: int = 3, lmdb: bool = False) -> list[str]:
    """Download the sets ``names`` (and make their LMDBs); return one error message per set that failed."""
    entries = downloadable(catalog)
    errors = []
    os.makedirs(osp.join(root, STATE_DIR), exist_ok=True)
    with requests.Session() as session:
        session.headers['User-Agent'] = f'wne_basicsr-download_datasets python-requests/{requests.__version__}'
        for name in names:
            try:
                download_set(entries[name], root, session, Lock(root), base_url, retries)
                if lmdb:
                    make_lmdbs(entries[name], root)
            except (DownloadError, ValueError, OSError) as err:
                errors.append(f'{name}: {err}')
                print(f'download_datasets: error: {name}: {err}', file=sys.stderr)
    return errors


def list_sets(names: list[str], root: str, catalog: tuple[DatasetEntry, ...] = CATALOG) -> str:
    """A table of each set ``names``: its state under ``root``, its download size, and details of the state."""
    entries = downloadable(catalog)
    rows = [(name, set_state(entries[name], root), download_size(entries[name])) for name in names]
    width, size_width = max(len(name) for name in names), max(len(size) for _, _, size in rows)
    return '\n'.join(f'{name:<{width}}  {state:<8}  {size:<{size_width}}  {details}'.rstrip()
                     for name, (state, details), size in rows)


def main(argv: list[str] | None = None) -> None:
    """Download (``--sets``) or list (``--list``) the sets; exit with status 1 if any set failed."""
    names = list(downloadable())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sets', nargs='+', choices=names + ['all'], metavar='NAME',
                        help=f'the sets to download or list: {" ".join(names)}, or all')
    parser.add_argument('--root', default='datasets', help='the datasets folder (default: datasets)')
    parser.add_argument('--lmdb', action='store_true', help='also make the LMDB of every folder (datasets/README.md)')
    parser.add_argument('--list', action='store_true', help='only show whether each set is complete, present, '
                        'partial, corrupt or missing, and its download size')
    parser.add_argument('--retries', type=int, default=3, help='tries again after a network error (default 3)')
    parser.add_argument('--base-url', default='', metavar='URL', help='replace the scheme and host of every URL of '
                        'the table (a mirror with the same paths, or a test server); checksums are still checked')
    args = parser.parse_args(argv)
    if args.retries < 0:
        parser.error('--retries must be 0 or more')
    if args.sets is None and not args.list:
        parser.error(f'name the sets to download with --sets ({" ".join(names)}, or all)')
    chosen = names if args.sets is None or 'all' in args.sets else list(dict.fromkeys(args.sets))
    if args.list:
        print(list_sets(chosen, args.root))
        return
    try:
        errors = download(chosen, args.root, base_url=args.base_url, retries=args.retries, lmdb=args.lmdb)
    except KeyboardInterrupt:
        sys.exit('download_datasets: interrupted; rerun the same command to resume')
    if errors:
        sys.exit(f'download_datasets: {len(errors)} of {len(chosen)} sets failed (see above)')


if __name__ == '__main__':
    main()
