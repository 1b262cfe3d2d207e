"""Distributed training: a 2-process CPU torchrun, two torchrun nodes (one killed, both resumed), the slurm fallback,
--local-rank, and SyncBatchNorm conversion."""
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import yaml
from torch import nn

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network
from basicsr.utils.dist_util import init_dist

from wne_basicsr.archs.affine_layers import BiasFreeBatchNorm2d
from wne_basicsr.models.denoising_model import DenoisingModel
from wne_basicsr.option_checks import translate_local_rank

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join('options', 'quickstart', 'train_DnCNN_WNE_s25.yml')
NODE_TOTAL_ITER, NODE_SAVE_FREQ = 60, 4

# Runs the real entry script under torchrun; each rank dumps its trained parameters and the batches it was fed into
# {out} for the comparison. With per_rank_roots, rank 1 gets its own (pre-created, empty) experiment root so that
# anything it wrote would show there; otherwise the ranks share the $WNE_BASICSR_ROOT the test sets.
DRIVER = textwrap.dedent('''
    import os, runpy, sys
    sys.path.insert(0, {repo!r})
    import torch
    import wne_basicsr
    import wne_basicsr.pipelines

    rank = int(os.environ['RANK'])
    if {per_rank_roots}:
        root = os.path.join({out!r}, 'root_rank%d' % rank)
        os.makedirs(os.path.join(root, 'experiments', 'tiny_wne', 'models'), exist_ok=True)
        os.makedirs(os.path.join(root, 'experiments', 'tiny_wne', 'training_states'), exist_ok=True)
        os.environ['WNE_BASICSR_ROOT'] = root
    models = []
    build_model = wne_basicsr.pipelines.build_model
    wne_basicsr.pipelines.build_model = lambda opt: models.append(build_model(opt)) or models[-1]
    from wne_basicsr.models.denoising_model import DenoisingModel
    feed_data, batches = DenoisingModel.feed_data, []
    DenoisingModel.feed_data = lambda self, data: batches.append(data['lq'].clone()) or feed_data(self, data)
    runpy.run_path(os.path.join({repo!r}, 'wne_basicsr', 'train.py'), run_name='__main__')
    net = models[0].get_bare_model(models[0].net_g)
    torch.save({{k: v.detach() for k, v in net.named_parameters()}}, os.path.join({out!r}, 'weights_rank%d.pth' % rank))
    torch.save(batches, os.path.join({out!r}, 'batches_rank%d.pth' % rank))
''')


def tiny_options(train_root: str, val_root: str) -> dict:
    """Six iterations of WNE(DnCNN) on 32×32 crops, a checkpoint and a validation at iteration 4."""
    return {
        'name': 'tiny_wne', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {
            'train': {'name': 'tiny_train', 'type': 'NoisyImageDataset', 'dataroot_gt': train_root, 'seed': 0,
                      'noise': {'type': 'gaussian', 'sigma': 25}, 'gt_size': 32, 'num_worker_per_gpu': 0,
                      'batch_size_per_gpu': 2, 'prefetch_mode': None},
            'val': {'name': 'tiny_sigma10', 'type': 'NoisyEvalDataset', 'dataroot_gt': val_root,
                    'noise': {'type': 'gaussian', 'sigma': 10}},
        },
        'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}},
        'path': {'pretrain_network_g': None, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'scheduler': {'type': 'MultiStepLR', 'milestones': [100],
                  'gamma': 0.5}, 'total_iter': 6, 'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0}},
        'val': {'val_freq': 4, 'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr_float'}}},
        'logger': {'print_freq': 2, 'save_checkpoint_freq': 4, 'use_tb_logger': False},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def files_under(folder) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob('*') if p.is_file())


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_identically_and_only_rank0_writes(tmp_path, make_images):
    make_images(tmp_path / 'train', 4, (40, 40))
    make_images(tmp_path / 'val', 1, (24, 20), seed=1)
    (tmp_path / 'tiny.yml').write_text(yaml.safe_dump(tiny_options(str(tmp_path / 'train'), str(tmp_path / 'val'))))
    (tmp_path / 'driver.py').write_text(DRIVER.format(repo=REPO, out=str(tmp_path), per_rank_roots=True))
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore', 'CUDA_VISIBLE_DEVICES': ''}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', f'--master_port={free_port()}',
           str(tmp_path / 'driver.py'), '-opt', str(tmp_path / 'tiny.yml'), '--launcher', 'pytorch']
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    w0, w1 = torch.load(tmp_path / 'weights_rank0.pth'), torch.load(tmp_path / 'weights_rank1.pth')
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    b0, b1 = ([x for x in torch.load(tmp_path / f'batches_rank{r}.pth') if x.shape[0] == 2] for r in (0, 1))
    assert len(b0) == len(b1) == 6  # exactly total_iter steps on each rank (one batch per epoch here)
    assert not any(torch.equal(x, y) for x, y in zip(b0, b1))  # with `seed` set, the ranks still draw apart
    # (validation batches of one image are left out above; only rank 0 validates)
    assert len({x.sum().item() for x in b0}) == 6  # and every epoch draws anew
    exp0 = tmp_path / 'root_rank0' / 'experiments' / 'tiny_wne'
    latest = torch.load(exp0 / 'models' / 'net_g_latest.pth')['params']
    assert all(torch.equal(latest[k], w0[k]) for k in w0)  # the checkpoint holds the trained weights
    written = files_under(exp0)
    assert {'models/net_g_4.pth', 'models/net_g_latest.pth', 'training_states/4.state'} <= set(written)
    assert len([f for f in written if f.startswith('train_tiny_wne_') and f.endswith('.log')]) == 1
    assert not [f for f in written if f.endswith('.partial')]
    assert files_under(tmp_path / 'root_rank1') == []  # rank 1 wrote no checkpoint, state, log or options copy
    assert 'Validation tiny_sigma10' in result.stderr + result.stdout


