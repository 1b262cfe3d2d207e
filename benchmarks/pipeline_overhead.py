"""Framework overhead: iterations/s of DenoisingModel in BasicSR's training loop vs a bare PyTorch loop.

    python benchmarks/pipeline_overhead.py [-opt options/quickstart/train_DnCNN_WNE_s25.yml] [--rounds 10]
        [--iters 20] [--threads N] [--json PATH]

The BasicSR side is the per-iteration work of ``basicsr.train.train_pipeline``: its dataloader (our dataset, on-the-fly
noise), CPUPrefetcher, update_learning_rate, feed_data, optimize_parameters, timers and MessageLogger. The bare side
is zero_grad/forward/loss/backward/step on the same network (same initial weights) and optimizer, on one fixed batch
drawn from that loader. Blocks of ``--iters`` iterations alternate A B / B A; medians of the per-round s/iter.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # run as a script from a clone

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import wne_basicsr  # noqa: E402,F401  (compat patches and registration before anything from basicsr)
import wne_basicsr.models  # noqa: E402,F401  (registers DenoisingModel)

# isort: split
from basicsr.archs import build_network  # noqa: E402
from basicsr.data.prefetch_dataloader import CPUPrefetcher  # noqa: E402
from basicsr.models import build_model  # noqa: E402
from basicsr.train import create_train_val_dataloader  # noqa: E402
from basicsr.utils import AvgTimer, MessageLogger, get_root_logger  # noqa: E402

from benchmarks.wne_overhead import cpu_name, print_table  # noqa: E402
from wne_basicsr.evaluation.options import read_yaml  # noqa: E402

BARE_LOSSES = {'L1Loss': F.l1_loss, 'MSELoss': F.mse_loss}


def training_options(path: str, workdir: str) -> dict:
    """A training options file set up as BasicSR's parse_options would for one CPU process, without validation."""
    opt = read_yaml(path)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0, root_path=REPO)
    opt['datasets'] = {'train': {**opt['datasets']['train'], 'phase': 'train', 'scale': opt.get('scale', 1)}}
    opt['path'] = {**opt.get('path', {}), 'experiments_root': workdir, 'models': workdir, 'training_states': workdir,
                   'log': workdir, 'visualization': workdir, 'pretrain_network_g': None, 'resume_state': None}
    opt['logger'] = {**opt.get('logger', {}), 'use_tb_logger': False}
    opt.pop('val', None)
    loss = opt['train']['pixel_opt']['type']
    if loss not in BARE_LOSSES:
        raise ValueError(f'{path}: train.pixel_opt.type must be one of {sorted(BARE_LOSSES)} here, got {loss!r}')
    return opt


class BasicSRLoop:
    """The per-iteration body of basicsr.train.train_pipeline, resumable block by block."""

    def __init__(self, opt: dict) -> None:
        logger = get_root_logger(logger_name='basicsr', log_level=logging.WARNING)
        loader, self.sampler, _, _, _ = create_train_val_dataloader(opt, logger)
        self.opt, self.model = opt, build_model(opt)
        self.prefetcher = CPUPrefetcher(loader)
        self.msg_logger = MessageLogger(opt, 0, None)
        self.data_timer, self.iter_timer = AvgTimer(), AvgTimer()
        self.epoch, self.current_iter, self.train_data = 0, 0, None

    def _next_batch(self) -> dict:
        """The prefetcher's next batch, starting a new epoch when the loader is exhausted."""
        batch = self.prefetcher.next()
        if batch is None:
            self.epoch += 1
            self.sampler.set_epoch(self.epoch)
            self.prefetcher.reset()
            batch = self.prefetcher.next()
        return batch

    def run(self, iterations: int) -> None:
        """``iterations`` training iterations exactly as BasicSR's loop does them."""
        if self.train_data is None:
            self.prefetcher.reset()
            self.train_data = self._next_batch()
        for _ in range(iterations):
            self.data_timer.record()
            self.current_iter += 1
            self.model.update_learning_rate(self.current_iter, warmup_iter=self.opt['train'].get('warmup_iter', -1))
            self.model.feed_data(self.train_data)
            self.model.optimize_parameters(self.current_iter)
            self.iter_timer.record()
            if self.current_iter % self.opt['logger']['print_freq'] == 0:
                log_vars = {'epoch': self.epoch, 'iter': self.current_iter,
                            'lrs': self.model.get_current_learning_rate(), 'time': self.iter_timer.get_avg_time(),
                            'data_time': self.data_timer.get_avg_time(), **self.model.get_current_log()}
                self.msg_logger(log_vars)
            self.data_timer.start()
            self.iter_timer.start()
            self.train_data = self._next_batch()


