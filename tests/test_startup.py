"""Start-up errors: the ones our checks raise on purpose end the command in one line; any other error keeps its
traceback, so that a bug is not mistaken for a bad option."""
import sys

import pytest

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.utils.registry import Registry

from wne_basicsr.option_checks import OptionError
from wne_basicsr.registry_errors import UnregisteredTypeError
from wne_basicsr.startup import prepared, run_entry_point


def run_failing(monkeypatch, error: Exception) -> str:
    """Run an entry point whose start-up raises ``error``; return the exit message."""
    monkeypatch.setattr(sys, 'argv', ['train.py'])
    monkeypatch.setattr(Registry, 'get', Registry.get)  # the entry point's process-wide settings are undone after
    monkeypatch.setenv('THP_MEM_ALLOC_ENABLE', '1')

    def pipeline(root: str) -> None:
        with prepared([]):
            raise error

    with pytest.raises(SystemExit) as stop:
        run_entry_point(pipeline)
    return str(stop.value.code)


@pytest.mark.parametrize('error', [TypeError("__init__() got an unexpected keyword argument 'nm'"),
                                   KeyError('num_feat'), ValueError('not enough values to unpack')],
                         ids=['TypeError', 'KeyError', 'ValueError'])
def test_an_unexpected_error_keeps_its_traceback(monkeypatch, capsys, error):
    message = run_failing(monkeypatch, error)
    err = capsys.readouterr().err
    assert 'Traceback (most recent call last)' in err and f'{type(error).__name__}: ' in err
    assert message.startswith('train.py: error: ')  # the cause still ends the output


@pytest.mark.parametrize('error', [OptionError('option train.total_iter is required'),
                                   FileNotFoundError('datasets.train: dataroot_gt x does not exist'),
                                   UnregisteredTypeError("option type: 'dncnn' is not registered")],
                         ids=['OptionError', 'FileNotFoundError', 'UnregisteredTypeError'])
def test_an_error_of_our_checks_is_one_line(monkeypatch, capsys, error):
    message = run_failing(monkeypatch, error)
    assert message == f'train.py: error: {error}'
    assert 'Traceback' not in capsys.readouterr().err
