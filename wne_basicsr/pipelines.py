"""BasicSR's training and test pipelines, rebuilt from its parts so that a run behaves as its options say.

Compared with ``basicsr.train.train_pipeline`` / ``basicsr.test.test_pipeline`` (1.4.2):
- options, datasets and the model are checked before anything is written: a run that cannot start leaves no
  ``experiments/``, ``tb_logger/`` or ``results/`` folder behind, and ends with its one-line cause;
- training runs exactly ``train.total_iter`` iterations whatever the dataset size, batch and world size (BasicSR counts
  epochs with a rounded-up batch count and stops short when the last batch is dropped);
- the last iteration is validated once, at ``total_iter`` (BasicSR validates it again one step later), the ETA counts
  the iterations left, and the final checkpoint comes with its training state, so ``--auto_resume`` of a finished run
  says there is nothing to do and exits without validating or writing anything;
- the last iteration is always logged (console and tensorboard), also in a run shorter than ``logger.print_freq``;
- test.py refuses options that load no checkpoint (``path.pretrain_network_g``) and skips training sets;
- the logged ``time (data)`` is the mean of the iterations since the previous log, the first after a (re)start left
  out (BasicSR averages from the first iteration on, start-up included).
"""
from __future__ import annotations

import datetime
import logging
import os.path as osp
import time
from dataclasses import dataclass

import torch
from basicsr.data import build_dataloader, build_dataset
from basicsr.data.data_sampler import EnlargedSampler
from basicsr.data.prefetch_dataloader import CPUPrefetcher, CUDAPrefetcher
from basicsr.models import build_model
from basicsr.train import init_tb_loggers
from basicsr.utils import MessageLogger, make_exp_dirs, mkdir_and_rename
from basicsr.utils.options import copy_opt_file
from torch.utils.data import DataLoader

import wne_basicsr.models  # noqa: F401  (registers DenoisingModel and SamplerModel)
from wne_basicsr.option_checks import parse_checked_options
from wne_basicsr.resume import load_resume_state
from wne_basicsr.startup import CLEAR_ERRORS, RunLog, StartupError, prepared, run_entry_point


def build_named_dataset(key: str, dataset_opt: dict):
    """``build_dataset`` with errors prefixed by the options key of the set (``datasets.<key>``)."""
    try:
        return build_dataset(dataset_opt)
    except CLEAR_ERRORS as err:
        raise StartupError(f'datasets.{key}: {err}') from err


@dataclass
class TrainLoaders:
    """The training loader and its sampler, and the validation loaders."""

    train: DataLoader
    sampler: EnlargedSampler
    val: list[DataLoader]


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
    return TrainLoaders(train, sampler, val)


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


@dataclass
class PreparedRun:
    """What a run needs once its options, data and model have passed the start-up checks (nothing written yet)."""

    opt: dict
    args: object
    log: RunLog
    model: object
    loaders: TrainLoaders | list[DataLoader]
    resume_state: dict | None = None
    prefetcher: object = None
    complete: bool = False  # the training state to resume from is already at train.total_iter


def prepare_training(root_path: str) -> PreparedRun:
    """Parse the training options (``sys.argv``), resume state, loaders, model and prefetcher; write nothing."""
    log: list[RunLog] = []
    with prepared(log):
        opt, args = parse_checked_options(root_path, is_train=True)
        opt['root_path'] = root_path
        torch.backends.cudnn.benchmark = True
        log.append(RunLog(opt['rank']))
        resume_state = load_resume_state(opt)
        if resume_state is not None and resume_state['iter'] >= int(opt['train']['total_iter']):
            return PreparedRun(opt, args, log[0], None, None, resume_state, complete=True)
        loaders = create_train_loaders(opt, log[0].logger)
        model = build_model(opt)
        prefetcher = make_prefetcher(opt, loaders.train)
    return PreparedRun(opt, args, log[0], model, loaders, resume_state, prefetcher)


def train_pipeline(root_path: str) -> None:
    """Train as the options say: check everything, make the folders, then run exactly ``train.total_iter`` steps."""
    run = prepare_training(root_path)
    opt = run.opt
    if run.complete:
        run.log.logger.info(f'nothing to do: the run reached total_iter {int(opt["train"]["total_iter"])} (training '
                            f'state {opt["path"]["resume_state"]}); to train longer raise train.total_iter')
        run.log.close()
        return
    try:
        if run.resume_state is None:
            make_exp_dirs(opt)
            if opt['logger'].get('use_tb_logger') and 'debug' not in opt['name'] and opt['rank'] == 0:
                mkdir_and_rename(osp.join(root_path, 'tb_logger', opt['name']))
        copy_opt_file(run.args.opt, opt['path']['experiments_root'])
        run.log.start_file(opt, 'train')
        _train(opt, run.model, run.loaders, run.prefetcher, run.resume_state, init_tb_loggers(opt), run.log.logger)
    finally:
        run.log.close()


