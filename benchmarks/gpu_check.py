"""One command that checks the GPU path end to end and writes a report: environment, CUDA correctness, training
throughput through DenoisingModel, the shipped commands (torchrun + nccl, resume, test.py, a sweep, the sampler) and
a short SwinIR-lite σ=10 training of the baseline and WNE at the paper's batch and patch.

    python benchmarks/gpu_check.py --output results/gpu_check            # on a GPU (make gpu-check)
    python benchmarks/gpu_check.py --device cpu --smoke --output /tmp/gc  # every stage on tiny sizes (CI)
    options: --time-limit SECONDS (default 540) --stages env correctness end_to_end throughput headline
             --networks DnCNN SwinIR-lite --modes fp32 tf32 bf16 fp16+scaler bf16+cl bf16+cl+compile (throughput)
             --headline-seconds S (wall time of each headline training) --keep (keep the runs' experiments)

Each stage is timed and must fit the wall-clock time limit: a stage (or a mode within one) that would not fit is skipped
and the report says so. The output folder receives gpu_check.json and gpu_check.md, rewritten after every stage (and
every throughput row), so a run that is stopped still leaves what it measured. Exit status 1 when a check failed or a
stage raised. --smoke takes about 100 s on 2 CPU cores, most of it starting the end-to-end commands.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import os.path as osp
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

BENCHMARKS = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(BENCHMARKS)
sys.path.insert(0, REPO)  # run as a script from a clone

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

import wne_basicsr  # noqa: E402,F401  (compat patches and registration before anything from basicsr)
import wne_basicsr.models  # noqa: E402,F401  (registers DenoisingModel)

# isort: split
from basicsr.archs import build_network  # noqa: E402
from basicsr.data import build_dataloader, build_dataset  # noqa: E402
from basicsr.models import build_model  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from wne_basicsr.inference.forward import TileSpec, eval_mode, run_network  # noqa: E402
from wne_basicsr.inference.precision import autocast, batch_format, fast_bf16, set_tf32, tf32_disabled  # noqa: E402
from wne_basicsr.metrics.ne_defect import ne_defect  # noqa: E402

sys.path.insert(0, BENCHMARKS)
from train_throughput import RESTORMER_SMALL, SWINIR_LITE, training_options  # noqa: E402

QUICKSTART_WNE = 'options/quickstart/train_DnCNN_WNE_s25.yml'
SAMPLER_WNE = 'options/test/sampler/random_missing_quickstart_DnCNN_WNE_s25.yml'
HEADLINE_RECIPES = {'SwinIR-lite': 'options/repro_cpu/train_SwinIR_s10.yml',
                    'WNE(SwinIR-lite)': 'options/repro_cpu/train_SwinIR_WNE_s10.yml'}
# The paper's Set12 PSNR of SwinIR-lite trained at σ 10 (500k iterations): at σ 10 and at σ 100.
PAPER_SWINIR_S10 = {'SwinIR-lite': {10: 35.08, 100: 10.41}, 'WNE(SwinIR-lite)': {10: 34.95, 100: 23.72}}
STAGES = ('env', 'correctness', 'end_to_end', 'throughput', 'headline')
# Seconds a stage needs at least to start (GPU, smoke): one that would not fit in what is left is skipped.
STAGE_MINIMUM = {'env': (2, 1), 'correctness': (30, 5), 'throughput': (60, 8), 'end_to_end': (60, 20),
                 'headline': (90, 10)}

SWINIR_TINY = {**SWINIR_LITE, 'depths': [1], 'embed_dim': 12, 'num_heads': [2]}
RESTORMER_TINY = {'type': 'Restormer', 'dim': 8, 'num_blocks': [1, 1, 1, 1], 'num_refinement_blocks': 1,
                  'heads': [1, 1, 1, 1]}
DNCNN_TINY = {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}
# name → (full options, smoke options, receptive field bounded: tiling with overlap 48 / 16 must give the same output)
CORRECTNESS_NETWORKS = {
    'WNE(DnCNN)': ({'type': 'WNE', 'backbone': {'type': 'DnCNN'}}, {'type': 'WNE', 'backbone': DNCNN_TINY}, True),
    'FDnCNN norm_equiv': ({'type': 'FDnCNN', 'mode': 'norm_equiv'},
                          {'type': 'FDnCNN', 'mode': 'norm_equiv', 'num_feat': 8, 'num_layers': 4}, True),
    'WNE(SwinIR-lite)': ({'type': 'WNE', 'backbone': SWINIR_LITE}, {'type': 'WNE', 'backbone': SWINIR_TINY}, False),
    'WNE(Restormer-small)': ({'type': 'WNE', 'backbone': RESTORMER_SMALL}, {'type': 'WNE', 'backbone': RESTORMER_TINY},
                             False),
}
# name → (bare backbone options, batch shape) at full size and in --smoke
THROUGHPUT_NETWORKS = {
    'DnCNN': (({'type': 'DnCNN'}, (128, 1, 64, 64)), (DNCNN_TINY, (2, 1, 24, 24))),
    'SwinIR-lite': ((SWINIR_LITE, (32, 1, 64, 64)), (SWINIR_TINY, (2, 1, 24, 24))),
}
# mode → (train.amp, channels_last, compile, TF32 for the fp32 parts)
TRAIN_MODES = {
    'fp32': ('fp32', False, False, False),
    'tf32': ('fp32', False, False, True),
    'bf16': ('bf16', False, False, True),
    'fp16+scaler': ('fp16', False, False, True),
    'bf16+cl': ('bf16', True, False, True),
    'bf16+cl+compile': ('bf16', True, True, True),
}
FASTEST_EAGER = 'bf16+cl'


class SkipStage(Exception):
    """Raised inside a stage that cannot run here (its reason goes into the report)."""


@dataclass
class Context:
    """What every stage needs: the device, the size (smoke or full), the deadline and a scratch folder."""

    device: torch.device
    smoke: bool
    deadline: float
    work: str
    headline_seconds: float
    networks: tuple[str, ...] = tuple(THROUGHPUT_NETWORKS)
    modes: tuple[str, ...] = tuple(TRAIN_MODES)
    reserve: float = 0.0  # seconds kept for the stages still to come
    save: Callable[[], None] = lambda: None  # rewrites the report with what is measured so far

    def left(self) -> float:
        """Seconds this stage may still use: the time left less what the later stages need."""
        return self.deadline - time.monotonic() - self.reserve

    def needs(self, stage: str) -> float:
        """Seconds ``stage`` needs at least (the headline: both trainings and their validation)."""
        minimum = STAGE_MINIMUM[stage][1 if self.smoke else 0]
        return 2 * self.headline_seconds + minimum / 2 if stage == 'headline' else minimum

    def sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)


@dataclass
class StageResult:
    """A stage's status, time, checks (each with value, limit and verdict), table rows and notes."""

    status: str = 'passed'
    seconds: float = 0.0
    checks: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, value: object, ok: bool, limit: str = '') -> bool:
        self.checks.append({'check': name, 'value': value, 'limit': limit, 'ok': bool(ok)})
        if not ok:
            self.status = 'failed'
        return bool(ok)


