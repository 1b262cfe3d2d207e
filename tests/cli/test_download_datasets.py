"""scripts/download_datasets.py end to end against a local HTTP server: fresh, resumed, corrupt, offline, --list."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os.path as osp
import re
import runpy
import shutil
import socket
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
import scipy.io

import wne_basicsr.cli.download_datasets as SCRIPT
import wne_basicsr.data.archives as ARCHIVES
import wne_basicsr.data.download as DOWNLOAD
from wne_basicsr.data.catalog import CATALOG, CHECKS, downloadable

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CBSD68_PATH = '/cszn/FFDNet/archive/refs/heads/master.zip'
FLICKR_PATH = '/research/EDSR/Flickr2K.tar'


class Server:
    """Files served by path, with Range requests; ``cut[path] = n`` ends the next answer for ``path`` after n bytes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.log: list[dict] = []  # path, range (the Range header or None), sent (bytes of the body)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = server.files.get(self.path)
                entry = {'path': self.path, 'range': self.headers.get('Range'), 'sent': 0}
                server.log.append(entry)
                if body is None:
                    self.send_error(404)
                    return
                match = re.fullmatch(r'bytes=(\d+)-', entry['range'] or '')
                start = int(match.group(1)) if match else 0
                if start >= len(body) and match:
                    self.send_response(416)
                    self.send_header('Content-Range', f'bytes */{len(body)}')
                    self.end_headers()
                    return
                self.send_response(206 if match else 200)
                if match:
                    self.send_header('Content-Range', f'bytes {start}-{len(body) - 1}/{len(body)}')
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Length', str(len(body) - start))
                self.end_headers()
                payload = body[start:start + server.cut.pop(self.path, len(body))]
                self.wfile.write(payload)
                entry['sent'] = len(payload)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def closed_port():
    """A local TCP port that nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        yield sock.getsockname()[1]


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch):
    monkeypatch.setattr(DOWNLOAD, 'RETRY_WAIT_S', 0.0)


def png(seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (8, 8, 3))
    return cv2.imencode('.png', img.astype(np.uint8))[1].tobytes()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ffdnet_zip(seed: int = 0) -> bytes:
    """A stand-in for FFDNet's repository archive: two CBSD68 images next to files that must not be kept."""
    return zip_bytes({'FFDNet-master/testsets/CBSD68/101085.png': png(seed),
                      'FFDNet-master/testsets/CBSD68/101087.png': png(seed + 1),
                      'FFDNet-master/testsets/Kodak24/kodim01.png': png(seed + 2),
                      'FFDNet-master/models/FFDNet_color.mat': b'weights'})


def run(argv: list[str]) -> int:
    """The exit status of the command-line tool."""
    try:
        SCRIPT.main(argv)
    except SystemExit as exc:
        return 0 if exc.code is None else 1 if isinstance(exc.code, str) else exc.code
    return 0


def test_a_fresh_download_unpacks_its_folder_makes_the_lmdb_and_a_rerun_does_nothing(tmp_path, server, capsys):
    root = tmp_path / 'datasets'
    server.files[CBSD68_PATH] = ffdnet_zip()
    argv = ['--sets', 'CBSD68', '--root', str(root), '--base-url', server.url, '--lmdb']
    assert run(argv) == 0
    assert sorted(p.name for p in (root / 'CBSD68').iterdir()) == ['101085.png', '101087.png']
    assert (root / 'CBSD68.lmdb' / 'data.mdb').is_file()
    lock = json.loads((root / '.download_lock.json').read_text())
    assert lock['FFDNet-master.zip']['sha256'] == hashlib.sha256(server.files[CBSD68_PATH]).hexdigest()
    assert not (root / '.downloads' / 'FFDNet-master.zip').exists()  # the archive is removed once unpacked
    assert [entry['range'] for entry in server.log] == [None]
    server.log.clear()
    assert run(argv) == 0
    assert server.log == []
    assert 'CBSD68: complete, skipped' in capsys.readouterr().out


