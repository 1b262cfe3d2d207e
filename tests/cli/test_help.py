"""What the commands say about themselves: --help of every console script (a whole first sentence, each argument of
wne-train / wne-test described) and the download sizes of ``wne-download --list``."""
import importlib
import os.path as osp
import re
import sys

import pytest

import wne_basicsr  # noqa: F401

# isort: split
from wne_basicsr.cli import download_datasets

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
with open(osp.join(REPO, 'setup.py'), encoding='utf-8') as f:
    ENTRY_POINTS = dict(re.findall(r"'(wne-[a-z-]+) = ([\w.]+:\w+)'", f.read()))
BASICSR_ARGUMENTS = ('-opt', '--launcher', '--auto_resume', '--debug', '--local_rank', '--force_yml')


def help_text(command: str, monkeypatch, capsys) -> str:
    """The output of ``<command> --help``, run in this process."""
    module, function = ENTRY_POINTS[command].split(':')
    main = getattr(importlib.import_module(module), function)
    monkeypatch.setattr(sys, 'argv', [command, '--help'])
    with pytest.raises(SystemExit) as stop:
        main() if command in ('wne-train', 'wne-test') else main(['--help'])
    assert stop.value.code in (0, None)
    return capsys.readouterr().out


def test_every_console_script_is_listed():
    assert len(ENTRY_POINTS) == 16 and {'wne-train', 'wne-test', 'wne-mismatch-table'} <= set(ENTRY_POINTS)


@pytest.mark.parametrize('command', sorted(ENTRY_POINTS))
def test_help_starts_with_a_whole_sentence(command, monkeypatch, capsys):
    text = help_text(command, monkeypatch, capsys)
    description = text.split('\n\n')[1]  # the paragraph after the usage
    assert not description.startswith(('options:', 'positional arguments:')), f'{command} has no description'
    assert description.rstrip().endswith(('.', ')', '.``', '`')), f'{command}: {description!r} stops mid-sentence'


@pytest.mark.parametrize('command', ['wne-train', 'wne-test'])
def test_train_and_test_help_describe_every_argument(command, monkeypatch, capsys):
    text = help_text(command, monkeypatch, capsys)
    entries = re.split(r'\n(?=  -)', text.split('options:\n', 1)[1].split('\n\n', 1)[0])
    for argument in BASICSR_ARGUMENTS:
        words = next(entry.split() for entry in entries if entry.split()[0] == argument)
        assert len(words) >= 6, f'{argument} is not described: {" ".join(words)}'  # the flag and a sentence
    assert 'examples:' in text and ('experiments/<name>/' if command == 'wne-train' else 'results/<name>/') in text


def test_train_command_line_mistake_is_reported_by_the_described_parser(monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', ['wne-train', '-opt', 'x.yml', '--launcher', 'mpi'])
    with pytest.raises(SystemExit) as stop:
        importlib.import_module('wne_basicsr.train').main()
    assert stop.value.code == 2
    assert "wne-train: error: argument --launcher: invalid choice: 'mpi'" in capsys.readouterr().err


def test_download_list_shows_each_set_s_download_size(tmp_path, capsys):
    download_datasets.main(['--list', '--root', str(tmp_path)])
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows['DIV2K'].split()[1:4] == ['missing', '3.98', 'GB']  # 3,530,603,713 + 448,993,893 bytes, published
    assert 'size unknown' in rows['Flickr2K'] and 'size unknown' in rows['Waterloo']
    assert 'about 12 GB + 2 files of unknown size' in rows['SIDD']
    assert sorted(rows) == ['CBSD68', 'DIV2K', 'Flickr2K', 'SIDD', 'Waterloo'] and not list(tmp_path.iterdir())