# ---------------------------------------------------------------------------------------------------------------- env


def stage_env(ctx: Context, result: StageResult) -> None:
    """Versions, the device, bf16 support and the TF32 flags as PyTorch leaves them."""
    row = {'python': platform.python_version(), 'torch': torch.__version__, 'cuda': torch.version.cuda,
           'cudnn': torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           'device': ctx.device.type, 'native_bf16': fast_bf16(ctx.device),
           'tf32_matmul_default': torch.backends.cuda.matmul.allow_tf32,
           'tf32_cudnn_default': torch.backends.cudnn.allow_tf32, 'cpu': platform.processor() or platform.machine(),
           'cpu_count': os.cpu_count(), 'date': datetime.date.today().isoformat()}
    if ctx.device.type == 'cuda':
        props = torch.cuda.get_device_properties(ctx.device)
        row.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                   compute_capability=f'{props.major}.{props.minor}', multiprocessors=props.multi_processor_count,
                   nccl=torch.cuda.nccl.version() if hasattr(torch.cuda, 'nccl') else None)
        result.check('CUDA device visible', props.name, True)
    result.rows.append(row)


# -------------------------------------------------------------------------------------------------------- correctness


def set12(index: int, size: int) -> np.ndarray:
    """Set12 image ``index`` (1-based), gray, centre-cropped to ``size``², in [0, 1]."""
    img = cv2.imread(osp.join(REPO, 'datasets', 'Set12', f'{index:02d}.png'), cv2.IMREAD_GRAYSCALE)
    top, left = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
    return img[top:top + size, left:left + size].astype(np.float32) / 255


def noisy_batch(count: int, size: int, sigma: float, seed: int) -> Tensor:
    """``count`` noisy Set12 crops (B×1×size×size, noise seeded)."""
    clean = torch.from_numpy(np.stack([set12(i + 1, size) for i in range(count)]))[:, None]
    return clean + sigma / 255 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))


def spread_weights(net: nn.Module, x: Tensor, seed: int = 0) -> None:
    """Give BatchNorm layers weights in [0.5, 1.5] and running statistics of ``x``, so that the output depends on the
    input (the reference DnCNN init is close to the identity, where every precision looks exact)."""
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in norms:
            bn.weight.copy_(0.5 + torch.rand(bn.weight.shape, generator=generator))
            bn.bias.copy_(0.1 * torch.randn(bn.bias.shape, generator=generator))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration passes
        if norms:
            net.train()
            for _ in range(3):
                net(x)
    for bn in norms:
        bn.momentum = 0.1
    net.eval()