def test_an_interrupted_download_resumes_with_a_range_request_for_the_rest(tmp_path, server, capsys):
    root = tmp_path / 'datasets'
    hr = np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes()  # incompressible
    server.files[FLICKR_PATH] = tar_bytes({'Flickr2K/Flickr2K_HR/000001.png': hr,
                                           'Flickr2K/Flickr2K_LR_bicubic/X2/000001x2.png': b'low resolution'})
    total = len(server.files[FLICKR_PATH])
    argv = ['--sets', 'Flickr2K', '--root', str(root), '--base-url', server.url]
    server.cut[FLICKR_PATH] = 60_000
    assert run(argv + ['--retries', '0']) == 1
    err = capsys.readouterr().err
    assert 'Flickr2K.tar: the connection broke off after 60,000' in err and 'rerun' in err
    assert 'Traceback' not in err
    assert osp.getsize(root / '.downloads' / 'Flickr2K.tar.part') == 60_000
    assert SCRIPT.list_sets(['Flickr2K'], str(root)).split()[1] == 'partial'
    # the rerun resumes at 60,000; its first answer breaks off again at 120,000, and its own retry fetches the rest
    server.cut[FLICKR_PATH] = 60_000
    assert run(argv) == 0
    assert [(e['range'], e['sent']) for e in server.log] == [
        (None, 60_000), ('bytes=60000-', 60_000), ('bytes=120000-', total - 120_000)]
    assert (root / 'Flickr2K' / 'Flickr2K_HR' / '000001.png').read_bytes() == hr
    assert not (root / 'Flickr2K' / 'Flickr2K_LR_bicubic').exists()  # only the HR folder is unpacked


def test_a_checksum_mismatch_keeps_the_file_aside_and_deletes_nothing_complete(tmp_path, server, capsys):
    root = tmp_path / 'datasets'
    server.files[CBSD68_PATH] = ffdnet_zip()
    assert run(['--sets', 'CBSD68', '--root', str(root), '--base-url', server.url]) == 0
    # DIV2K has a published SHA-256 and size, which a stand-in archive cannot match
    for split in ('train', 'valid'):
        server.files[f'/cvl/DIV2K/DIV2K_{split}_HR.zip'] = zip_bytes({f'DIV2K_{split}_HR/0001.png': png(5)})
    assert run(['--sets', 'DIV2K', 'CBSD68', '--root', str(root), '--base-url', server.url]) == 1
    err = capsys.readouterr().err
    assert 'DIV2K_train_HR.zip: size mismatch' in err and 'TensorFlow Datasets' in err and 'rerun' in err
    assert (root / '.downloads' / 'DIV2K_train_HR.zip.corrupt').is_file()
    assert not (root / 'DIV2K').exists()
    assert len(list((root / 'CBSD68').iterdir())) == 2
    # a 'lock' archive that changed on the server: rejected against the SHA-256 recorded at its first download
    lock = (root / '.download_lock.json').read_text()
    shutil.rmtree(root / 'CBSD68')  # deleted to download it again
    server.files[CBSD68_PATH] = ffdnet_zip(seed=1)
    assert run(['--sets', 'CBSD68', '--root', str(root), '--base-url', server.url]) == 1
    err = capsys.readouterr().err
    assert 'FFDNet-master.zip: checksum mismatch' in err and '.download_lock.json' in err
    assert (root / '.download_lock.json').read_text() == lock
    assert SCRIPT.list_sets(['CBSD68'], str(root)).split()[1] == 'corrupt'


def test_list_shows_each_state_and_runs_from_the_script(tmp_path, server, capsys, monkeypatch):
    root = tmp_path / 'datasets'
    server.files[CBSD68_PATH] = ffdnet_zip()
    assert run(['--sets', 'CBSD68', '--root', str(root), '--base-url', server.url]) == 0
    server.files[FLICKR_PATH] = tar_bytes({'Flickr2K/Flickr2K_HR/000001.png': png(3)})
    server.cut[FLICKR_PATH] = 1000
    assert run(['--sets', 'Flickr2K', '--root', str(root), '--base-url', server.url, '--retries', '0']) == 1
    server.files['/cvl/DIV2K/DIV2K_train_HR.zip'] = zip_bytes({'DIV2K_train_HR/0001.png': png(5)})
    assert run(['--sets', 'DIV2K', '--root', str(root), '--base-url', server.url]) == 1
    for folder in ('train/noisy', 'train/clean', 'val/noisy', 'val/clean'):
        (root / 'SIDD' / folder).mkdir(parents=True)
        (root / 'SIDD' / folder / 'a.png').write_bytes(png(0))
    capsys.readouterr()
    monkeypatch.setattr(sys, 'argv', ['download_datasets.py', '--list', '--root', str(root)])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(osp.join(REPO, 'scripts', 'download_datasets.py'), run_name='__main__')
    assert exc.value.code is None
    states = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert states == {'DIV2K': 'corrupt', 'Flickr2K': 'partial', 'Waterloo': 'missing', 'CBSD68': 'complete',
                      'SIDD': 'present'}