class BareLoop:
    """zero_grad/forward/loss/backward/step on a fixed batch: what any PyTorch training loop must do."""

    def __init__(self, opt: dict, weights: dict, batch: dict) -> None:
        self.net = build_network(copy.deepcopy(opt['network_g']))
        self.net.load_state_dict(weights)
        self.net.train()
        optim = {k: v for k, v in opt['train']['optim_g'].items() if k != 'type'}
        self.optimizer = getattr(torch.optim, opt['train']['optim_g']['type'])(self.net.parameters(), **optim)
        self.loss = BARE_LOSSES[opt['train']['pixel_opt']['type']]
        self.lq, self.gt = batch['lq'].clone(), batch['gt'].clone()

    def run(self, iterations: int) -> None:
        """``iterations`` optimizer steps."""
        for _ in range(iterations):
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.net(self.lq), self.gt).backward()
            self.optimizer.step()


def seconds_per_iteration(loop, iterations: int) -> float:
    """Wall seconds per iteration of one block."""
    start = time.perf_counter()
    loop.run(iterations)
    return (time.perf_counter() - start) / iterations


def main() -> None:
    """Time both loops interleaved and print s/iter, iterations/s and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-opt', default=osp.join(REPO, 'options/quickstart/train_DnCNN_WNE_s25.yml'),
                        help='training options file (network_g, datasets.train, train.optim_g / pixel_opt)')
    parser.add_argument('--rounds', type=int, default=10, help='timed blocks per loop (>= 10)')
    parser.add_argument('--iters', type=int, default=20, help='iterations per block')
    parser.add_argument('--threads', type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args()
    if args.rounds < 10 or args.iters < 1:
        parser.error('--rounds must be at least 10 and --iters at least 1')
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        opt = training_options(args.opt, workdir)
        basicsr_loop = BasicSRLoop(opt)
        weights = copy.deepcopy(basicsr_loop.model.get_bare_model(basicsr_loop.model.net_g).state_dict())
        bare_loop = BareLoop(opt, weights, basicsr_loop._next_batch())
        loops = {'BasicSR + DenoisingModel': basicsr_loop, 'bare PyTorch': bare_loop}
        for loop in loops.values():  # warm-up block
            loop.run(args.iters)
        times: dict[str, list[float]] = {name: [] for name in loops}
        for r in range(args.rounds):
            for name in (list(loops) if r % 2 == 0 else list(loops)[::-1]):
                times[name].append(seconds_per_iteration(loops[name], args.iters))
    (name_a, a), (name_b, b) = times.items()
    med_a, med_b = statistics.median(a), statistics.median(b)
    paired = statistics.median(tb / ta for ta, tb in zip(a, b))
    batch = opt['datasets']['train']
    report = {'options': osp.relpath(osp.abspath(args.opt), REPO), 'network': opt['network_g'],
              'batch': [batch['batch_size_per_gpu'], batch['gt_size']], 'device': f'cpu ({cpu_name()}, '
              f'{os.cpu_count()} cores)', 'torch': torch.__version__, 'threads': torch.get_num_threads(),
              'rounds': args.rounds, 'iters_per_round': args.iters, 'seconds_per_iter': times,
              'median_s': {name_a: med_a, name_b: med_b}, 'ratio': med_b / med_a, 'paired_ratio': paired}
    print(f'{report["options"]}: batch {batch["batch_size_per_gpu"]} x {batch["gt_size"]}^2, {report["device"]}, '
          f'torch {report["torch"]}, {report["threads"]} thread(s); median of {args.rounds} interleaved blocks of '
          f'{args.iters} iterations after one warm-up block each')
    print_table(('loop', 's/iter', 'iter/s'), [(name, f'{t:.4f}', f'{1 / t:.2f}') for name, t in
                                               ((name_a, med_a), (name_b, med_b))])
    print(f'\nthroughput ratio (BasicSR / bare PyTorch, iterations/s): {med_b / med_a:.3f} '
          f'(median of per-round ratios {paired:.3f})')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
        print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
