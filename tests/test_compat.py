"""Each compat patch: the failure it prevents does not happen, and it is not applied where that failure cannot
happen."""
import os
import socket
import subprocess
import sys

import torch

import wne_basicsr  # noqa: F401

# isort: split
import basicsr.utils.dist_util

from wne_basicsr import compat
from wne_basicsr.resume import load_resume_state


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_basicsr_imports_on_current_torchvision():
    # Without the functional_tensor alias, basicsr.data.degradations fails to import.
    result = run_python('import wne_basicsr; import basicsr.data.degradations as d; print(d.rgb_to_grayscale)')
    assert result.returncode == 0, result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_pytorch_launcher_initializes_gloo_without_gpus():
    # Without the patch, init_dist('pytorch') divides by torch.cuda.device_count() == 0.
    code = ('import wne_basicsr, torch.distributed as dist; from basicsr.utils.dist_util import init_dist; '
            'init_dist("pytorch"); print(dist.get_backend(), dist.get_world_size())')
    result = run_python(code, RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                        MASTER_PORT=str(free_port()), CUDA_VISIBLE_DEVICES='')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['gloo', '1']


def make_opt(tmp_path, auto_resume: bool) -> dict:
    states = tmp_path / 'training_states'
    states.mkdir(exist_ok=True)
    return {'name': 'x', 'auto_resume': auto_resume, 'num_gpu': 0, 'network_g': {'type': 'DnCNN'},
            'path': {'training_states': str(states), 'models': str(tmp_path / 'models')}}


def test_auto_resume_loads_newest_complete_state_on_cpu(tmp_path):
    # BasicSR's load_resume_state looks states up relative to the CWD and maps them onto CUDA; ours is used instead.
    opt = make_opt(tmp_path, auto_resume=True)
    for it in (2, 10):
        torch.save({'iter': it, 'epoch': 0, 'optimizers': [], 'schedulers': [], 'w': torch.ones(2)},
                   tmp_path / 'training_states' / f'{it}.state')
    (tmp_path / 'training_states' / '12.state').write_bytes(b'truncated by a crash')
    state = load_resume_state(opt)
    assert state['iter'] == 10 and state['w'].device.type == 'cpu'
    assert opt['path']['resume_state'].endswith('10.state')
    assert opt['path']['pretrain_network_g'].endswith('net_g_10.pth')


def test_no_state_means_fresh_start(tmp_path):
    assert load_resume_state(make_opt(tmp_path, auto_resume=True)) is None


def test_functional_tensor_alias_is_left_alone_where_torchvision_has_the_module(monkeypatch):
    existing = type(sys)('torchvision.transforms.functional_tensor')
    monkeypatch.setitem(sys.modules, 'torchvision.transforms.functional_tensor', existing)
    assert compat._alias_functional_tensor() is False
    assert sys.modules['torchvision.transforms.functional_tensor'] is existing


def test_dist_patch_only_on_hosts_without_gpus(monkeypatch):
    original = object()
    monkeypatch.setattr(basicsr.utils.dist_util, '_init_dist_pytorch', original)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert compat._patch_cpu_only_dist() is False
    assert basicsr.utils.dist_util._init_dist_pytorch is original  # GPU hosts keep BasicSR's device selection
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert compat._patch_cpu_only_dist() is True
    assert basicsr.utils.dist_util._init_dist_pytorch is compat._init_dist_pytorch


def test_import_has_no_process_wide_side_effects():
    code = ('import os, wne_basicsr; from basicsr.utils.registry import Registry; '
            'print(os.environ.get("THP_MEM_ALLOC_ENABLE"), getattr(Registry.get, "explains_unregistered", False))')
    env = {k: v for k, v in os.environ.items() if k != 'THP_MEM_ALLOC_ENABLE'}
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120, env=env)
    assert result.stdout.split() == ['None', 'False'], result.stderr


def test_metrics_import_neither_models_nor_matplotlib():
    code = ('import sys, wne_basicsr.metrics; '
            'print(sorted(m for m in sys.modules if m.startswith(("wne_basicsr.models", "matplotlib"))))')
    result = run_python(code)
    assert result.stdout.strip() == '[]', result.stdout + result.stderr


def test_swinir_builds_without_the_meshgrid_warning_and_with_ij_indexing(recwarn):
    from basicsr.archs.swinir_arch import WindowAttention

    attention = WindowAttention(dim=8, window_size=(3, 4), num_heads=2)
    assert not [w for w in recwarn if 'meshgrid' in str(w.message)]
    # the relative position index of window (3, 4) with 'ij' indexing: rows vary slowest
    coords = torch.stack(torch.meshgrid(torch.arange(3), torch.arange(4), indexing='ij')).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + torch.tensor([2, 3])
    assert torch.equal(attention.relative_position_index, relative[..., 0] * 7 + relative[..., 1])