def stage_correctness(ctx: Context, result: StageResult) -> None:
    """Each network on the device against the CPU (fp32, TF32 off), its NE defect in fp32 / bf16 / fp16, and tiled
    against whole-image inference."""
    size, tile = (32, TileSpec(32, 16)) if ctx.smoke else (96, TileSpec(96, 48))
    x_cpu = noisy_batch(2, size, 25, seed=0)
    big_cpu = noisy_batch(1, 48 if ctx.smoke else 160, 25, seed=1)
    for name, (full, tiny, bounded) in CORRECTNESS_NETWORKS.items():
        torch.manual_seed(0)
        net = build_network(copy.deepcopy(tiny if ctx.smoke else full))
        spread_weights(net, x_cpu)
        with torch.no_grad():
            reference = run_network(net, x_cpu)
        cpu_defect = ne_defect(net, x_cpu, num_affine=4, generator=torch.Generator().manual_seed(0))
        moved = copy.deepcopy(net).to(ctx.device)
        x = x_cpu.to(ctx.device)
        with torch.no_grad(), tf32_disabled():
            out = run_network(moved, x).cpu()
        row = {'network': name, 'max_abs_vs_cpu': float((out - reference).abs().max())}
        result.check(f'{name}: fp32 on {ctx.device.type} = CPU', f'{row["max_abs_vs_cpu"]:.2e}',
                     row['max_abs_vs_cpu'] <= 1e-4, '≤ 1e-4')
        if ctx.device.type == 'cuda':
            with torch.no_grad():
                out_tf32 = run_network(moved, x).cpu()  # PyTorch's defaults: cuDNN convolutions in TF32
            row['max_abs_tf32_default'] = float((out_tf32 - reference).abs().max())
        generator = torch.Generator().manual_seed(0)
        row['ne_defect_fp32'] = ne_defect(moved, x, num_affine=4, generator=generator)
        row['ne_defect_fp32_cpu'] = cpu_defect
        result.check(f'{name}: NE defect fp32', f'{row["ne_defect_fp32"]:.2e} (CPU {cpu_defect:.2e})',
                     row['ne_defect_fp32'] <= max(1e-6, 2 * cpu_defect), '≤ 1e-6, or ≤ 2× the CPU\'s')
        for label, dtype in (('bf16', torch.bfloat16), ('fp16', torch.float16)):
            generator = torch.Generator().manual_seed(0)
            try:
                row[f'ne_defect_{label}'] = ne_defect(moved, x, num_affine=4, generator=generator, dtype=dtype)
            except RuntimeError as err:  # an autocast dtype this device/torch cannot run
                row[f'ne_defect_{label}'] = f'not run: {str(err).splitlines()[0]}'
        big = big_cpu.to(ctx.device)
        with eval_mode(moved), torch.no_grad(), tf32_disabled():
            tiled, whole = run_network(moved, big, tile), run_network(moved, big)
        row['max_abs_tiled_vs_whole'] = float((tiled - whole).abs().max())
        if bounded:
            result.check(f'{name}: tiled ({tile.size}/{tile.overlap}) = whole image',
                         f'{row["max_abs_tiled_vs_whole"]:.2e}', row['max_abs_tiled_vs_whole'] <= 1e-5, '≤ 1e-5')
        result.rows.append(row)
        del moved
    result.notes.append('NE defect: mean relative error of f(a·y+b) against a·f(y)+b over 4 affine draws on 2 noisy '
                        'Set12 crops (σ 25); BatchNorm weights spread so that the output depends on the input. '
                        'Deep convolutional networks (20 layers, BatchNorm gains up to 1.5) reach a few 1e-6 in fp32 '
                        'on the CPU too: their fp32 defect is checked against the CPU\'s, same weights and input. '
                        'Tiled = whole image is checked for the convolutional networks only: SwinIR and Restormer see '
                        'the whole image, so their tiles differ by design (value reported).')


# --------------------------------------------------------------------------------------------------------- throughput


def time_steps(ctx: Context, step: Callable[[], None], count: int) -> float:
    """Seconds per call of ``step`` over ``count`` calls (device-synchronized before and after)."""
    ctx.sync()
    start = time.perf_counter()
    for _ in range(count):
        step()
    ctx.sync()
    return (time.perf_counter() - start) / count


def peak_mib(ctx: Context, step: Callable[[], None], count: int) -> float | None:
    """Peak device memory (MiB) over ``count`` calls of ``step`` (None on the CPU)."""
    if ctx.device.type != 'cuda':
        for _ in range(count):
            step()
        return None
    torch.cuda.reset_peak_memory_stats(ctx.device)
    for _ in range(count):
        step()
    ctx.sync()
    return torch.cuda.max_memory_allocated(ctx.device) / 2 ** 20


def model_step(instance, batch: dict) -> Callable[[], None]:
    def step() -> None:
        instance.feed_data(batch)
        instance.optimize_parameters(1)
    return step


