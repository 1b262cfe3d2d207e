"""The datasets the options files name: which folders under ``datasets/`` each provides and where to get it.

``CATALOG`` is the one table of download URLs (``scripts/download_datasets.py`` reads it; ``datasets/README.md``,
section "Downloading", repeats it for people).
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass

README = 'datasets/README.md'
CHECKS = ('sha256', 'sha1', 'md5', 'lock')


@dataclass(frozen=True)
class Archive:
    """One file to download: where from, how it is checked, and which part of it becomes which folder of the root.

    Zip, tar and rar archives are unpacked (only ``member``); any other file is stored as ``dest`` unchanged.
    """

    url: str
    file: str  # the name it is downloaded to
    check: str  # 'sha256', 'sha1' or 'md5': the digest of the published ``checksum``; 'lock' when none is published:
    # the SHA-256 of the first complete download is recorded in <root>/.download_lock.json, later ones must match it
    dest: str  # the folder (or file) under the datasets root that it becomes
    member: str = ''  # the folder inside the archive that is kept ('' for all of it)
    checksum: str = ''
    size: int | None = None  # the published size in bytes
    source: str = ''  # who publishes the checksum (and size)
    approx_size: str = ''  # a rounded size the publisher gives, where it gives no exact one (never checked)


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset of the paper's recipes: its ``--sets`` name, the folders it fills, its README section.

    ``lmdb_names`` are the LMDB folder stems that ``datasets/README.md`` suggests for it (e.g. ``DIV2K_train_HR``).
    """

    name: str
    folders: tuple[str, ...]
    section: str
    bundled: bool = False
    lmdb_names: tuple[str, ...] = ()
    lmdbs: tuple[str, ...] = ()  # the LMDB that download_datasets.py --lmdb makes of each of ``folders``
    page: str = ''  # the publisher's page
    archives: tuple[Archive, ...] = ()  # the files that fill ``folders`` (SIDD: pairs, noisy and clean .mat blocks)


TFDS = 'TensorFlow Datasets, tensorflow_datasets/url_checksums/div2k.txt'
DIV2K_URL = 'https://data.vision.ee.ethz.ch/cvl/DIV2K/'
SIDD_URL = 'http://130.63.97.225/share/'

CATALOG = (
    DatasetEntry('Train400', ('Train400',), 'Bundled', bundled=True),
    DatasetEntry('Set12', ('Set12',), 'Bundled', bundled=True),
    DatasetEntry('BSD68', ('BSD68',), 'Bundled', bundled=True),
    DatasetEntry('DIV2K', ('DIV2K/DIV2K_train_HR', 'DIV2K/DIV2K_valid_HR'), 'Not bundled',
                 lmdb_names=('DIV2K', 'DIV2K_train_HR', 'DIV2K_valid_HR'),
                 lmdbs=('DIV2K_train_HR.lmdb', 'DIV2K_valid_HR.lmdb'), page=DIV2K_URL, archives=(
                     Archive(DIV2K_URL + 'DIV2K_train_HR.zip', 'DIV2K_train_HR.zip', 'sha256', 'DIV2K/DIV2K_train_HR',
                             'DIV2K_train_HR/', '9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335',
                             3530603713, TFDS),
                     Archive(DIV2K_URL + 'DIV2K_valid_HR.zip', 'DIV2K_valid_HR.zip', 'sha256', 'DIV2K/DIV2K_valid_HR',
                             'DIV2K_valid_HR/', '20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc',
                             448993893, TFDS))),
    DatasetEntry('Flickr2K', ('Flickr2K',), 'Not bundled', lmdbs=('Flickr2K.lmdb',),
                 page='https://cv.snu.ac.kr/research/EDSR/', archives=(
                     Archive('https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar', 'Flickr2K.tar', 'lock',
                             'Flickr2K/Flickr2K_HR', 'Flickr2K/Flickr2K_HR/'),)),
    DatasetEntry('Waterloo', ('WaterlooExploration',), 'Not bundled', lmdbs=('WaterlooExploration.lmdb',),
                 page='https://ece.uwaterloo.ca/~k29ma/exploration/', archives=(
                     Archive('https://ivc.uwaterloo.ca/database/WaterlooExploration/exploration_database_and_code.rar',
                             'exploration_database_and_code.rar', 'lock', 'WaterlooExploration',
                             'exploration_database_and_code/pristine_images/'),)),
    DatasetEntry('CBSD68', ('CBSD68',), 'Not bundled', lmdbs=('CBSD68.lmdb',),
                 page='https://github.com/cszn/FFDNet/tree/master/testsets', archives=(
                     Archive('https://github.com/cszn/FFDNet/archive/refs/heads/master.zip', 'FFDNet-master.zip',
                             'lock', 'CBSD68', 'FFDNet-master/testsets/CBSD68/'),)),
    DatasetEntry('SIDD', ('SIDD/train/noisy', 'SIDD/train/clean', 'SIDD/val/noisy', 'SIDD/val/clean'), 'SIDD',
                 lmdbs=('SIDD/train/noisy.lmdb', 'SIDD/train/clean.lmdb', 'SIDD/val/noisy.lmdb',
                        'SIDD/val/clean.lmdb'),
                 page='https://abdokamel.github.io/sidd/', archives=(
                     Archive(SIDD_URL + 'SIDD_Medium_Srgb.zip', 'SIDD_Medium_Srgb.zip', 'sha1', 'SIDD_Medium_Srgb',
                             'SIDD_Medium_Srgb/', 'b0f895258112db896d6ade0a8ddafc8cfc9bd54d',
                             source='SIDD page (abdokamel.github.io/sidd), section "SIDD-Medium Dataset"',
                             approx_size='about 12 GB'),
                     Archive(SIDD_URL + 'SIDD_Blocks/ValidationNoisyBlocksSrgb.mat', 'ValidationNoisyBlocksSrgb.mat',
                             'lock', 'SIDD/ValidationNoisyBlocksSrgb.mat'),
                     Archive(SIDD_URL + 'SIDD_Blocks/ValidationGtBlocksSrgb.mat', 'ValidationGtBlocksSrgb.mat',
                             'lock', 'SIDD/ValidationGtBlocksSrgb.mat'))),
)


