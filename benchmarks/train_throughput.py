"""Training throughput of DenoisingModel.optimize_parameters per precision / memory format / compilation mode.

    python benchmarks/train_throughput.py [--device cpu|cuda] [--only WNE(DnCNN) ...] [--modes fp32 bf16+cl ...]
        [--runs 7] [--warmup 2] [--threads N] [--json PATH] [--profile]

For each network (DnCNN and WNE(DnCNN) at the quick-start batch 16×1×40², SwinIR-lite and WNE(SwinIR-lite) at
8×1×48², a small Restormer at 4×1×48²) one real DenoisingModel per mode (same initial weights, Adam, MSE loss, one
fixed batch) is stepped in interleaved rounds (the mode order rotates every round) after ``--warmup`` steps each
(compilation happens there). Prints and writes the median seconds per step and its ratio to fp32 of the same network
(speed-up = fp32 time / mode time). ``--profile`` prints the top operators of one step per mode.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import platform
import statistics
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # run as a script from a clone

import torch  # noqa: E402

import wne_basicsr  # noqa: E402,F401  (compat patches and registration before anything from basicsr)
import wne_basicsr.models  # noqa: E402,F401  (registers DenoisingModel)

# isort: split
from basicsr.models import build_model  # noqa: E402

from wne_basicsr.inference.precision import fast_bf16  # noqa: E402

SWINIR_LITE = {'type': 'SwinIR', 'upscale': 1, 'in_chans': 1, 'img_size': 64, 'window_size': 8, 'img_range': 1.0,
               'depths': [6, 6, 6, 6], 'embed_dim': 60, 'num_heads': [6, 6, 6, 6], 'mlp_ratio': 2, 'upsampler': '',
               'resi_connection': '1conv'}
RESTORMER_SMALL = {'type': 'Restormer', 'dim': 16, 'num_blocks': [1, 2, 2, 2], 'num_refinement_blocks': 1,
                   'heads': [1, 2, 4, 8]}
# name → (network_g, batch shape)
NETWORKS = {
    'DnCNN': ({'type': 'DnCNN'}, (16, 1, 40, 40)),
    'WNE(DnCNN)': ({'type': 'WNE', 'backbone': {'type': 'DnCNN'}}, (16, 1, 40, 40)),
    'SwinIR-lite': (SWINIR_LITE, (8, 1, 48, 48)),
    'WNE(SwinIR-lite)': ({'type': 'WNE', 'backbone': SWINIR_LITE}, (8, 1, 48, 48)),
    'Restormer-small': (RESTORMER_SMALL, (4, 1, 48, 48)),
}
# mode → (train.amp, channels_last, compile)
MODES = {
    'fp32': ('fp32', False, False),
    'fp32+cl': ('fp32', True, False),
    'fp32+cl+compile': ('fp32', True, True),
    'bf16': ('bf16', False, False),
    'bf16+cl': ('bf16', True, False),
    'bf16+cl+compile': ('bf16', True, True),
}


def training_options(network: dict, amp: str, channels_last: bool, compile_: bool, device: torch.device) -> dict:
    """Options of a DenoisingModel that trains ``network`` (Adam, MSE, constant lr) in the given precision/format."""
    return {'name': 'throughput', 'model_type': 'DenoisingModel', 'scale': 1, 'is_train': True, 'dist': False,
            'num_gpu': 1 if device.type == 'cuda' else 0, 'rank': 0, 'world_size': 1, 'datasets': {},
            'network_g': network, 'channels_last': channels_last, 'compile': compile_,
            'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
            'train': {'ema_decay': 0, 'amp': amp, 'optim_g': {'type': 'Adam', 'lr': 1e-4}, 'scheduler': {
                'type': 'MultiStepLR', 'milestones': [10 ** 9], 'gamma': 0.5}, 'total_iter': 10 ** 9,
                'warmup_iter': -1, 'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0}}}


def model(network: dict, mode: str, device: torch.device):
    """A DenoisingModel in ``mode`` with seeded weights."""
    torch.manual_seed(0)
    return build_model(training_options(network, *MODES[mode], device))


def step_seconds(instance, batch: dict, device: torch.device) -> float:
    """Seconds of one feed_data + optimize_parameters, synchronized on CUDA."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    instance.feed_data(batch)
    instance.optimize_parameters(1)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure(name: str, modes: list[str], runs: int, warmup: int, device: torch.device, profile: bool) -> dict:
    """Median seconds per step of every mode of network ``name`` (interleaved rounds) and the ratios to fp32."""
    network, shape = NETWORKS[name]
    generator = torch.Generator().manual_seed(0)
    gt = torch.rand(shape, generator=generator)
    batch = {'lq': gt + 0.1 * torch.randn(shape, generator=generator), 'gt': gt}
    models = {mode: model(network, mode, device) for mode in modes}
    for mode, instance in models.items():
        start = time.perf_counter()
        for _ in range(warmup):
            step_seconds(instance, batch, device)
        print(f'  {name} {mode}: warm-up {time.perf_counter() - start:.1f} s', flush=True)
    times = {mode: [] for mode in modes}
    for round_ in range(runs):
        order = modes[round_ % len(modes):] + modes[:round_ % len(modes)]
        for mode in order:
            times[mode].append(step_seconds(models[mode], batch, device))
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    if profile:
        for mode, instance in models.items():
            with torch.profiler.profile() as prof:
                step_seconds(instance, batch, device)
            print(f'--- {name} {mode}\n' + prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=12))
    base = medians.get('fp32')
    return {'shape': list(shape), 'seconds': medians, 'all_seconds': times,
            'speedup_vs_fp32': {mode: base / value for mode, value in medians.items()} if base else {}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument('--only', nargs='+', choices=list(NETWORKS), help='networks to measure (default: all)')
    parser.add_argument('--modes', nargs='+', choices=list(MODES), default=list(MODES), help='modes (default: all)')
    parser.add_argument('--runs', type=int, default=7, help='timed interleaved rounds (default 7)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per mode first (default 2)')
    parser.add_argument('--threads', type=int, help='CPU threads for torch')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--profile', action='store_true', help='print the top operators of one step per mode')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    modes = ['fp32', *[m for m in args.modes if m != 'fp32']]  # the reference always runs
    info = {'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or
            platform.machine(), 'torch': torch.__version__, 'threads': torch.get_num_threads(),
            'native_bf16': fast_bf16(device), 'runs': args.runs, 'warmup': args.warmup}
    print(f'{info}', flush=True)
    results = {'info': info, 'networks': {}}
    for name in args.only or list(NETWORKS):
        results['networks'][name] = measure(name, modes, args.runs, args.warmup, device, args.profile)
        row = results['networks'][name]
        print(f'{name} {tuple(row["shape"])}: ' + ', '.join(
            f'{mode} {row["seconds"][mode]:.3f} s ({row["speedup_vs_fp32"][mode]:.2f}×)' for mode in modes), flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    main()