def quickstart_overrides() -> list[str]:
    """``--force_yml`` entries that shrink the shipped quick start to seconds: 4 training images in batches of 2, a
    6-layer DnCNN of 16 channels, a checkpoint every NODE_SAVE_FREQ iterations, and one validation (at the end) on the
    first Set12 image of each val set."""
    with open(os.path.join(REPO, QUICKSTART)) as f:
        val_sets = [key for key in yaml.safe_load(f)['datasets'] if key.startswith('val')]
    return [f'train:total_iter={NODE_TOTAL_ITER}', f'logger:save_checkpoint_freq={NODE_SAVE_FREQ}',
            'logger:use_tb_logger=false', f'val:val_freq={NODE_TOTAL_ITER}', 'datasets:train:max_images=4',
            'datasets:train:dataset_enlarge_ratio=1', 'datasets:train:batch_size_per_gpu=2',
            'network_g:backbone:num_feat=16', 'network_g:backbone:num_layers=6',
            *(f'datasets:{key}:max_images=1' for key in val_sets)]


def start_node(tmp_path: Path, node: int, port: int, *args: str) -> subprocess.Popen:
    """One "machine" of a two-node torchrun job on localhost (its agent and one worker running the driver on the
    quick start), its output going to node<N>_run<K>.log."""
    log = tmp_path / f'node{node}_run{len(list(tmp_path.glob(f"node{node}_run*.log")))}.log'
    # c10d rendezvous, as across machines: the agents agree on the ranks through the store at the endpoint (hosted by
    # whichever agent binds it first); --node_rank is for the static rendezvous only, so it is not given.
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes=2', '--nproc_per_node=1', '--rdzv_backend=c10d',
           f'--rdzv_endpoint=127.0.0.1:{port}', str(tmp_path / 'driver.py'), '-opt', QUICKSTART, '--launcher',
           'pytorch', *args, '--force_yml', *quickstart_overrides()]
    # Both "machines" share 2 cores: one OpenMP thread each (torchrun sets it only for several processes per node).
    env = {**os.environ, 'WNE_BASICSR_ROOT': str(tmp_path), 'PYTHONWARNINGS': 'ignore', 'CUDA_VISIBLE_DEVICES': '',
           'OMP_NUM_THREADS': '1'}
    with open(log, 'w') as out:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def node_logs(tmp_path: Path, run: int) -> str:
    """Both nodes' output of run ``run``."""
    return ''.join((tmp_path / f'node{node}_run{run}.log').read_text() for node in (0, 1))


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, read from /proc (torchrun starts each worker in a process group of its own)."""
    children: dict[int, list[int]] = {}
    for stat in Path('/proc').glob('[0-9]*/stat'):
        with contextlib.suppress(OSError):  # a process that exits meanwhile
            children.setdefault(int(stat.read_text().rsplit(')', 1)[1].split()[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def kill_node(node: subprocess.Popen) -> None:
    """SIGKILL a node's agent and its workers, as when the machine goes down."""
    for pid in process_tree(node.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_two_nodes_train_identically_and_auto_resume_after_one_is_killed(tmp_path):
    """Two torchrun "machines" on localhost (``--nnodes 2``, one process each, c10d rendezvous, gloo) train the shipped
    quick start; node 1 (agent and worker) is killed with SIGKILL once the first checkpoint exists, node 0 then stops
    with an error, and both, started again with ``--auto_resume``, finish the run from the saved iteration N.

    What proves the ranks agree: each rank dumps its parameters at the end (the driver, not the package), and they are
    bitwise equal, and equal to ``net_g_latest.pth``. DDP alone only makes the *starting* weights equal (it broadcasts
    rank 0's when wrapping); Adam's moments and step and the learning-rate schedule are each process's own, so equal
    final weights also show that rank 1 loaded the same training state as rank 0. Rank 1 logs errors only (BasicSR),
    so its resume shows in the batches it trained on: total_iter − N, N from rank 0's "Resuming training ... iter: N".
    """
    with open(os.path.join(REPO, QUICKSTART)) as f:
        exp = tmp_path / 'experiments' / yaml.safe_load(f)['name']
    (tmp_path / 'driver.py').write_text(DRIVER.format(repo=REPO, out=str(tmp_path), per_rank_roots=False))
    nodes: list[subprocess.Popen] = []
    try:
        port = free_port()
        nodes = [start_node(tmp_path, node, port) for node in (0, 1)]
        first_state, deadline = exp / 'training_states' / f'{NODE_SAVE_FREQ}.state', time.time() + 180
        while not first_state.exists() and all(n.poll() is None for n in nodes) and time.time() < deadline:
            time.sleep(0.01)
        assert first_state.exists(), node_logs(tmp_path, 0)[-5000:]
        kill_node(nodes[1])
        assert nodes[1].wait(30) == -signal.SIGKILL
        assert nodes[0].wait(120) != 0, node_logs(tmp_path, 0)[-5000:]  # its next all-reduce finds the peer gone
        assert not (exp / 'training_states' / f'{NODE_TOTAL_ITER}.state').exists()  # killed in the middle of the run
        assert not list(tmp_path.glob('weights_rank*.pth'))  # and no rank got to the end

        port = free_port()
        nodes = [start_node(tmp_path, node, port, '--auto_resume') for node in (0, 1)]
        for node in nodes:
            assert node.wait(300) == 0, node_logs(tmp_path, 1)[-5000:]
    finally:
        for node in nodes:
            if node.poll() is None:
                kill_node(node)
                node.wait()

    logs = node_logs(tmp_path, 1)
    resumed = [int(i) for i in re.findall(r'Resuming training from epoch: \d+, iter: (\d+)\.', logs)]
    assert len(resumed) == 1, logs[-5000:]  # rank 0's line
    assert resumed[0] % NODE_SAVE_FREQ == 0 and NODE_SAVE_FREQ <= resumed[0] < NODE_TOTAL_ITER
    w0, w1 = torch.load(tmp_path / 'weights_rank0.pth'), torch.load(tmp_path / 'weights_rank1.pth')
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    for rank in (0, 1):  # one batch of 2 per epoch and rank (4 images over 2 ranks); validation batches hold 1
        batches = [x for x in torch.load(tmp_path / f'batches_rank{rank}.pth') if x.shape[0] == 2]
        assert len(batches) == NODE_TOTAL_ITER - resumed[0]
    latest = torch.load(exp / 'models' / 'net_g_latest.pth')['params']
    assert all(torch.equal(latest[k], w0[k]) for k in w0)
    assert (exp / 'training_states' / f'{NODE_TOTAL_ITER}.state').is_file()
    assert os.listdir(tmp_path / 'experiments') == [exp.name]  # resumed in place: nothing archived
    assert 'Validation Set12_sigma10' in logs


def test_slurm_launcher_falls_back_to_gloo_on_cpu(tmp_path, monkeypatch):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'scontrol').write_text('#!/bin/sh\necho 127.0.0.1\n')  # stands in for slurm's hostname lookup
    (bin_dir / 'scontrol').chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    for key, value in dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_NODELIST='node1', MASTER_ADDR='',
                           MASTER_PORT='', WORLD_SIZE='', LOCAL_RANK='', RANK='').items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    try:
        init_dist('slurm', backend='nccl', port=free_port())  # as BasicSR calls it with dist_params
        assert dist.get_backend() == 'gloo' and dist.get_world_size() == 1
        assert os.environ['MASTER_ADDR'] == '127.0.0.1'
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.parametrize('argv, expected', [
    (['t.py', '--local-rank=1', '-opt', 'x.yml'], ['t.py', '--local_rank=1', '-opt', 'x.yml']),
    (['t.py', '--local-rank', '0'], ['t.py', '--local_rank', '0']),
    (['t.py', '--local_rank=0', '--launcher', 'pytorch'], ['t.py', '--local_rank=0', '--launcher', 'pytorch']),
])
def test_local_rank_argument_of_torch_distributed_launch_is_translated(argv, expected):
    assert translate_local_rank(argv) == expected


def test_sync_bn_converts_only_plain_batchnorm():
    net = build_network({'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}})
    bias_free = build_network({'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4, 'bias_free': True})
    both = nn.Sequential(net, bias_free)
    DenoisingModel.sync_batchnorm(both)
    kinds = [type(m) for m in both.modules()]
    assert kinds.count(nn.SyncBatchNorm) == 2 and nn.BatchNorm2d not in kinds
    assert kinds.count(BiasFreeBatchNorm2d) == 2  # bias-free BN is never turned into an ordinary (Sync)BN


def test_sync_bn_on_cpu_is_refused_clearly():
    fake = types.SimpleNamespace(opt={'dist': True, 'sync_bn': True, 'num_gpu': 0}, device=torch.device('cpu'),
                                 channels_last=False, compile_spec=None)
    with pytest.raises(ValueError, match='sync_bn: true needs CUDA'):
        DenoisingModel.model_to_device(fake, nn.BatchNorm2d(4))
