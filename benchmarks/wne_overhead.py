"""Cost of the WNE wrapper: WNE(backbone) vs the bare backbone (and NE-arch vs ordinary FDnCNN), time and peak memory.

    python benchmarks/wne_overhead.py [--device auto|cpu|cuda] [--threads N] [--only SwinIR-lite ...] [--json PATH]

Baseline and variant run interleaved after warm-up (docs/method.md §5.4 passes); medians, their ratio and the median of
the per-round ratios. Peak memory of a forward+backward step: a fresh process per model (CPU peak RSS, CUDA max
allocated).
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # run as a script from a clone

import torch  # noqa: E402

import wne_basicsr  # noqa: E402,F401  (compat patches and registration before anything from basicsr)

# isort: split
from basicsr.archs import build_network  # noqa: E402
from torch import nn  # noqa: E402

SWINIR_LITE = {'type': 'SwinIR', 'upscale': 1, 'in_chans': 1, 'img_size': 64, 'window_size': 8, 'img_range': 1.0,
               'depths': [6, 6, 6, 6], 'embed_dim': 60, 'num_heads': [6, 6, 6, 6], 'mlp_ratio': 2, 'upsampler': '',
               'resi_connection': '1conv'}
DNCNN = {'type': 'DnCNN'}
FDNCNN = {'type': 'FDnCNN'}
RESTORMER = {'type': 'Restormer'}
# name → (baseline label, baseline options, variant label, variant options, shape flag)
PAIRS = {
    'DnCNN': ('DnCNN', DNCNN, 'WNE(DnCNN)', {'type': 'WNE', 'backbone': DNCNN}, 'dncnn'),
    'FDnCNN': ('FDnCNN', FDNCNN, 'WNE(FDnCNN)', {'type': 'WNE', 'backbone': FDNCNN}, 'fdncnn'),
    'FDnCNN-NE-arch': ('FDnCNN', FDNCNN, 'FDnCNN norm_equiv', {'type': 'FDnCNN', 'mode': 'norm_equiv'}, 'fdncnn'),
    'SwinIR-lite': ('SwinIR-lite', SWINIR_LITE, 'WNE(SwinIR-lite)', {'type': 'WNE', 'backbone': SWINIR_LITE}, 'swinir'),
    'Restormer': ('Restormer', RESTORMER, 'WNE(Restormer)', {'type': 'WNE', 'backbone': RESTORMER}, 'restormer'),
}
DEFAULT_SHAPES = {'dncnn': '4,1,64,64', 'fdncnn': '4,1,64,64', 'swinir': '4,1,64,64', 'restormer': '1,1,64,64'}


def shape_arg(text: str) -> tuple[int, ...]:
    """'B,C,H,W' → (B, C, H, W)."""
    shape = tuple(int(v) for v in text.split(','))
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f'expected B,C,H,W with positive integers, got {text!r}')
    return shape


def sync(device: torch.device) -> None:
    """Wait for the GPU's queued work (no-op on the CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def build(options: dict, shape: tuple[int, ...], device: torch.device, weights: dict | None = None) -> nn.Module:
    """A seeded network for ``shape``'s channels; ``weights`` (a bare backbone's) go into a wrapper's backbone."""
    torch.manual_seed(0)
    options = dict(options)
    channels = shape[1]
    if 'backbone' in options:
        options['backbone'] = with_channels(options['backbone'], channels)
    else:
        options = with_channels(options, channels)
    net = build_network(options)
    if weights is not None and hasattr(net, 'backbone'):
        net.backbone.load_state_dict(weights)
    return net.to(device)


def with_channels(options: dict, channels: int) -> dict:
    """Backbone options for ``channels`` input channels (SwinIR lite with 3 channels uses the zero-mean subclass)."""
    if options['type'] == 'SwinIR':
        return {**options, 'in_chans': channels, 'type': 'SwinIR' if channels == 1 else 'SwinIRDenoiser'}
    if options['type'] == 'Restormer':
        return {**options, 'inp_channels': channels, 'out_channels': channels}
    return {**options, 'num_in_ch': channels}


def train_step(net: nn.Module, x: torch.Tensor) -> None:
    """Forward+backward as in docs/method.md §5.4: input cloned with requires_grad, loss = mean output, grads zeroed."""
    net.train()
    inp = x.clone().requires_grad_(True)
    net(inp).mean().backward()
    net.zero_grad(set_to_none=True)


