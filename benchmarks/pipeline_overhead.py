"""Framework overhead: iterations/s of DenoisingModel in the trainer's loop vs a bare PyTorch loop, per mode.

    python benchmarks/pipeline_overhead.py [-opt options/quickstart/train_DnCNN_WNE_s25.yml] [--rounds 10]
        [--iters 20] [--modes fp32 fp32+cl bf16+cl] [--threads N] [--json PATH]

The trainer's side is ``wne_basicsr.pipelines.TrainingLoop``, the loop ``train.py`` runs: its dataloader (our dataset,
on-the-fly noise), CPUPrefetcher, update_learning_rate, feed_data, optimize_parameters, timers and logging at
``logger.print_freq`` (checkpoints and validation are left out). The bare side is zero_grad/forward/loss/backward/step
on the same network (same initial weights) and optimizer, on one fixed batch drawn from that loader. Modes: fp32,
fp32 + channels-last and bf16 autocast + channels-last, the last only where the CPU computes bf16 natively. Blocks of
``--iters`` iterations run round by round, a mode's two loops back to back; medians of the per-block s/iter and
of the per-round ratios (the steadier figure on a busy machine).
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
from basicsr.models import build_model  # noqa: E402
from basicsr.utils import get_root_logger  # noqa: E402

from benchmarks.wne_overhead import cpu_name, print_table  # noqa: E402
from wne_basicsr.evaluation.options import read_yaml  # noqa: E402
from wne_basicsr.inference.precision import fast_bf16  # noqa: E402
from wne_basicsr.pipelines import TrainingLoop, create_train_loaders, make_prefetcher  # noqa: E402

BARE_LOSSES = {'L1Loss': F.l1_loss, 'MSELoss': F.mse_loss}
MODES = {'fp32': ('fp32', False), 'fp32+cl': ('fp32', True), 'bf16+cl': ('bf16', True)}  # → train.amp, channels_last
TRAINER, BARE = 'trainer loop', 'bare PyTorch'


def training_options(path: str, workdir: str, mode: str = 'fp32') -> dict:
    """A training options file in ``mode``, set up as parse_options would for one CPU process (no validation, no
    checkpoints)."""
    opt = read_yaml(path)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0, root_path=REPO, channels_last=MODES[mode][1])
    opt['datasets'] = {'train': {**opt['datasets']['train'], 'phase': 'train', 'scale': opt.get('scale', 1)}}
    opt['path'] = {**opt.get('path', {}), 'experiments_root': workdir, 'models': workdir, 'training_states': workdir,
                   'log': workdir, 'visualization': workdir, 'pretrain_network_g': None, 'resume_state': None}
    opt['logger'] = {**opt.get('logger', {}), 'use_tb_logger': False, 'save_checkpoint_freq': 10 ** 9}
    opt['train'].update(amp=MODES[mode][0], total_iter=10 ** 9)
    opt.pop('val', None)
    loss = opt['train']['pixel_opt']['type']
    if loss not in BARE_LOSSES:
        raise ValueError(f'{path}: train.pixel_opt.type must be one of {sorted(BARE_LOSSES)} here, got {loss!r}')
    return opt


def trainer_loop(opt: dict) -> TrainingLoop:
    """The training loop of ``train.py`` on a DenoisingModel of ``opt`` (seeded weights), without tensorboard."""
    logger = get_root_logger(logger_name='basicsr', log_level=logging.WARNING)
    torch.manual_seed(0)
    loaders = create_train_loaders(opt, logger)
    return TrainingLoop(opt, build_model(opt), loaders, make_prefetcher(opt, loaders.train), None, logger)


class BareLoop:
    """zero_grad/forward/loss/backward/step on a fixed batch: what any PyTorch training loop must do."""

    def __init__(self, opt: dict, weights: dict, batch: dict) -> None:
        memory_format = torch.channels_last if opt['channels_last'] else torch.contiguous_format
        self.net = build_network(copy.deepcopy(opt['network_g'])).to(memory_format=memory_format)
        self.net.load_state_dict(weights)
        self.net.train()
        optim = {k: v for k, v in opt['train']['optim_g'].items() if k != 'type'}
        self.optimizer = getattr(torch.optim, opt['train']['optim_g']['type'])(self.net.parameters(), **optim)
        self.loss = BARE_LOSSES[opt['train']['pixel_opt']['type']]
        self.dtype = torch.bfloat16 if opt['train']['amp'] == 'bf16' else None
        self.lq, self.gt = batch['lq'].clone(memory_format=memory_format), batch['gt'].clone()
        self.current_iter = 0

    def run(self, until: int) -> None:
        """Optimizer steps up to iteration ``until`` (as TrainingLoop.run)."""
        while self.current_iter < until:
            self.current_iter += 1
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast('cpu', dtype=self.dtype, enabled=self.dtype is not None):
                output = self.net(self.lq)
            self.loss(output.float(), self.gt).backward()
            self.optimizer.step()


def loops(opt: dict) -> dict:
    """The trainer's loop and the bare loop of one mode, from the same weights; the bare one on the trainer's first
    batch."""
    trainer = trainer_loop(opt)
    weights = copy.deepcopy(trainer.model.get_bare_model(trainer.model.net_g).state_dict())
    return {TRAINER: trainer, BARE: BareLoop(opt, weights, trainer.next_batch())}


def seconds_per_iteration(loop, iterations: int) -> float:
    """Wall seconds per iteration of one block."""
    start = time.perf_counter()
    loop.run(loop.current_iter + iterations)
    return (time.perf_counter() - start) / iterations


def measure(opts: dict[str, dict], rounds: int, iters: int) -> dict[str, dict[str, list[float]]]:
    """Per mode and loop, the s/iter of ``rounds`` blocks after one warm-up block each. Each round times every mode
    (their order rotating) with its two loops back to back (alternately A B and B A), so that a pair shares the load."""
    modes = {mode: loops(opt) for mode, opt in opts.items()}
    for pair in modes.values():
        for loop in pair.values():
            seconds_per_iteration(loop, iters)
    times = {mode: {TRAINER: [], BARE: []} for mode in modes}
    order = list(modes)
    for r in range(rounds):
        for mode in order[r % len(order):] + order[:r % len(order)]:
            for name in (TRAINER, BARE) if r % 2 == 0 else (BARE, TRAINER):
                times[mode][name].append(seconds_per_iteration(modes[mode][name], iters))
    return times


def summary(times: dict[str, list[float]]) -> dict:
    """Median s/iter of both loops and the throughput ratio (trainer it/s over bare it/s, = bare s / trainer s)."""
    med = {name: statistics.median(values) for name, values in times.items()}
    paired = statistics.median(bare / trainer for trainer, bare in zip(times[TRAINER], times[BARE]))
    return {'seconds_per_iter': times, 'median_s': med, 'ratio': med[BARE] / med[TRAINER], 'paired_ratio': paired}


def main() -> None:
    """Time both loops of every mode interleaved and print s/iter, iterations/s and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-opt', default=osp.join(REPO, 'options/quickstart/train_DnCNN_WNE_s25.yml'),
                        help='training options file (network_g, datasets.train, train.optim_g / pixel_opt)')
    parser.add_argument('--rounds', type=int, default=10, help='timed blocks per loop (>= 10)')
    parser.add_argument('--iters', type=int, default=20, help='iterations per block')
    parser.add_argument('--modes', nargs='+', choices=list(MODES), default=list(MODES), help='modes (default: all)')
    parser.add_argument('--threads', type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument('--json', help='also write the results to this JSON file')
    args = parser.parse_args()
    if args.rounds < 10 or args.iters < 1:
        parser.error('--rounds must be at least 10 and --iters at least 1')
    if args.threads:
        torch.set_num_threads(args.threads)
    skipped = {m: 'not measured here (no native bf16)' for m in args.modes if m.startswith('bf16') and not
               fast_bf16('cpu')}
    with tempfile.TemporaryDirectory() as workdir:
        opts = {mode: training_options(args.opt, workdir, mode) for mode in args.modes if mode not in skipped}
        results = {mode: summary(times) for mode, times in measure(opts, args.rounds, args.iters).items()}
    batch = read_yaml(args.opt)['datasets']['train']
    report = {'options': osp.relpath(osp.abspath(args.opt), REPO), 'batch': [batch['batch_size_per_gpu'],
              batch['gt_size']], 'device': f'cpu ({cpu_name()}, {os.cpu_count()} cores)', 'torch': torch.__version__,
              'threads': torch.get_num_threads(), 'rounds': args.rounds, 'iters_per_round': args.iters,
              'modes': {**results, **skipped}}
    print(f'{report["options"]}: batch {batch["batch_size_per_gpu"]} x {batch["gt_size"]}^2, {report["device"]}, '
          f'torch {report["torch"]}, {report["threads"]} thread(s); median of {args.rounds} interleaved blocks of '
          f'{args.iters} iterations after one warm-up block each\n')
    rows = [(mode, f'{r["median_s"][TRAINER]:.4f}', f'{r["median_s"][BARE]:.4f}', f'{r["ratio"]:.3f}',
             f'{r["paired_ratio"]:.3f}') for mode, r in results.items()]
    print_table(('mode', f'{TRAINER} s/iter', f'{BARE} s/iter', 'ratio (it/s)', 'per-round ratio'), rows)
    for mode, reason in skipped.items():
        print(f'{mode}: {reason}')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
        print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