class LapTimer:
    """Mean seconds of the laps timed since it was last cleared (BasicSR's AvgTimer averages from the first iteration
    on, start-up included)."""

    def __init__(self) -> None:
        self.total, self.laps, self.tic = 0.0, 0, time.perf_counter()

    def start(self) -> None:
        self.tic = time.perf_counter()

    def stop(self) -> None:
        self.total += time.perf_counter() - self.tic
        self.laps += 1

    def mean(self) -> float:
        """The mean lap since the last clear (0 when none)."""
        return self.total / self.laps if self.laps else 0.0

    def clear(self) -> None:
        self.total, self.laps = 0.0, 0


class TrainingLoop:
    """BasicSR's training iterations: ``run(n)`` trains up to iteration ``n`` over as many epochs as that takes, and
    logs, saves and validates at the options' frequencies. The logged ``time (data)`` is the mean since the last log."""

    def __init__(self, opt: dict, model, loaders: TrainLoaders, prefetcher, tb_logger, logger: logging.Logger,
                 epoch: int = 0, current_iter: int = 0) -> None:
        self.opt, self.model, self.loaders, self.prefetcher, self.tb_logger = opt, model, loaders, prefetcher, tb_logger
        self.logger, self.epoch, self.current_iter = logger, epoch, current_iter
        self.first_iter, self.validated_at = current_iter + 1, None
        self.msg_logger = ProgressLogger(opt, current_iter, tb_logger)
        self.data_timer, self.iter_timer = LapTimer(), LapTimer()
        self._start_epoch()

    def _start_epoch(self) -> None:
        self.loaders.sampler.set_epoch(self.epoch)
        if hasattr(self.loaders.train.dataset, 'set_stream'):
            self.loaders.train.dataset.set_stream(self.epoch, self.current_iter)  # new draws per epoch, and on resume
        self.prefetcher.reset()

    def next_batch(self) -> dict:
        """The prefetcher's next batch, from a new epoch when the current one is used up."""
        batch = self.prefetcher.next()
        if batch is None:
            self.epoch += 1
            self._start_epoch()
            batch = self.prefetcher.next()
        return batch

    def run(self, until: int) -> None:
        """Iterations ``current_iter + 1`` to ``until``; ``time`` counts loading the batch and the step."""
        while self.current_iter < until:
            self.data_timer.start()
            self.iter_timer.start()
            train_data = self.next_batch()
            self.data_timer.stop()
            self.current_iter += 1
            self.model.update_learning_rate(self.current_iter, warmup_iter=self.opt['train'].get('warmup_iter', -1))
            self.model.feed_data(train_data)
            self.model.optimize_parameters(self.current_iter)
            self.iter_timer.stop()
            self._after_step()

    def _after_step(self) -> None:
        """Log, save and validate as the options say."""
        current_iter = self.current_iter
        if current_iter == self.first_iter:
            self.msg_logger.reset_start_time()  # the ETA leaves out start-up, also after a resume
        # the last iteration is always logged: a run shorter than print_freq still shows (and plots) its loss
        logged = current_iter % self.opt['logger']['print_freq'] == 0 or \
            current_iter == int(self.opt['train']['total_iter'])
        if logged:
            self.msg_logger({'epoch': self.epoch, 'iter': current_iter, 'lrs': self.model.get_current_learning_rate(),
                             'time': self.iter_timer.mean(), 'data_time': self.data_timer.mean(),
                             **self.model.get_current_log()})
        if logged or current_iter == self.first_iter:  # the next log's times leave out start-up (unless logged alone)
            self.data_timer.clear()
            self.iter_timer.clear()
        if current_iter % self.opt['logger']['save_checkpoint_freq'] == 0 or \
                current_iter == int(self.opt['train']['total_iter']):
            self.logger.info('Saving models and training states.')
            self.model.save(self.epoch, current_iter)
        val_opt = self.opt.get('val')
        if val_opt is not None and current_iter % val_opt['val_freq'] == 0:
            _validate(self.model, self.loaders.val, current_iter, self.tb_logger, val_opt)
            self.validated_at = current_iter


