"""Tar unpacking is as safe on a Python without tarfile's 'data' filter (before 3.10.12 / 3.11.4) as with it: the
fallback refuses members that would write outside the folder, links leading out of it, devices and pipes."""
import io
import os
import stat
import tarfile

import pytest

from wne_basicsr.data import archives
from wne_basicsr.data.catalog import Archive


@pytest.fixture(params=['data filter', 'fallback'])
def mode(request, monkeypatch):
    """Each test twice: with tarfile's 'data' filter, and as on a Python that lacks it."""
    if request.param == 'fallback':
        monkeypatch.delattr(tarfile, 'data_filter', raising=False)
    elif not hasattr(tarfile, 'data_filter'):
        pytest.skip("this Python's tarfile has no 'data' filter")
    return request.param


def write_tar(path, members: list[tuple[str, str, object]]) -> str:
    """A tar at ``path`` of (name, kind, value) members: 'file' (bytes, or (bytes, mode)), 'dir', 'symlink' or
    'hardlink' (what it points to), 'fifo', 'chardev'."""
    with tarfile.open(path, 'w') as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            if kind == 'file':
                data, info.mode = value if isinstance(value, tuple) else (value, 0o644)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE,
                         'fifo': tarfile.FIFOTYPE, 'chardev': tarfile.CHRTYPE}[kind]
            info.mode = 0o755 if kind == 'dir' else 0o644
            if kind in ('symlink', 'hardlink'):
                info.linkname = value
            tar.addfile(info)
    return str(path)


def files_under(root) -> set[str]:
    return {os.path.relpath(os.path.join(d, n), root) for d, dirs, names in os.walk(root) for n in dirs + names}


def test_an_ordinary_archive_unpacks_the_same_either_way(tmp_path, mode):
    path = write_tar(tmp_path / 'set.tar', [
        ('set/', 'dir', None), ('set/a.png', 'file', b'a'), ('set/sub/b.png', 'file', (b'b', 0o6777)),
        ('set/link.png', 'symlink', 'a.png'), ('set/same.png', 'hardlink', 'set/a.png'), ('other/c.png', 'file', b'c')])
    out = tmp_path / 'out'
    assert archives._unpack_members(path, 'tar', 'set/', str(out)) == ['other', 'set']
    assert files_under(out) == {'set', 'set/a.png', 'set/sub', 'set/sub/b.png', 'set/link.png', 'set/same.png'}
    assert (out / 'set' / 'link.png').read_bytes() == (out / 'set' / 'same.png').read_bytes() == b'a'
    mode_bits = stat.S_IMODE((out / 'set' / 'sub' / 'b.png').stat().st_mode)
    assert not mode_bits & (stat.S_ISUID | stat.S_ISGID | stat.S_IWGRP | stat.S_IWOTH)  # no setuid, no g/o write


UNSAFE = {  # member: where it would write if let through, relative to the folder unpacked into (tmp/a/b/out)
    'dot-dot name': [('../escaped.txt', 'file', b'x')],
    'dot-dot inside a name': [('set/../../escaped.txt', 'file', b'x')],
    'link to an absolute path': [('set/link', 'symlink', '{tmp}')],
    'link up the tree': [('set/link', 'symlink', '../../..')],
    'write through a link out': [('set/link', 'symlink', '../..'), ('set/link/escaped.txt', 'file', b'x')],
    'link through a link to the folder itself': [('set/self', 'symlink', '.'),
                                                 ('set/up', 'symlink', 'self/../../..')],
    'hard link out': [('set/hard', 'hardlink', '../outside.txt')],
    'fifo': [('set/pipe', 'fifo', None)],
    'device': [('set/tty', 'chardev', None)],
}


@pytest.mark.parametrize('case', list(UNSAFE))
def test_an_unsafe_member_is_refused_and_nothing_leaves_the_folder(tmp_path, mode, case):
    (tmp_path / 'outside.txt').write_text('mine')
    members = [(n, k, v.format(tmp=tmp_path) if isinstance(v, str) else v) for n, k, v in UNSAFE[case]]
    path = write_tar(tmp_path / 'bad.tar', [('set/ok.png', 'file', b'ok')] + members)
    out = tmp_path / 'a' / 'b' / 'out'
    with pytest.raises(tarfile.TarError):
        archives._unpack_members(path, 'tar', '', str(out))  # every member
    inside = {'a', 'a/b', 'a/b/out'} | {f'a/b/out/{name}' for name in files_under(out)}
    assert files_under(tmp_path) - inside == {'outside.txt', 'bad.tar'}
    assert (tmp_path / 'outside.txt').read_text() == 'mine'


def test_an_absolute_member_name_never_lands_outside(tmp_path, mode):
    escaped = tmp_path / 'abs' / 'escaped.txt'
    path = write_tar(tmp_path / 'abs.tar', [(str(escaped), 'file', b'x')])
    out = tmp_path / 'out'
    try:  # the data filter strips the leading '/', and unpacks inside; the fallback refuses it
        archives._unpack_members(path, 'tar', '', str(out))
        assert mode == 'data filter' and (out / str(escaped).lstrip('/')).is_file()
    except tarfile.TarError:
        assert mode == 'fallback'
    assert not escaped.exists()


def test_unpack_reports_an_unsafe_archive_and_keeps_it(tmp_path, mode):
    downloads, root = tmp_path / 'downloads', tmp_path / 'root'
    downloads.mkdir()
    path = write_tar(downloads / 'set.tar', [('set/ok.png', 'file', b'ok'), ('set/tty', 'chardev', None)])
    archive = Archive(url='https://example.org/set.tar', file='set.tar', check='lock', dest='Set', member='set')
    with pytest.raises(archives.DownloadError, match='not a readable tar archive'):
        archives.unpack(path, archive, str(root), str(tmp_path / 'work'))
    assert os.path.isfile(path + '.corrupt') and not (root / 'Set').exists() and not (tmp_path / 'work').exists()
