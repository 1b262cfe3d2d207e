"""BasicSR's training and test pipelines, rebuilt from its parts so that a run behaves as its options say.

Compared with ``basicsr.train.train_pipeline`` / ``basicsr.test.test_pipeline`` (1.4.2):
- options, datasets and the model are checked before anything is written: a run that cannot start leaves no
  ``experiments/``, ``tb_logger/`` or ``results/`` folder behind, and ends with its one-line cause;
- training runs exactly ``train.total_iter`` iterations whatever the dataset size, batch and world size (BasicSR counts
  epochs with a rounded-up batch count and stops short when the last batch is dropped);
- the last iteration is validated once, at ``total_iter`` (BasicSR validates it again one step later), the ETA counts
  the iterations left, and the final checkpoint comes with its training state, so ``--auto_resume`` of a finished run
  does not train again.
"""
from __future__ import annotations

import datetime
import logging
import os
import os.path as osp
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from logging.handlers import MemoryHandler

import torch
from basicsr.data import build_dataloader, build_dataset
from basicsr.data.data_sampler import EnlargedSampler
from basicsr.data.prefetch_dataloader import CPUPrefetcher, CUDAPrefetcher
from basicsr.models import build_model
from basicsr.train import init_tb_loggers
from basicsr.utils import (
    AvgTimer,
    MessageLogger,
    get_env_info,
    get_root_logger,
    get_time_str,
    make_exp_dirs,
    mkdir_and_rename,
)
from basicsr.utils.options import copy_opt_file, dict2str
from torch.utils.data import DataLoader

from wne_basicsr.compat import load_resume_state
from wne_basicsr.option_checks import close_process_group, parse_checked_options, translate_local_rank

LOG_FORMAT = '%(asctime)s %(levelname)s: %(message)s'  # BasicSR's
# Errors whose message says everything (bad options, missing files): shown as one line, without a traceback.
CLEAR_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, FileExistsError, NotADirectoryError)


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


def build_named_dataset(key: str, dataset_opt: dict):
    """``build_dataset`` with errors prefixed by the options key of the set (``datasets.<key>``)."""
    try:
        return build_dataset(dataset_opt)
    except CLEAR_ERRORS as err:
        raise StartupError(f'datasets.{key}: {err}') from err


@dataclass
class TrainLoaders:
    """The training loader and its sampler, the validation loaders, and the true number of batches per epoch."""

    train: DataLoader
    sampler: EnlargedSampler
    val: list[DataLoader]
    iters_per_epoch: int


def create_train_loaders(opt: dict, logger: logging.Logger) -> TrainLoaders:
    """Loaders of ``datasets.train`` and every ``datasets.val*`` set, with the training statistics logged."""
    train = sampler = None
    val = []
    for key, dataset_opt in opt['datasets'].items():
        phase = key.split('_')[0]
        if phase not in ('train', 'val'):
            raise StartupError(f'datasets.{key}: training options take a "train" set and "val" / "val_*" sets')
        dataset = build_named_dataset(key, dataset_opt)
        if phase == 'val':
            val.append(build_dataloader(dataset, dataset_opt, num_gpu=opt['num_gpu'], dist=opt['dist'], sampler=None,
                                        seed=opt['manual_seed']))
            logger.info(f'Number of val images/folders in {dataset_opt["name"]}: {len(dataset)}')
            continue
        ratio = dataset_opt.get('dataset_enlarge_ratio', 1)
        sampler = EnlargedSampler(dataset, opt['world_size'], opt['rank'], ratio)
        train = build_dataloader(dataset, dataset_opt, num_gpu=opt['num_gpu'], dist=opt['dist'], sampler=sampler,
                                 seed=opt['manual_seed'])
        if len(train) == 0:
            raise StartupError(f'datasets.{key}: {len(dataset)} image(s) × dataset_enlarge_ratio {ratio} over '
                               f'{opt["world_size"]} process(es) make less than one batch of '
                               f'{train.batch_size}; lower batch_size_per_gpu or raise dataset_enlarge_ratio')
        logger.info(f'Training statistics:\n\tNumber of train images: {len(dataset)}\n\tDataset enlarge ratio: '
                    f'{ratio}\n\tBatch size per process: {train.batch_size}\n\tWorld size: {opt["world_size"]}\n\t'
                    f'Iterations per epoch: {len(train)}\n\tTotal iterations: {int(opt["train"]["total_iter"])}.')
    if train is None:
        raise StartupError('datasets.train is missing: training options need a training set')
    return TrainLoaders(train, sampler, val, len(train))


class ProgressLogger(MessageLogger):
    """BasicSR's message logger whose ETA is the mean iteration time times the iterations left (never negative)."""

    def __init__(self, opt: dict, start_iter: int, tb_logger) -> None:
        super().__init__(opt, start_iter, tb_logger)
        # BasicSR estimates avg · (max_iters − iter − 1): one more iteration makes it avg · (iterations left).
        self.max_iters = int(opt['train']['total_iter']) + 1


def make_prefetcher(opt: dict, loader: DataLoader):
    """BasicSR's CPU (default) or CUDA prefetcher for ``datasets.train.prefetch_mode``."""
    mode = opt['datasets']['train'].get('prefetch_mode')
    if mode in (None, 'cpu'):
        return CPUPrefetcher(loader)
    if mode == 'cuda':
        if opt['datasets']['train'].get('pin_memory') is not True:
            raise StartupError('datasets.train.prefetch_mode: cuda needs pin_memory: true')
        return CUDAPrefetcher(loader, opt)
    raise StartupError(f'datasets.train.prefetch_mode must be ~, cpu or cuda, got {mode!r}')