def test_no_network_is_a_one_line_message_and_a_failure(tmp_path, capsys, closed_port):
    port = closed_port
    with pytest.raises(SystemExit, match='1 of 1 sets failed'):
        SCRIPT.main(['--sets', 'CBSD68', '--root', str(tmp_path), '--base-url', f'http://127.0.0.1:{port}',
                     '--retries', '1'])
    assert capsys.readouterr().err.splitlines() == [
        f'download_datasets: error: CBSD68: FFDNet-master.zip: connection refused (127.0.0.1:{port}); check the '
        'network connection and rerun']


def test_a_rar_archive_without_a_rar_tool_names_what_to_install_and_keeps_the_download(tmp_path, server, capsys,
                                                                                        monkeypatch):
    monkeypatch.setattr(ARCHIVES.shutil, 'which', lambda name: None)
    server.files['/database/WaterlooExploration/exploration_database_and_code.rar'] = b'Rar!\x1a\x07\x00 stand-in'
    assert run(['--sets', 'Waterloo', '--root', str(tmp_path), '--base-url', server.url]) == 1
    err = capsys.readouterr().err
    assert 'is a RAR archive and no RAR extractor is installed' in err and 'unrar' in err and 'unar' in err
    assert (tmp_path / '.downloads' / 'exploration_database_and_code.rar').is_file()
    assert SCRIPT.list_sets(['Waterloo'], str(tmp_path)).split()[1] == 'partial'


def test_sidd_is_downloaded_and_cut_into_training_and_validation_blocks(tmp_path, server):
    ramp = np.add.outer(np.arange(512), np.arange(512)) // 4
    image = np.dstack([ramp, ramp, ramp]).astype(np.uint8)
    scene = 'SIDD_Medium_Srgb/Data/0001_001_S6_00100_00060_3200_L/0001_'
    encoded = cv2.imencode('.png', image)[1].tobytes()
    server.files['/share/SIDD_Medium_Srgb.zip'] = zip_bytes({scene + 'GT_SRGB_010.PNG': encoded,
                                                             scene + 'NOISY_SRGB_010.PNG': encoded})
    for name in ('Noisy', 'Gt'):
        buffer = io.BytesIO()
        scipy.io.savemat(buffer, {f'Validation{name}BlocksSrgb': np.zeros((1, 2, 8, 8, 3), np.uint8)})
        server.files[f'/share/SIDD_Blocks/Validation{name}BlocksSrgb.mat'] = buffer.getvalue()
    # the real table has the publisher's SHA-1 for the zip: the test catalog checks everything against the lock
    sidd = downloadable()['SIDD']
    archives = tuple(dataclasses.replace(a, check='lock', checksum='', source='') for a in sidd.archives)
    catalog = (dataclasses.replace(sidd, archives=archives),)
    assert SCRIPT.download(['SIDD'], str(tmp_path), catalog, base_url=server.url) == []
    assert [p.name for p in (tmp_path / 'SIDD' / 'train' / 'noisy').iterdir()] == ['0001_SRGB_010_s001.png']
    assert sorted(p.name for p in (tmp_path / 'SIDD' / 'val' / 'clean').iterdir()) == ['00_00.png', '00_01.png']
    assert SCRIPT.list_sets(['SIDD'], str(tmp_path), catalog).split()[1] == 'complete'


def test_the_table_is_consistent_and_in_the_readme():
    with open(osp.join(REPO, 'datasets', 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    downloading = readme.split('## Downloading', 1)[1].split('\n## ', 1)[0]
    files = [a.file for entry in downloadable().values() for a in entry.archives]
    assert len(files) == len(set(files))
    assert set(downloadable()) == {e.name for e in CATALOG if not e.bundled}
    for entry in downloadable().values():
        assert len(entry.lmdbs) == len(entry.folders) and f'## {entry.section}' in readme
        for archive in entry.archives:
            assert archive.check in CHECKS and archive.url in downloading and archive.file in downloading
            digest = {'sha256': 64, 'sha1': 40, 'md5': 32}.get(archive.check, 0)
            assert len(archive.checksum) == digest and (archive.source != '') == (digest > 0)