def plain_step(net: nn.Module, batch: dict, amp: str, channels_last: bool, device: torch.device) -> Callable[[], None]:
    """A plain PyTorch training step (autocast forward, MSE, backward, Adam): what the trainer is compared with."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(amp)
    lq, gt = batch_format(batch['lq'], channels_last), batch['gt']

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, dtype):
            out = net(lq)
        nn.functional.mse_loss(out.float(), gt).backward()
        optimizer.step()
    return step


def measure_mode(ctx: Context, network: str, variants: dict, batch: dict, mode: str, counts: tuple[int, int, int],
                 fp32_seconds: float | None) -> dict:
    """One mode's row: seconds per step of the bare and the WNE model (interleaved rounds), peak memory, ratios."""
    amp, channels_last, compile_, tf32 = TRAIN_MODES[mode]
    warmup, steps, rounds = counts
    models = {kind: build_model({**training_options(opts, amp, channels_last, compile_, ctx.device),
                                 'allow_tf32': tf32})  # the model sets TF32 as its option says
              for kind, opts in variants.items()}
    row = {'network': network, 'mode': mode, 'batch': 'x'.join(map(str, batch['lq'].shape)), 'status': 'measured'}
    start = time.perf_counter()
    for kind, instance in models.items():
        row[f'peak MiB {kind}'] = peak_mib(ctx, model_step(instance, batch), warmup)
    row['warm-up s'] = round(time.perf_counter() - start, 1)
    times = {kind: [] for kind in models}
    for round_ in range(rounds):
        for kind in (list(models) if round_ % 2 == 0 else list(reversed(models))):
            times[kind].append(time_steps(ctx, model_step(models[kind], batch), steps))
    seconds = {kind: statistics.median(values) for kind, values in times.items()}
    row.update({f's/step {kind}': value for kind, value in seconds.items()})
    row['steps/s WNE'] = 1 / seconds['WNE']
    row['WNE/bare'] = seconds['WNE'] / seconds['bare']
    if mode == 'fp32' or fp32_seconds:
        row['speed-up vs fp32 (WNE)'] = (fp32_seconds or seconds['WNE']) / seconds['WNE']
    scaler = getattr(models['WNE'], 'grad_scaler', None)
    if scaler is not None:
        row['grad scale'] = scaler.get_scale()
    if mode == FASTEST_EAGER:
        torch.manual_seed(0)
        net = build_network(copy.deepcopy(variants['WNE'])).to(ctx.device)
        if channels_last:
            net.to(memory_format=torch.channels_last)
        loop = plain_step(net, batch, amp, channels_last, ctx.device)
        time_steps(ctx, loop, warmup)
        pairs = [(time_steps(ctx, model_step(models['WNE'], batch), steps), time_steps(ctx, loop, steps))
                 for _ in range(rounds)]
        row['s/step plain loop (WNE)'] = statistics.median(p[1] for p in pairs)
        row['plain/DenoisingModel'] = statistics.median(p[1] / p[0] for p in pairs)
    return row


def stage_throughput(ctx: Context, result: StageResult) -> None:
    """Seconds per DenoisingModel step (feed_data + optimize_parameters) of the bare backbone and of WNE(backbone),
    interleaved, per mode; in the fastest eager mode also the WNE step against a plain PyTorch loop."""
    counts = (1, 1, 2) if ctx.smoke else (3, 5, 4)
    torch.backends.cudnn.benchmark = True
    for network, (full, tiny) in THROUGHPUT_NETWORKS.items():
        if network not in ctx.networks:
            continue
        backbone, shape = tiny if ctx.smoke else full
        generator = torch.Generator().manual_seed(0)
        gt = torch.rand(shape, generator=generator)
        batch = {'lq': (gt + 0.1 * torch.randn(shape, generator=generator)).to(ctx.device), 'gt': gt.to(ctx.device)}
        variants = {'bare': backbone, 'WNE': {'type': 'WNE', 'backbone': backbone}}
        fp32_seconds = None
        for mode, (_, _, compile_, _) in TRAIN_MODES.items():
            if mode not in ctx.modes:
                continue
            needed = (150 if network.startswith('Swin') else 75) if compile_ else 15
            if compile_ and ctx.smoke:
                status = 'skipped in --smoke (compiling takes minutes on a CPU)'
            elif ctx.left() < needed:
                status = f'skipped: needs ~{needed} s, {ctx.left():.0f} s left'
            else:
                try:
                    row = measure_mode(ctx, network, variants, batch, mode, counts, fp32_seconds)
                except Exception as err:  # one mode failing (a compiler, an autocast dtype) leaves the others
                    status = f'error: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""}'
                    result.check(f'{network} {mode}', status, False, 'runs')
                    result.notes.append(f'{network} {mode}:\n{traceback.format_exc()[-3000:]}')
                else:
                    result.rows.append(row)
                    ctx.save()
                    fp32_seconds = fp32_seconds or (row['s/step WNE'] if mode == 'fp32' else None)
                    continue
                finally:
                    if ctx.device.type == 'cuda':
                        torch.cuda.empty_cache()
            result.rows.append({'network': network, 'mode': mode, 'status': status})
    set_tf32(False, ctx.device)
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default
    measured = [r for r in result.rows if r.get('status') == 'measured']
    result.check('modes measured', len(measured), bool(measured), '≥ 1')
    warmup, steps, rounds = counts
    result.notes.append(f'Median over {rounds} interleaved rounds (bare / WNE) of {steps} steps each, after {warmup} '
                        'warm-up steps (compilation happens there); one fixed batch on the device; Adam, MSE. '
                        'plain/DenoisingModel: the time of a plain PyTorch step (no checks, no logging) over the '
                        'trainer\'s, in the fastest eager mode (1.00: no overhead). Peak memory over the warm-up.')


