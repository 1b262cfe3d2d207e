"""scripts/create_lmdb.py: overwrite protection, BasicSR-valid keys, clear errors, no partial output."""
import os
import os.path as osp
import subprocess
import sys

import pytest

import wne_basicsr.cli.create_lmdb as SCRIPT

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))



def meta_keys(lmdb) -> list[str]:
    return [line.split()[0] for line in (lmdb / 'meta_info.txt').read_text().splitlines()]


def test_runs_from_the_repo_root_and_refuses_to_overwrite_without_force(tmp_path, gray_folder):
    out = tmp_path / 'x.lmdb'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    cmd = [sys.executable, 'scripts/create_lmdb.py', '--input', gray_folder, '--output', str(out)]
    first = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    assert 'Wrote 4 images' in first.stdout and len(meta_keys(out)) == 4
    (out / 'marker').write_text('old')
    with pytest.raises(SystemExit, match='already exists; pass --force'):
        SCRIPT.main(['--input', gray_folder, '--output', str(out)])
    assert (out / 'marker').is_file()
    SCRIPT.main(['--input', gray_folder, '--output', str(out), '--force'])
    assert not (out / 'marker').exists() and len(meta_keys(out)) == 4


def test_force_never_deletes_something_that_is_not_an_lmdb(tmp_path, gray_folder):
    (tmp_path / 'mine.lmdb').mkdir()
    (tmp_path / 'mine.lmdb' / 'notes.txt').write_text('keep')
    with pytest.raises(SystemExit, match='is not an LMDB'):
        SCRIPT.main(['--input', gray_folder, '--output', str(tmp_path / 'mine.lmdb'), '--force'])
    assert (tmp_path / 'mine.lmdb' / 'notes.txt').is_file()
    with pytest.raises(SystemExit, match='must end with ".lmdb"'):
        SCRIPT.main(['--input', gray_folder, '--output', str(tmp_path / 'plain')])


def test_keys_are_valid_for_basicsr_and_unique(tmp_path, make_images):
    make_images(tmp_path / 'in', 1, (8, 8))
    os.rename(tmp_path / 'in' / 'img000.png', tmp_path / 'in' / 'a photo.v2.png')
    make_images(tmp_path / 'in' / 'sub.dir', 1, (8, 8))
    SCRIPT.create_lmdb([str(tmp_path / 'in')], str(tmp_path / 'new' / 'k.lmdb'))  # parent made
    assert meta_keys(tmp_path / 'new' / 'k.lmdb') == ['a_photo_v2.png', 'sub_dir/img000.png']
    make_images(tmp_path / 'clash', 1, (8, 8))
    os.rename(tmp_path / 'clash' / 'img000.png', tmp_path / 'clash' / 'a.b.png')
    make_images(tmp_path / 'clash', 1, (8, 8), seed=1)
    os.rename(tmp_path / 'clash' / 'img000.png', tmp_path / 'clash' / 'a_b.png')
    with pytest.raises(ValueError, match="share the LMDB key 'a_b'"):
        SCRIPT.create_lmdb([str(tmp_path / 'clash')], str(tmp_path / 'c.lmdb'))
    assert not (tmp_path / 'c.lmdb').exists()


def test_errors_name_the_folder_or_file_and_leave_no_partial_lmdb(tmp_path, make_images):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SystemExit, match='holds no images'):
        SCRIPT.main(['--input', str(tmp_path / 'empty'), '--output', str(tmp_path / 'e.lmdb')])
    with pytest.raises(SystemExit, match='no such folder'):
        SCRIPT.main(['--input', str(tmp_path / 'missing'), '--output', str(tmp_path / 'e.lmdb')])
    make_images(tmp_path / 'bad', 3, (16, 16))
    data = (tmp_path / 'bad' / 'img002.png').read_bytes()
    (tmp_path / 'bad' / 'img002.png').write_bytes(data[:-40])
    with pytest.raises(SystemExit, match=r'img002\.png: cannot decode'):
        SCRIPT.main(['--input', str(tmp_path / 'bad'), '--output', str(tmp_path / 'b.lmdb')])
    assert not (tmp_path / 'b.lmdb').exists() and not (tmp_path / 'e.lmdb').exists()