def train_pipeline(root_path: str) -> None:
    """Train as the options say: check everything, make the folders, then run exactly ``train.total_iter`` steps."""
    log = None
    try:
        with startup_checks():
            opt, args = parse_checked_options(root_path, is_train=True)
            opt['root_path'] = root_path
            torch.backends.cudnn.benchmark = True
            log = RunLog(opt['rank'])
            resume_state = load_resume_state(opt)
            loaders = create_train_loaders(opt, log.logger)
            model = build_model(opt)
            prefetcher = make_prefetcher(opt, loaders.train)
        if resume_state is None:
            make_exp_dirs(opt)
            if opt['logger'].get('use_tb_logger') and 'debug' not in opt['name'] and opt['rank'] == 0:
                mkdir_and_rename(osp.join(root_path, 'tb_logger', opt['name']))
        copy_opt_file(args.opt, opt['path']['experiments_root'])
        log.start_file(opt, 'train')
        _train(opt, model, loaders, prefetcher, resume_state, init_tb_loggers(opt), log.logger)
    finally:
        if log is not None:
            log.close()


def _train(opt: dict, model, loaders: TrainLoaders, prefetcher, resume_state: dict | None, tb_logger,
           logger: logging.Logger) -> None:
    """The training loop: ``total_iter`` steps over as many epochs as that takes, then the final save and validation."""
    total_iters = int(opt['train']['total_iter'])
    epoch, current_iter = 0, 0
    if resume_state:
        model.resume_training(resume_state)
        epoch, current_iter = resume_state['epoch'], resume_state['iter']
        logger.info(f'Resuming training from epoch: {epoch}, iter: {current_iter}.')
    msg_logger = ProgressLogger(opt, current_iter, tb_logger)
    val_opt = opt.get('val')
    logger.info(f'Start training from epoch: {epoch}, iter: {current_iter}')
    data_timer, iter_timer = AvgTimer(), AvgTimer()
    start_time, first_iter, validated_at = time.time(), current_iter + 1, None
    while current_iter < total_iters:
        loaders.sampler.set_epoch(epoch)
        if hasattr(loaders.train.dataset, 'set_stream'):
            loaders.train.dataset.set_stream(epoch, current_iter)  # new draws per epoch, and after a resume
        prefetcher.reset()
        train_data = prefetcher.next()
        while train_data is not None and current_iter < total_iters:
            data_timer.record()
            current_iter += 1
            model.update_learning_rate(current_iter, warmup_iter=opt['train'].get('warmup_iter', -1))
            model.feed_data(train_data)
            model.optimize_parameters(current_iter)
            iter_timer.record()
            if current_iter == first_iter:
                msg_logger.reset_start_time()  # the ETA leaves out start-up, also after a resume
            if current_iter % opt['logger']['print_freq'] == 0:
                msg_logger({'epoch': epoch, 'iter': current_iter, 'lrs': model.get_current_learning_rate(),
                            'time': iter_timer.get_avg_time(), 'data_time': data_timer.get_avg_time(),
                            **model.get_current_log()})
            if current_iter % opt['logger']['save_checkpoint_freq'] == 0 or current_iter == total_iters:
                logger.info('Saving models and training states.')
                model.save(epoch, current_iter)
            if val_opt is not None and current_iter % val_opt['val_freq'] == 0:
                _validate(model, loaders.val, current_iter, tb_logger, val_opt)
                validated_at = current_iter
            data_timer.start()
            iter_timer.start()
            train_data = prefetcher.next()
        if current_iter < total_iters:
            epoch += 1
    logger.info(f'End of training. Time consumed: {datetime.timedelta(seconds=int(time.time() - start_time))}')
    logger.info('Save the latest model.')
    model.save(epoch=-1, current_iter=-1)  # net_g_latest.pth
    if val_opt is not None and validated_at != current_iter:
        _validate(model, loaders.val, current_iter, tb_logger, val_opt)
    if tb_logger:
        tb_logger.close()


def _validate(model, loaders: list[DataLoader], current_iter: int, tb_logger, val_opt: dict) -> None:
    for loader in loaders:
        model.validation(loader, current_iter, tb_logger, val_opt['save_img'])


def test_pipeline(root_path: str) -> None:
    """Test as BasicSR does (every set in key order), after checking the options, sets and model."""
    log = None
    try:
        with startup_checks():
            opt, _ = parse_checked_options(root_path, is_train=False)
            torch.backends.cudnn.benchmark = True
            log = RunLog(opt['rank'])
            loaders = []
            for key, dataset_opt in sorted(opt['datasets'].items()):
                dataset = build_named_dataset(key, dataset_opt)
                loaders.append(build_dataloader(dataset, dataset_opt, num_gpu=opt['num_gpu'], dist=opt['dist'],
                                                sampler=None, seed=opt['manual_seed']))
                log.logger.info(f'Number of test images in {dataset_opt["name"]}: {len(dataset)}')
            model = build_model(opt)
        make_exp_dirs(opt)
        log.start_file(opt, 'test')
        for loader in loaders:
            log.logger.info(f'Testing {loader.dataset.opt["name"]}...')
            model.validation(loader, current_iter=opt['name'], tb_logger=None, save_img=opt['val']['save_img'])
    finally:
        if log is not None:
            log.close()


def run_entry_point(pipeline: Callable[[str], None]) -> None:
    """Run ``pipeline`` under the working directory (or ``$WNE_BASICSR_ROOT``) as an entry point: a run that cannot
    start exits with its one-line cause as the last line, writing nothing."""
    sys.argv = translate_local_rank(sys.argv)
    try:
        pipeline(os.environ.get('WNE_BASICSR_ROOT', os.getcwd()))
    except StartupError as err:
        close_process_group(wait=False)
        sys.exit(f'{osp.basename(sys.argv[0])}: error: {err}')
    close_process_group()