# --------------------------------------------------------------------------------------------------------- end to end


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_commands(ctx: Context, result: StageResult, commands: dict[str, list[str]], timeout: float) -> dict:
    """Run commands side by side from the repository root (outputs under the work folder); each one's output, or None
    where it failed (its output tail goes into the notes)."""
    env = {**os.environ, 'WNE_BASICSR_ROOT': ctx.work, 'PYTHONPATH': os.pathsep.join(
        [REPO, *filter(None, [os.environ.get('PYTHONPATH')])]), 'PYTHONUNBUFFERED': '1'}
    if ctx.device.type == 'cuda':
        env['NCCL_DEBUG'] = 'INFO'
    start = time.perf_counter()
    procs = {}
    for label, args in commands.items():
        log = open(osp.join(ctx.work, f'{label.replace(" ", "_")}.log'), 'w+')
        procs[label] = (subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    outputs = {}
    for label, (proc, log) in procs.items():
        try:
            code = proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - start)))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = f'killed after {timeout:.0f} s'
        log.seek(0)
        output = log.read()
        log.close()
        result.rows.append({'step': label, 'seconds': round(time.perf_counter() - start, 1), 'exit': code})
        if result.check(f'{label}: exit status', code, code == 0, '0'):
            outputs[label] = output
        else:
            outputs[label] = None
            result.notes.append(f'{label} output tail:\n{output[-3000:]}')
    return outputs


def force(**keys: object) -> list[str]:
    """``--force_yml`` arguments (BasicSR's ``a:b=value``) from keyword names with ``__`` for ``:``."""
    return ['--force_yml', *(f'{k.replace("__", ":")}={"~" if v is None else v}' for k, v in keys.items())]


def stage_end_to_end(ctx: Context, result: StageResult) -> None:
    """The quick-start WNE options through torchrun (nccl on a GPU, gloo on a CPU) with prefetch_mode cuda, then
    --auto_resume, test.py on its checkpoint, a 2-image sweep and 10 sampler steps."""
    cuda = ctx.device.type == 'cuda'
    name, first, total = 'gpu_check_quickstart', (2 if ctx.smoke else 20), (4 if ctx.smoke else 40)
    train = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=1', '--master_addr=127.0.0.1',
             None, 'wne_basicsr/train.py', '-opt', QUICKSTART_WNE, '--launcher', 'pytorch']
    overrides = {'name': name, 'num_gpu': 1 if cuda else 0, 'logger__print_freq': first // 2,
                 'logger__save_checkpoint_freq': first, 'val__val_freq': first,
                 'datasets__train__prefetch_mode': 'cuda' if cuda else None,
                 'datasets__train__pin_memory': 'true' if cuda else 'false'}
    if ctx.smoke:
        overrides.update(datasets__train__batch_size_per_gpu=2, datasets__val_sigma10__max_images=1,
                         datasets__val_sigma25__max_images=1, datasets__val_sigma50__max_images=1)
    for label, total_iter, extra in (('train', first, []), ('resume', total, ['--auto_resume'])):
        train[5] = f'--master_port={free_port()}'
        label = f'torchrun {label}'
        output = run_commands(ctx, result, {label: [*train, *extra, *force(
            **overrides, train__total_iter=total_iter)]}, min(240, ctx.left()))[label]
        if output is None:
            return
        if cuda:
            result.check(f'torchrun {label}: nccl initialised', 'NCCL INFO' in output, 'NCCL INFO' in output)
        if label.endswith('resume'):
            resumed = f'iter: {first}' in output and 'Resuming training from epoch' in output
            result.check('--auto_resume resumed from the saved iteration', resumed, resumed, f'iter {first}')
        psnr = re.findall(r'# psnr_float: ([0-9.]+)', output)
        result.check(f'torchrun {label}: validation PSNR logged', psnr[-1] if psnr else None, bool(psnr))
    models = osp.join(ctx.work, 'experiments', name, 'models')
    checkpoint = osp.join(models, 'net_g_latest.pth')
    saved = osp.isfile(osp.join(models, f'net_g_{total}.pth'))
    result.check('checkpoint after the resumed run', f'net_g_{total}.pth', saved)

    with open(osp.join(REPO, QUICKSTART_WNE)) as f:
        train_opt = yaml.safe_load(f)
    test_opt = {**{k: train_opt[k] for k in ('model_type', 'scale', 'network_g', 'channels_last', 'inference_dtype')},
                'name': 'gpu_check_test', 'num_gpu': 1 if cuda else 0, 'manual_seed': 0,
                'datasets': {'test_1': {**train_opt['datasets']['val_sigma25'], 'max_images': 2}},
                'path': {'pretrain_network_g': checkpoint, 'strict_load_g': True, 'param_key_g': 'params'},
                'val': {'save_img': False, 'metrics': {'psnr_float': {'type': 'calculate_psnr_float'}}}}
    test_file = osp.join(ctx.work, 'test.yml')
    with open(test_file, 'w') as f:
        yaml.safe_dump(test_opt, f)
    sweep = {'name': 'gpu_check_sweep', 'sigmas': [15, 50], 'n_averages': 1, 'seed': 0, 'batch_size': 2,
             'device': 'cuda' if cuda else 'cpu', 'ne_defect': False if ctx.smoke else {'num_affine': 2},
             'cache_dir': None, 'output_dir': osp.join(ctx.work, 'mismatch'),
             'datasets': {'Set12': {'dataroot_gt': 'datasets/Set12', 'max_images': 1 if ctx.smoke else 2}},
             'models': {'WNE-DnCNN': {'options': QUICKSTART_WNE, 'checkpoint': checkpoint, 'sigma_train': 25}}}
    sweep_file = osp.join(ctx.work, 'sweep.yml')
    with open(sweep_file, 'w') as f:
        yaml.safe_dump(sweep, f)
    outputs = run_commands(ctx, result, {
        'test.py': [sys.executable, 'wne_basicsr/test.py', '-opt', test_file],
        'sweep': [sys.executable, 'scripts/mismatch_curve.py', '-opt', sweep_file, '--quiet'],
        'sampler': [sys.executable, 'wne_basicsr/test.py', '-opt', SAMPLER_WNE, *force(
            name='gpu_check_sampler', num_gpu=1 if cuda else 0, path__pretrain_network_g=checkpoint,
            sampler__max_steps=10, sampler__save_plots='false', datasets__test_1__max_images=1, val__pbar='false',
            val__save_img='false')]}, min(150, ctx.left()))
    if outputs['test.py'] is not None:
        psnr = re.findall(r'# psnr_float: ([0-9.]+)', outputs['test.py'])
        result.check('test.py: PSNR of the trained checkpoint (Set12 01-02, σ 25)', psnr[-1] if psnr else None,
                     bool(psnr))
    if outputs['sweep'] is not None:
        with open(osp.join(ctx.work, 'mismatch', 'gpu_check_sweep', 'mismatch.csv')) as f:
            rows = len(f.read().splitlines()) - 1
        result.check('sweep: mismatch.csv rows (σ 15, 25, 50)', rows, rows == 3, '3')
    if outputs['sampler'] is not None:
        per_image = osp.join(ctx.work, 'results', 'gpu_check_sampler', 'Set12', 'per_image.csv')
        result.check('sampler: per_image.csv written after 10 steps', osp.isfile(per_image), osp.isfile(per_image))


