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
                             source='SIDD page (abdokamel.github.io/sidd), section "SIDD-Medium Dataset"'),
                     Archive(SIDD_URL + 'SIDD_Blocks/ValidationNoisyBlocksSrgb.mat', 'ValidationNoisyBlocksSrgb.mat',
                             'lock', 'SIDD/ValidationNoisyBlocksSrgb.mat'),
                     Archive(SIDD_URL + 'SIDD_Blocks/ValidationGtBlocksSrgb.mat', 'ValidationGtBlocksSrgb.mat',
                             'lock', 'SIDD/ValidationGtBlocksSrgb.mat'))),
)


def downloadable(catalog: tuple[DatasetEntry, ...] = CATALOG) -> dict[str, DatasetEntry]:
    """The entries that ``download_datasets.py --sets`` accepts, by name."""
    return {entry.name: entry for entry in catalog if entry.archives}


def entry_for_root(root: str) -> DatasetEntry | None:
    """The catalog entry whose folder ``root`` is (or lies in, or is the LMDB of), matched on the path's tail."""
    path = '/' + osp.normpath(root).replace(osp.sep, '/').strip('/') + '/'
    stem = path.strip('/').split('/')[-1].removesuffix('.lmdb')
    for entry in CATALOG:
        if stem in entry.lmdb_names or any(f'/{folder}/' in path or f'/{folder}.lmdb/' in path
                                           for folder in entry.folders):
            return entry
    return None


def missing_root_hint(root: str) -> str:
    """Where to get the dataset a missing ``dataroot`` names (its README section and download command), if known."""
    entry = entry_for_root(root)
    lmdb = ('; an LMDB is made from the folder with `python scripts/create_lmdb.py --input <folder> --output '
            f'{root}`' if osp.normpath(root).endswith('.lmdb') else '')
    if entry is None:
        return f'see {README} for the datasets the options files use{lmdb}'
    if entry.bundled and lmdb:
        return f'{entry.name} is bundled as a folder (datasets/{entry.folders[0]}){lmdb}'
    if entry.bundled:
        return f'{entry.name} is bundled with the repository ({README}, section "{entry.section}"): run from the ' \
               'repository root or give an absolute path'
    return (f'{entry.name} is not bundled: see {README}, section "{entry.section}", or download it with '
            f'`python scripts/download_datasets.py --sets {entry.name}{" --lmdb" if lmdb else ""}`')