def infer_step(net: nn.Module, x: torch.Tensor) -> None:
    """Eval-mode forward under inference_mode."""
    net.eval()
    with torch.inference_mode():
        net(x)


def timed(step, net: nn.Module, x: torch.Tensor, device: torch.device) -> float:
    """Seconds of one ``step``, synchronized on CUDA."""
    sync(device)
    start = time.perf_counter()
    step(net, x)
    sync(device)
    return time.perf_counter() - start


def compare(a: nn.Module, b: nn.Module, x: torch.Tensor, step, runs: int, warmup: int,
            device: torch.device) -> tuple[list[float], list[float]]:
    """Seconds per step of ``a`` and ``b``, interleaved A B / B A after ``warmup`` steps of each."""
    for _ in range(warmup):
        step(a, x)
        step(b, x)
    times_a, times_b = [], []
    for i in range(runs):
        if i % 2:
            times_b.append(timed(step, b, x, device))
            times_a.append(timed(step, a, x, device))
        else:
            times_a.append(timed(step, a, x, device))
            times_b.append(timed(step, b, x, device))
    return times_a, times_b


def saved_activations_mb(net: nn.Module, x: torch.Tensor) -> float:
    """Megabytes of the distinct non-parameter tensors autograd keeps for backward in one forward (deterministic)."""
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    net.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x.clone().requires_grad_(True)).mean().backward()
    net.zero_grad(set_to_none=True)
    return sum(saved.values()) / 2**20


def memory_child(options_json: str, shape: tuple[int, ...], device_name: str) -> None:
    """In a fresh process: one forward+backward step; print its peak memory (and saved activations) as JSON."""
    device = torch.device(device_name)
    net = build(json.loads(options_json), shape, device)
    x = torch.rand(shape, device=device)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        train_step(net, x)
        torch.cuda.synchronize(device)
        highest = torch.cuda.max_memory_allocated(device)
        peak, step = highest / 2**20, (highest - before) / 2**20
    else:
        before = proc_status_kb('VmRSS')
        try:  # reset the high-water mark to the current RSS (Linux >= 4.0), so VmHWM is this step's peak
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
        except OSError:
            pass
        train_step(net, x)
        peak = proc_status_kb('VmHWM')
        peak, step = peak / 1024, (peak - before) / 1024
    print(json.dumps({'peak_mb': peak, 'step_mb': step, 'saved_mb': saved_activations_mb(net, x)}))


def cpu_name() -> str:
    """The CPU model (Linux /proc/cpuinfo), else what the platform module says."""
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor() or 'unknown'


def proc_status_kb(field: str) -> int:
    """A memory field of this process (VmRSS now, VmHWM peak) from Linux /proc, in kB.

    Not getrusage's ru_maxrss: Linux carries it over from the parent across fork+exec.
    """
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f'{field}:'))