# ----------------------------------------------------------------------------------------------------------- headline


def headline_options(recipe: str, ctx: Context) -> dict:
    """The CPU recipe's options at the paper's batch 32 × 64² (bf16 where native), validated on Set12 σ 10/50/100."""
    with open(osp.join(REPO, recipe)) as f:
        opt = yaml.safe_load(f)
    cuda = ctx.device.type == 'cuda'
    opt.update(num_gpu=1 if cuda else 0, is_train=True, dist=False, rank=0, world_size=1, inference_dtype='fp32')
    opt['path'] = {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None}
    opt['train'].update(amp='auto', warmup_iter=100, scheduler={'type': 'MultiStepLR', 'milestones': [10 ** 9]})
    opt['train']['optim_g']['lr'] = 4e-4
    train = opt['datasets']['train']
    train.update(phase='train', batch_size_per_gpu=2 if ctx.smoke else 32, gt_size=24 if ctx.smoke else 64,
                 num_worker_per_gpu=0 if ctx.smoke else min(12, (os.cpu_count() or 2) - 2),
                 persistent_workers=not ctx.smoke, pin_memory=cuda)
    if ctx.smoke:  # the SwinIR options (bare, or a wrapper's backbone) shrunk to SWINIR_TINY's size
        swinir = opt['network_g'].get('backbone', opt['network_g'])
        swinir.update({k: SWINIR_TINY[k] for k in ('depths', 'embed_dim', 'num_heads')})
    for key, dataset in list(opt['datasets'].items()):
        if key.startswith('val'):
            dataset.update(phase='val', max_images=1 if ctx.smoke else None)
    return opt


