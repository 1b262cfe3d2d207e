"""What the entry points share: start-up errors reported in one line, and the run log that waits for its folder."""
from __future__ import annotations

import logging
import os
import os.path as osp
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from logging.handlers import MemoryHandler

from basicsr.utils import get_env_info, get_root_logger, get_time_str
from basicsr.utils.options import dict2str

from wne_basicsr.option_checks import OptionError, close_process_group, translate_local_rank
from wne_basicsr.registry_errors import explain_unregistered_types

LOG_FORMAT = '%(asctime)s %(levelname)s: %(message)s'  # BasicSR's
# What our checks raise on purpose (bad options or data, missing files): one line, without a traceback. Any other
# error (a TypeError, KeyError or plain ValueError from deeper down) is unexpected and keeps its traceback.
CLEAR_ERRORS = (OptionError, FileNotFoundError, FileExistsError, NotADirectoryError)


class StartupError(RuntimeError):
    """A run that stopped before writing anything: bad options, missing data, a network that cannot be built."""


@contextmanager
def startup_checks() -> Iterator[None]:
    """Turn any error of the block into a StartupError; an unexpected kind of error shows its traceback first."""
    try:
        yield
    except StartupError:
        raise
    except Exception as err:
        if not isinstance(err, CLEAR_ERRORS):
            traceback.print_exc()
        message = f'missing key {err}' if type(err) is KeyError else str(err)
        raise StartupError(' '.join(message.split()) or type(err).__name__) from err


class RunLog:
    """BasicSR's ``basicsr`` logger: on the console from the start, in the run's log file once its folder exists.

    Lines logged before the file is attached are kept in memory and written to it first.
    """

    def __init__(self, rank: int) -> None:
        self.logger = get_root_logger()
        if rank == 0:
            self.logger.setLevel(logging.INFO)  # BasicSR sets the level only when it opens a log file
        self.buffer = MemoryHandler(capacity=1 << 20, flushLevel=logging.CRITICAL + 1)
        self.logger.addHandler(self.buffer)
        self.file_handler: logging.FileHandler | None = None

    def start_file(self, opt: dict, kind: str) -> None:
        """On rank 0, log to ``<path.log>/<kind>_<name>_<time>.log`` from now on (the lines so far first), then log
        the environment and the options, as BasicSR does."""
        if opt['rank'] != 0:
            self.close_buffer()
            return
        path = osp.join(opt['path']['log'], f'{kind}_{opt["name"]}_{get_time_str()}.log')
        self.file_handler = logging.FileHandler(path, 'w')
        self.file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        self.file_handler.setLevel(logging.INFO)
        self.buffer.setTarget(self.file_handler)
        self.buffer.flush()
        self.logger.addHandler(self.file_handler)
        self.close_buffer()
        self.logger.info(get_env_info())
        self.logger.info(dict2str(opt))

    def close_buffer(self) -> None:
        self.logger.removeHandler(self.buffer)
        self.buffer.close()

    def close(self) -> None:
        """Detach the buffer and the file (the logger is process-wide; a second run in one process gets its own)."""
        self.close_buffer()
        if self.file_handler is not None:
            self.logger.removeHandler(self.file_handler)
            self.file_handler.close()


@contextmanager
def prepared(log_holder: list) -> Iterator[None]:
    """Start-up checks that also close the run's log when they fail."""
    try:
        with startup_checks():
            yield
    except StartupError:
        if log_holder:
            log_holder[0].close()
        raise


def run_entry_point(pipeline: Callable[[str], None]) -> None:
    """Run ``pipeline`` under the working directory (or ``$WNE_BASICSR_ROOT``) as an entry point: a run that cannot
    start exits with its one-line cause as the last line, writing nothing."""
    prepare_process()
    sys.argv = translate_local_rank(sys.argv)
    try:
        pipeline(os.environ.get('WNE_BASICSR_ROOT', os.getcwd()))
    except StartupError as err:
        close_process_group(wait=False)
        sys.exit(f'{osp.basename(sys.argv[0])}: error: {err}')
    close_process_group()


def prepare_process() -> None:
    """What our commands do before any work, and ``import wne_basicsr`` does not: transparent huge pages for torch's
    CPU allocator (unless ``THP_MEM_ALLOC_ENABLE`` is set; 0 opts out) and unknown option types that list the close
    registered names."""
    # Large CPU tensors on huge pages: whole-image inference page-faults far less (a 512×512 DnCNN forward took 1.1 s
    # instead of 2.2 s on a 2-core machine). torch's allocator reads the variable at its first large allocation.
    os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')
    explain_unregistered_types()