def measure_memory(options: dict, shape: tuple[int, ...], device: torch.device, threads: int | None) -> dict:
    """Peak memory of one forward+backward step of a network, measured by a fresh copy of this script."""
    command = [sys.executable, osp.abspath(__file__), '--memory-child', json.dumps(options),
               ','.join(map(str, shape)), str(device)]
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    if threads:
        env['OMP_NUM_THREADS'] = str(threads)
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Benchmark the pairs, print the tables, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    parser.add_argument('--runs', type=int, default=10, help='timed steps per model and pass (>= 10)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed steps per model and pass first')
    parser.add_argument('--threads', type=int, help='torch intra-op threads (default: torch\'s choice)')
    parser.add_argument('--only', nargs='+', choices=list(PAIRS), help='benchmark only these pairs')
    parser.add_argument('--passes', nargs='+', default=['train', 'infer'], choices=('train', 'infer'))
    parser.add_argument('--no-memory', action='store_true', help='skip the peak-memory subprocesses')
    parser.add_argument('--json', help='also write the results to this JSON file')
    for key, default in DEFAULT_SHAPES.items():
        parser.add_argument(f'--{key}-shape', type=shape_arg, default=shape_arg(default), help=f'B,C,H,W ({default})')
    parser.add_argument('--memory-child', nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        options_json, shape, device_name = args.memory_child
        memory_child(options_json, shape_arg(shape), device_name)
        return
    if args.runs < 10:
        parser.error('--runs must be at least 10')
    cuda = args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available())
    device = torch.device('cuda' if cuda else 'cpu')
    if cuda:
        torch.backends.cudnn.benchmark = True
    steps = {'train': train_step, 'infer': infer_step}
    report = {'device': torch.cuda.get_device_name(device) if cuda else f'cpu ({cpu_name()}, {os.cpu_count()} cores)',
              'torch': torch.__version__, 'threads': torch.get_num_threads(), 'runs': args.runs,
              'warmup': args.warmup, 'load_average_start': os.getloadavg(), 'timing': [], 'memory': []}
    rows = []
    for name in args.only or PAIRS:
        label_a, opt_a, label_b, opt_b, key = PAIRS[name]
        shape = getattr(args, f'{key}_shape')
        a = build(opt_a, shape, device)
        b = build(opt_b, shape, device, weights=a.state_dict() if 'backbone' in opt_b else None)
        x = torch.rand(shape, device=device)
        for pass_name in args.passes:
            times_a, times_b = compare(a, b, x, steps[pass_name], args.runs, args.warmup, device)
            med_a, med_b = statistics.median(times_a), statistics.median(times_b)
            paired = statistics.median(tb / ta for ta, tb in zip(times_a, times_b))
            report['timing'].append({'pair': name, 'baseline': label_a, 'variant': label_b, 'shape': list(shape),
                                     'pass': pass_name, 'baseline_s': times_a, 'variant_s': times_b,
                                     'baseline_median_s': med_a, 'variant_median_s': med_b, 'ratio': med_b / med_a,
                                     'paired_ratio': paired})
            rows.append((name, 'x'.join(map(str, shape)), pass_name, f'{med_a:.4f}', f'{med_b:.4f}',
                         f'{med_b / med_a:.3f}', f'{paired:.3f}'))
            print(' | '.join(rows[-1]), flush=True)
        del a, b
        if not args.no_memory:
            mem_a = measure_memory(opt_a, shape, device, args.threads)
            mem_b = measure_memory(opt_b, shape, device, args.threads)
            report['memory'].append({'pair': name, 'baseline': label_a, 'variant': label_b, 'shape': list(shape),
                                     'baseline_mb': mem_a, 'variant_mb': mem_b,
                                     'peak_ratio': mem_b['peak_mb'] / mem_a['peak_mb'],
                                     'step_ratio': mem_b['step_mb'] / mem_a['step_mb'],
                                     'saved_ratio': mem_b['saved_mb'] / mem_a['saved_mb']})
    report['load_average_end'] = os.getloadavg()
    print(f'\n{report["device"]}, torch {report["torch"]}, {report["threads"]} thread(s), median of {args.runs} '
          f'interleaved runs after {args.warmup} warm-up; load average {report["load_average_start"][0]:.1f} → '
          f'{report["load_average_end"][0]:.1f}')
    header = ('pair', 'shape', 'pass', 'baseline s', 'variant s', 'ratio', 'paired ratio')
    print_table(header, rows)
    if report['memory']:
        what = 'peak RSS, VmHWM' if device.type == 'cpu' else 'max_memory_allocated'
        print(f'\npeak memory of one forward+backward step ({what}, fresh process per model; "step" = its rise during '
              'the step; "saved" = activations autograd keeps for backward)')
        columns = [('peak', 'peak_mb'), ('step', 'step_mb'), ('saved', 'saved_mb')]
        print_table(('pair', *(f'{c} {w}' for c, _ in columns for w in ('baseline MB', 'variant MB', 'ratio'))),
                    [(m['pair'], *(v for _, k in columns for v in (
                        f'{m["baseline_mb"][k]:.0f}', f'{m["variant_mb"][k]:.0f}',
                        f'{m["variant_mb"][k] / m["baseline_mb"][k]:.3f}'))) for m in report['memory']])
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
        print(f'\nwrote {args.json}')


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Left-aligned columns with a rule under the header."""
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple('-' * w for w in widths), *rows):
        print('  '.join(str(v).ljust(w) for v, w in zip(row, widths)))


if __name__ == '__main__':
    main()