def train_for(ctx: Context, opt: dict, seconds: float) -> dict:
    """Train a fresh model for ``seconds`` of wall time (lr ×0.25 for the last fifth), then validate every val set."""
    torch.manual_seed(0)
    model = build_model(opt)
    dataset_opt = opt['datasets']['train']
    dataset = build_dataset(dataset_opt)
    loader = build_dataloader(dataset, dataset_opt, num_gpu=opt['num_gpu'], dist=False, sampler=None, seed=0)
    iteration, epoch, data_seconds, losses = 0, 0, 0.0, []
    start = time.perf_counter()
    decayed = False
    while time.perf_counter() - start < seconds:
        if hasattr(dataset, 'set_stream'):
            dataset.set_stream(epoch, iteration)
        fetch = time.perf_counter()
        for data in loader:
            data_seconds += time.perf_counter() - fetch
            iteration += 1
            model.update_learning_rate(iteration, warmup_iter=opt['train']['warmup_iter'])
            if not decayed and time.perf_counter() - start > 0.8 * seconds:
                for group in model.optimizer_g.param_groups:
                    group['lr'] *= 0.25
                decayed = True
            model.feed_data(data)
            model.optimize_parameters(iteration)
            if iteration % 50 == 1:
                losses.append(float(model.log_dict['l_pix']))
            fetch = time.perf_counter()
            if time.perf_counter() - start >= seconds:
                break
        epoch += 1
    ctx.sync()
    elapsed = time.perf_counter() - start
    row = {'iterations': iteration, 'train_s': round(elapsed, 1), 's/iter': elapsed / max(iteration, 1),
           'data_fraction': data_seconds / elapsed, 'l_pix first': losses[0] if losses else None,
           'l_pix last': float(model.log_dict['l_pix']) if iteration else None}
    for key, dataset_opt in opt['datasets'].items():
        if key.startswith('val'):
            loader = build_dataloader(build_dataset(dataset_opt), dataset_opt, num_gpu=opt['num_gpu'], dist=False,
                                      sampler=None, seed=0)
            model.validation(loader, iteration, None, False)
            row[f'psnr σ{dataset_opt["noise"]["sigma"]}'] = round(model.metric_results['psnr_float'], 2)
    return row


def stage_headline(ctx: Context, result: StageResult) -> None:
    """SwinIR-lite and WNE(SwinIR-lite) at σ 10, each trained for the same wall time at batch 32 × 64², then Set12
    at σ 10 / 50 / 100 (all 12 images)."""
    validation = STAGE_MINIMUM['headline'][1 if ctx.smoke else 0] / 4  # room left for validating both models
    seconds = min(ctx.headline_seconds, max(0.0, ctx.left() - validation) / 2)
    if seconds < (2 if ctx.smoke else 30):
        raise SkipStage(f'{ctx.left():.0f} s left: too little for two trainings')
    for name, recipe in HEADLINE_RECIPES.items():
        opt = headline_options(recipe, ctx)
        row = {'model': name, 'recipe': recipe, 'batch': f'{opt["datasets"]["train"]["batch_size_per_gpu"]}x'
               f'{opt["datasets"]["train"]["gt_size"]}²', **train_for(ctx, opt, seconds)}
        if not ctx.smoke:
            row.update({f'paper σ{s}': v for s, v in PAPER_SWINIR_S10[name].items()})
        result.rows.append(row)
        result.check(f'{name}: trained and validated', row['iterations'], row['iterations'] > 0, '> 0 iterations')
    base, wne = result.rows
    for sigma in (10, 50, 100):
        key = f'psnr σ{sigma}'
        if key in base and key in wne:
            result.notes.append(f'σ {sigma}: WNE − baseline = {wne[key] - base[key]:+.2f} dB')
    result.notes.append(f'Each model trained {seconds:.0f} s of wall time from the same seed: Adam lr 4e-4 after a '
                        '100-iteration warm-up, ×0.25 for the last fifth, train.amp auto (bf16 where native), '
                        'validation in fp32. The paper trains 500k iterations (its numbers are in the paper columns).')


# ------------------------------------------------------------------------------------------------------------- report


def markdown(report: dict) -> str:
    """The report as markdown: the machine, then each stage's status, table, checks and notes."""
    env = (report['stages'].get('env', {}).get('rows') or [{}])[0]
    lines = ['# GPU check', '', f'Machine: {env.get("gpu") or env.get("cpu", "?")}, torch {env.get("torch")}, '
             f'CUDA {env.get("cuda")}, cuDNN {env.get("cudnn")}, {env.get("cpu_count")} CPU cores; '
             f'{report["started"]}. Command: `{report["command"]}`.', '',
             f'Overall: **{report["status"]}** in {report["seconds"]:.0f} s (time limit {report["time_limit"]:.0f} s).',
             '']
    for name, stage in report['stages'].items():
        lines += [f'## {name}: {stage["status"]} ({stage["seconds"]:.1f} s)', '']
        if stage.get('reason'):
            lines += [stage['reason'], '']
        if stage.get('rows'):
            lines += table(stage['rows']) + ['']
        if stage.get('checks'):
            lines += table([{k: c[k] for k in ('check', 'value', 'limit')} | {'ok': 'yes' if c['ok'] else 'NO'}
                            for c in stage['checks']]) + ['']
        for note in stage.get('notes', []):
            lines += (['```', note, '```'] if '\n' in note else [f'- {note}']) + ['']
    return '\n'.join(lines)