def downloadable(catalog: tuple[DatasetEntry, ...] = CATALOG) -> dict[str, DatasetEntry]:
    """The entries that ``download_datasets.py --sets`` accepts, by name."""
    return {entry.name: entry for entry in catalog if entry.archives}


def download_size(entry: DatasetEntry) -> str:
    """The size of a set's download: the sum of its published sizes ('3.98 GB'), a rounded size where only that is
    published, 'size unknown' where none is."""
    exact = sum(archive.size for archive in entry.archives if archive.size is not None)
    rounded = [archive.approx_size for archive in entry.archives if archive.size is None and archive.approx_size]
    unknown = sum(1 for archive in entry.archives if archive.size is None and not archive.approx_size)
    known = ([f'{exact / 1e9:.2f} GB'] if exact else []) + rounded
    if not known:
        return 'size unknown'
    return ' + '.join(known) + (f' + {unknown} file{"s" if unknown > 1 else ""} of unknown size' if unknown else '')


def entry_for_root(root: str) -> DatasetEntry | None:
    """The catalog entry whose folder ``root`` is (or lies in, or is the LMDB of), matched on the path's tail."""
    path = '/' + osp.normpath(root).replace(osp.sep, '/').strip('/') + '/'
    stem = path.strip('/').split('/')[-1].removesuffix('.lmdb')
    for entry in CATALOG:
        if stem in entry.lmdb_names or any(f'/{folder}/' in path or f'/{folder}.lmdb/' in path
                                           for folder in entry.folders):
            return entry
    return None


def word_list(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f'{", ".join(names[:-1])} and {names[-1]}'


def is_lmdb(root: str) -> bool:
    """Whether ``root`` names an LMDB folder (``*.lmdb``)."""
    return osp.normpath(root).endswith('.lmdb')


def missing_roots_hint(roots: list[str]) -> str:
    """Where to get every dataset that the missing ``roots`` name, all at once: the bundled ones, one download command
    for the others, the LMDBs to make, and the README for folders the catalog does not know."""
    bundled, downloads, sections, hints, unknown = [], [], [], [], []
    lmdb_flag = ''
    for root in roots:
        entry = entry_for_root(root)
        if entry is None:
            unknown.append(root)
        elif entry.bundled and is_lmdb(root):
            hints.append(f'make the LMDB of the bundled {entry.name} with `python scripts/create_lmdb.py --input '
                         f'datasets/{entry.folders[0]} --output {root}`')
        elif entry.bundled:
            bundled += [entry.name] if entry.name not in bundled else []
        else:
            downloads += [entry.name] if entry.name not in downloads else []
            sections += [entry.section] if entry.section not in sections else []
            lmdb_flag = ' --lmdb' if is_lmdb(root) else lmdb_flag
    if bundled:
        hints.insert(0, f'{word_list(bundled)} {"is" if len(bundled) == 1 else "are"} bundled with the repository '
                        f'({README}, section "Bundled"): run from the repository root or give absolute paths')
    if downloads:
        where = word_list([f'"{section}"' for section in sections])
        hints.append(f'{word_list(downloads)} {"is" if len(downloads) == 1 else "are"} not bundled: download '
                     f'{"it" if len(downloads) == 1 else "them all"} with `python scripts/download_datasets.py --sets '
                     f'{" ".join(downloads)}{lmdb_flag}` ({README}, section{"s" if len(sections) > 1 else ""} {where})')
    if unknown:
        lmdb = ('; an LMDB is made from a folder with `python scripts/create_lmdb.py --input <folder> --output '
                '<name>.lmdb`' if any(is_lmdb(root) for root in unknown) else '')
        hints.append(f'see {README} for the datasets the options files use{lmdb}')
    return '; '.join(hints)


def missing_root_hint(root: str) -> str:
    """Where to get the dataset a missing ``dataroot`` names (its README section and download command), if known."""
    return missing_roots_hint([root])


def is_bundled(root: str) -> bool:
    """Whether ``root`` is the folder of a dataset bundled with the repository."""
    entry = entry_for_root(root)
    return entry is not None and entry.bundled and not is_lmdb(root)


def bundled_alternative(key: str, roots: list[str], missing: list[str]) -> str:
    """For a set whose ``dataroot_gt`` lists one bundled folder beside missing other ones, the ``--force_yml`` that
    uses the bundled folder alone; else ''."""
    bundled = [root for root in roots if is_bundled(root)]
    if len(bundled) != 1 or all(is_bundled(root) for root in missing):
        return ''
    return f'or use the bundled {bundled[0]} alone: --force_yml datasets:{key}:dataroot_gt={bundled[0]}'