def _train(opt: dict, model, loaders: TrainLoaders, prefetcher, resume_state: dict | None, tb_logger,
           logger: logging.Logger) -> None:
    """The training loop: ``total_iter`` steps over as many epochs as that takes, then the final save and validation."""
    epoch, current_iter = 0, 0
    if resume_state:
        model.resume_training(resume_state)
        epoch, current_iter = resume_state['epoch'], resume_state['iter']
        logger.info(f'Resuming training from epoch: {epoch}, iter: {current_iter}.')
    loop = TrainingLoop(opt, model, loaders, prefetcher, tb_logger, logger, epoch, current_iter)
    logger.info(f'Start training from epoch: {epoch}, iter: {current_iter}')
    start_time = time.time()
    loop.run(int(opt['train']['total_iter']))
    logger.info(f'End of training. Time consumed: {datetime.timedelta(seconds=int(time.time() - start_time))}')
    logger.info('Save the latest model.')
    model.save(epoch=-1, current_iter=-1)  # net_g_latest.pth
    val_opt = opt.get('val')
    if val_opt is not None and loop.validated_at != loop.current_iter:
        _validate(model, loaders.val, loop.current_iter, tb_logger, val_opt)
    if tb_logger:
        tb_logger.close()


def _validate(model, loaders: list[DataLoader], current_iter: int, tb_logger, val_opt: dict) -> None:
    for loader in loaders:
        model.validation(loader, current_iter, tb_logger, val_opt['save_img'])


def shipped_test_options(opt_file: str) -> str | None:
    """The test options shipped for a training options file (``options/<kind>/train_X.yml`` →
    ``options/test/<kind>/test_X.yml``), if that file exists."""
    folder, base = osp.split(opt_file)
    if not base.startswith('train_'):
        return None
    candidate = osp.join(osp.dirname(folder), 'test', osp.basename(folder), 'test_' + base.removeprefix('train_'))
    return candidate if osp.isfile(candidate) else None


def check_checkpoint_given(opt: dict, opt_file: str) -> None:
    """Refuse to test options that load no trained weights (training options have ``pretrain_network_g: ~``)."""
    if opt['path'].get('pretrain_network_g'):
        return
    shipped = shipped_test_options(opt_file)
    fix = (f'run its test options instead: -opt {shipped}' if shipped else
           'use test options that load a checkpoint (options/test/quickstart/, options/test/repro_cpu/)')
    raise StartupError(f'path.pretrain_network_g is not set in {opt_file}, so there is no trained network to test; '
                       f'{fix}, or add --force_yml path:pretrain_network_g=experiments/{opt["name"]}/models/'
                       'net_g_latest.pth')


def prepare_test(root_path: str) -> PreparedRun:
    """Parse the test options (``sys.argv``), build the loader of every set but the training ones (in key order) and
    the model; write nothing."""
    log: list[RunLog] = []
    with prepared(log):
        opt, args = parse_checked_options(root_path, is_train=False)
        check_checkpoint_given(opt, args.opt)
        torch.backends.cudnn.benchmark = True
        log.append(RunLog(opt['rank']))
        loaders = []
        for key, dataset_opt in sorted(opt['datasets'].items()):
            if dataset_opt['phase'] == 'train':
                log[0].logger.info(f'Skipping datasets.{key} ({dataset_opt.get("name", key)}): a training set; '
                                   'test.py tests the other sets')
                continue
            dataset = build_named_dataset(key, dataset_opt)
            loaders.append(build_dataloader(dataset, dataset_opt, num_gpu=opt['num_gpu'], dist=opt['dist'],
                                            sampler=None, seed=opt['manual_seed']))
            log[0].logger.info(f'Number of test images in {dataset_opt["name"]}: {len(dataset)}')
        if not loaders:
            raise StartupError('the options hold no set to test (training sets are skipped): add a test_* set')
        model = build_model(opt)
    return PreparedRun(opt, args, log[0], model, loaders)


def test_pipeline(root_path: str) -> None:
    """Test as BasicSR does (every set in key order), after checking the options, sets and model."""
    run = prepare_test(root_path)
    try:
        make_exp_dirs(run.opt)
        run.log.start_file(run.opt, 'test')
        for loader in run.loaders:
            run.log.logger.info(f'Testing {loader.dataset.opt["name"]}...')
            run.model.validation(loader, current_iter=run.opt['name'], tb_logger=None,
                                 save_img=run.opt['val']['save_img'])
    finally:
        run.log.close()


def train_main() -> None:
    """``wne-train`` / ``python wne_basicsr/train.py``: the training pipeline as a command."""
    run_entry_point(train_pipeline)


def test_main() -> None:
    """``wne-test`` / ``python wne_basicsr/test.py``: the test pipeline as a command."""
    run_entry_point(test_pipeline)