def cell(value: object) -> str:
    if isinstance(value, float):
        return f'{value:.3g}' if abs(value) < 1e-2 or abs(value) >= 1e4 else f'{value:.3f}'.rstrip('0').rstrip('.')
    return '' if value is None else str(value).replace('|', '/')


def table(rows: list[dict]) -> list[str]:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns),
            *('| ' + ' | '.join(cell(row.get(c)) for c in columns) + ' |' for row in rows)]


def write_report(report: dict, output: str) -> None:
    """gpu_check.json and gpu_check.md, each written to a temporary file first, then renamed."""
    for filename, text in (('gpu_check.json', json.dumps(report, indent=2, default=str)),
                           ('gpu_check.md', markdown(report))):
        path = osp.join(output, filename)
        with open(path + '.tmp', 'w') as f:
            f.write(text)
        os.replace(path + '.tmp', path)


STAGE_FUNCTIONS = {'env': stage_env, 'correctness': stage_correctness, 'throughput': stage_throughput,
                   'end_to_end': stage_end_to_end, 'headline': stage_headline}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--output', required=True, help='folder for gpu_check.json and gpu_check.md')
    parser.add_argument('--device', default='cuda', choices=('cuda', 'cpu'))
    parser.add_argument('--smoke', action='store_true', help='tiny sizes: every stage in about a minute')
    parser.add_argument('--time-limit', type=float, default=540, help='wall-clock seconds for all stages (default 540)')
    parser.add_argument('--stages', nargs='+', choices=STAGES, default=list(STAGES), help='stages to run (default all)')
    parser.add_argument('--headline-seconds', type=float, help='wall time of each headline training (default 120; '
                        '3 with --smoke)')
    parser.add_argument('--networks', nargs='+', choices=list(THROUGHPUT_NETWORKS), default=list(THROUGHPUT_NETWORKS),
                        help='throughput stage: networks to measure (default all)')
    parser.add_argument('--modes', nargs='+', choices=list(TRAIN_MODES), default=list(TRAIN_MODES),
                        help='throughput stage: modes to measure (default all; fp32 gives the speed-up reference)')
    parser.add_argument('--keep', action='store_true', help='keep the end-to-end runs under <output>/work')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is visible (use --device cpu --smoke for the CPU run)')
    os.makedirs(args.output, exist_ok=True)
    work = osp.join(osp.abspath(args.output), 'work')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    started = time.monotonic()
    ctx = Context(torch.device(args.device), args.smoke, started + args.time_limit, work,
                  args.headline_seconds or (3 if args.smoke else 120), tuple(args.networks), tuple(args.modes))
    report = {'command': ' '.join(['python benchmarks/gpu_check.py', *(argv if argv is not None else sys.argv[1:])]),
              'started': datetime.datetime.now().isoformat(timespec='seconds'), 'time_limit': args.time_limit,
              'status': 'running', 'seconds': 0.0, 'stages': {}}
    stages = [name for name in STAGES if name in args.stages]
    for index, name in enumerate(stages):
        result = StageResult()
        ctx.reserve = sum(ctx.needs(later) for later in stages[index + 1:])
        ctx.save = lambda name=name, result=result: write_report(
            {**report, 'stages': {**report['stages'], name: result.__dict__}}, args.output)
        minimum = STAGE_MINIMUM[name][1 if args.smoke else 0]
        stage_start = time.monotonic()
        if ctx.deadline - time.monotonic() < minimum:  # the reserve only shortens what a stage may measure
            result.status = 'skipped'
            reason = f'skipped: needs at least {minimum} s, {ctx.deadline - time.monotonic():.0f} s left'
        else:
            reason = None
            print(f'[gpu_check] {name} ({ctx.left():.0f} s left)', flush=True)
            try:
                STAGE_FUNCTIONS[name](ctx, result)
            except SkipStage as err:
                result.status, reason = 'skipped', f'skipped: {err}'
            except Exception as err:  # the report records it; the remaining stages still run
                result.status, reason = 'error', f'{type(err).__name__}: {err}'
                result.notes.append(traceback.format_exc()[-4000:])
        result.seconds = time.monotonic() - stage_start
        report['stages'][name] = {**result.__dict__, **({'reason': reason} if reason else {})}
        report['seconds'] = time.monotonic() - started
        print(f'[gpu_check] {name}: {result.status} in {result.seconds:.1f} s' + (f' ({reason})' if reason else ''),
              flush=True)
        write_report(report, args.output)
    statuses = [stage['status'] for stage in report['stages'].values()]
    skipped = [name for name, stage in report['stages'].items() if stage['status'] == 'skipped']
    report['status'] = 'failed' if any(s in ('failed', 'error') for s in statuses) else 'passed'
    if skipped:
        report['status'] += f' (skipped: {", ".join(skipped)})'
    report['seconds'] = time.monotonic() - started
    write_report(report, args.output)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f'[gpu_check] {report["status"]} in {report["seconds"]:.0f} s: {osp.join(args.output, "gpu_check.md")}')
    return 1 if report['status'] == 'failed' else 0


if __name__ == '__main__':
    sys.exit(main())
