"""Unpacking the downloaded archives (zip, tar, rar through an installed tool) into the folders the options use."""
from __future__ import annotations

import copy
import os
import os.path as osp
import shutil
import subprocess
import tarfile
import zipfile

from wne_basicsr.data.catalog import Archive

TAR_SUFFIXES = ('.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tar.xz')
RAR_TOOLS = {  # tool: its arguments to unpack {archive} into the folder {out}, in order of preference
    'unrar': ('x', '-o+', '-y', '-idq', '{archive}', '{out}/'),
    '7zz': ('x', '-y', '-bd', '-o{out}', '{archive}'),
    '7z': ('x', '-y', '-bd', '-o{out}', '{archive}'),
    'bsdtar': ('-xf', '{archive}', '-C', '{out}'),
    'unar': ('-q', '-f', '-D', '-o', '{out}', '{archive}'),
}
RAR_HELP = ('install one of unrar, 7-Zip (7zz or 7z), bsdtar (libarchive) or unar, e.g. `sudo apt-get install unar`, '
            '`brew install unar` or `conda install -c conda-forge libarchive`')


class DownloadError(Exception):
    """A failure the user can act on; the message names the file and what to do."""


class UnsafeTarMember(tarfile.TarError):
    """A tar member refused where tarfile has no 'data' filter: it could write outside the folder or make a device."""


def _leaves(path: str) -> bool:
    """Whether the archive path ``path`` is absolute or has a '..' part (stricter than the 'data' filter)."""
    return path.startswith(('/', '\\')) or osp.isabs(path) or '..' in path.replace('\\', '/').split('/')


def _data_members(members: list[tarfile.TarInfo]) -> list[tarfile.TarInfo]:
    """``members`` made safe as the 'data' filter would (for Python < 3.10.12 / 3.11.4, which lack it): regular files,
    folders and links only, every path and link kept inside the folder, no owner, no setuid or group/other-write
    bits. Raises UnsafeTarMember for any other member."""
    safe, files = [], set()
    for member in members:
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise UnsafeTarMember(f'{member.name}: a device, pipe or other special file')
        if _leaves(member.name):
            raise UnsafeTarMember(f'{member.name}: a path outside the folder it is unpacked into')
        # pointing neither to an absolute path nor through '..', no symbolic link (nor chain of them) leads out
        if member.issym() and _leaves(member.linkname):
            raise UnsafeTarMember(f'{member.name}: a link to {member.linkname}, outside the folder')
        if member.islnk() and member.linkname not in files:  # a hard link only to a file already let through
            raise UnsafeTarMember(f'{member.name}: a hard link to {member.linkname}, not a file of this archive')
        member = copy.copy(member)
        member.mode = member.mode & 0o755 | (0o700 if member.isdir() else 0o600)
        member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), '', ''
        if member.isreg():
            files.add(member.name)
        safe.append(member)
    return safe


def archive_format(file: str) -> str:
    """'zip', 'tar' or 'rar' from the file name; 'file' for anything that is stored as it is."""
    name = file.lower()
    if name.endswith('.zip'):
        return 'zip'
    if name.endswith(TAR_SUFFIXES):
        return 'tar'
    return 'rar' if name.endswith('.rar') else 'file'


def conflict(archive: Archive, root: str, done_marker: str) -> str:
    """Why ``archive`` cannot be unpacked (its destination exists and was not made by this tool), or ''."""
    dest = osp.join(root, archive.dest)
    if osp.isfile(done_marker) or not osp.lexists(dest):
        return ''
    if osp.isdir(dest) and not os.listdir(dest):
        return ''
    return (f'{dest} already exists and was not made by this download; move it away (or delete it) and rerun, or '
            'keep it and leave this set out of --sets')


def _unpack_rar(path: str, out: str) -> list[str]:
    """Unpack the RAR archive ``path`` into ``out`` with the first RAR tool found; return its top-level names."""
    tool = next((name for name in RAR_TOOLS if shutil.which(name)), None)
    if tool is None:
        raise DownloadError(f'{osp.basename(path)} is a RAR archive and no RAR extractor is installed: {RAR_HELP}; '
                            f'then rerun (the checked download {path} is kept)')
    os.makedirs(out)
    command = [shutil.which(tool)] + [a.format(archive=path, out=out) for a in RAR_TOOLS[tool]]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        message = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ['no message']
        raise DownloadError(f'{tool} could not unpack {path} (exit status {result.returncode}: {message[0]}); '
                            f'{RAR_HELP.replace("install one of", "try another of")} (the download is kept)')
    return sorted(os.listdir(out))


def _unpack_members(path: str, fmt: str, member: str, out: str) -> list[str]:
    """Unpack the members of the zip or tar archive ``path`` under ``member`` into ``out``; return the top names."""
    if fmt == 'zip':
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            archive.extractall(out, [name for name in names if name.startswith(member)])
    else:
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            names = [m.name for m in members]
            kept = [m for m in members if m.name.startswith(member)]
            if hasattr(tarfile, 'data_filter'):
                archive.extractall(out, kept, filter='data')
            else:  # an older Python: the same refusals, made here
                archive.extractall(out, _data_members(kept))
    return sorted({name.split('/')[0] for name in names})


def unpack(path: str, archive: Archive, root: str, work: str) -> None:
    """Put ``archive.member`` of the download ``path`` at ``<root>/<archive.dest>`` (a plain file is moved there),
    unpacking in the scratch folder ``work``."""
    dest = osp.join(root, archive.dest)
    os.makedirs(osp.dirname(dest), exist_ok=True)
    fmt = archive_format(archive.file)
    if fmt == 'file':
        os.replace(path, dest)
        return
    shutil.rmtree(work, ignore_errors=True)
    try:
        try:
            tops = _unpack_rar(path, work) if fmt == 'rar' else _unpack_members(path, fmt, archive.member, work)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
            os.replace(path, path + '.corrupt')
            raise DownloadError(f'{archive.file}: not a readable {fmt} archive ({err}); kept as {path}.corrupt; '
                                'rerun to download it again') from None
        kept = osp.normpath(osp.join(work, archive.member))
        if not osp.isdir(kept) or not os.listdir(kept):
            raise DownloadError(f'{path} holds nothing under "{archive.member}" (its top-level entries: '
                                f'{", ".join(tops[:5]) or "none"}); the layout of the archive changed: please report '
                                'it, and unpack it by hand meanwhile (datasets/README.md)')
        if osp.isdir(dest):
            os.rmdir(dest)  # empty: conflict() let it through
        os.replace(kept, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
