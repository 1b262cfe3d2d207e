"""Options train.amp / inference_dtype / channels_last / compile: parsing, auto precision, what gets compiled, and
clear messages where compilation cannot run."""
import pytest
import torch
from torch import nn

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network
from basicsr.models import build_model

from wne_basicsr.errors import OptionError
from wne_basicsr.inference import precision
from wne_basicsr.inference.precision import (
    CompileSpec,
    batch_format,
    compile_errors_explained,
    compile_target,
    precision_dtype,
    prepare_network,
    set_tf32,
    tf32_option,
)
from wne_basicsr.models import denoising_model


@pytest.mark.parametrize('amx, avx512_bf16, expected', [(True, False, torch.bfloat16), (False, True, torch.bfloat16),
                                                        (False, False, None)])
def test_auto_is_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: amx)
    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: avx512_bf16)
    assert precision_dtype('auto', 'train.amp', 'cpu') == expected
    assert precision_dtype('fp16', 'train.amp') == torch.float16 and precision_dtype(None, 'train.amp') is None


@pytest.mark.parametrize('value, expected', [(None, None), (False, None), (True, CompileSpec()),
                                             ({'mode': 'max-autotune', 'dynamic': True}, CompileSpec('max-autotune',
                                                                                                     True))])
def test_compile_option(value, expected):
    assert CompileSpec.from_opt(value) == expected


@pytest.mark.parametrize('value, message', [('yes', 'compile must be true, false or'),
                                            ({'mode': 'default', 'fullgraph': True}, 'compile must be'),
                                            ({'dynamic': 'sometimes'}, 'compile.dynamic must be true, false or ~')])
def test_bad_compile_options_are_named(value, message):
    with pytest.raises(ValueError, match=message):
        CompileSpec.from_opt(value)


def test_only_a_wrappers_backbone_is_compiled():
    wne = build_network({'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 4, 'num_layers': 2}})
    assert compile_target(wne) is wne.backbone
    bare = build_network({'type': 'DnCNN', 'num_feat': 4, 'num_layers': 2})
    assert compile_target(bare) is bare
    keys = set(wne.state_dict())
    prepare_network(wne, channels_last=True, compile_spec=CompileSpec())
    assert set(wne.state_dict()) == keys and wne.backbone._compiled_call_impl is not None
    assert wne._compiled_call_impl is None  # the float32 statistics and de-normalization stay eager


def test_a_host_without_a_compiler_is_told_how_to_run_without_compile(monkeypatch):
    monkeypatch.setattr(precision.shutil, 'which', lambda name: None)
    message = r'compile: torch.compile on the CPU needs a C\+\+ compiler .*compile: false'
    with pytest.raises(OptionError, match=message):  # the option cannot work here: one line at start-up
        prepare_network(nn.Conv2d(1, 1, 3), compile_spec=CompileSpec(), device='cpu')


def test_a_failure_inside_the_compiler_is_explained():
    class Failure(Exception):
        pass

    Failure.__module__ = 'torch._inductor.exc'
    with pytest.raises(RuntimeError, match=r'torch.compile failed on this host \(Failure: no cc\).*compile: false'):
        with compile_errors_explained():
            raise Failure('no cc')
    with pytest.raises(KeyError):  # other errors pass through unchanged
        with compile_errors_explained():
            raise KeyError('x')


def test_batches_go_channels_last_only_when_asked():
    x = torch.rand(2, 3, 8, 8)
    assert batch_format(x, True).is_contiguous(memory_format=torch.channels_last)
    assert batch_format(x, False) is x and batch_format(torch.rand(3, 8), True).dim() == 2


def test_a_dtype_the_device_cannot_autocast_is_refused(monkeypatch):
    def refuse(device_type, dtype=None, **kwargs):
        raise RuntimeError(f'{device_type} autocast does not support {dtype}')

    monkeypatch.setattr(torch, 'autocast', refuse)
    with pytest.raises(ValueError, match=r'train.amp: fp16 cannot run here .*; use bf16 or fp32'):
        precision_dtype('fp16', 'train.amp', 'cpu')
    assert precision_dtype('fp32', 'train.amp', 'cpu') is None


@pytest.fixture
def tf32_flags():
    """Restore the process-wide TF32 flags after the test."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize('allow', [False, True])
def test_tf32_follows_allow_tf32_on_cuda_and_is_left_alone_elsewhere(tf32_flags, allow):
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not allow
    set_tf32(allow, 'cpu')
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (not allow, not allow)
    set_tf32(allow, torch.device('cuda'))  # sets flags only: no CUDA device is needed
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (allow, allow)


@pytest.mark.parametrize('value, expected', [(None, False), (False, False), (True, True)])
def test_allow_tf32_option(value, expected):
    assert tf32_option(value) is expected


@pytest.mark.parametrize('value', ['yes', 1, 'true'])
def test_a_non_boolean_allow_tf32_is_named(value):
    with pytest.raises(ValueError, match=f'^allow_tf32 must be true or false, got {value!r}$'):
        tf32_option(value)


def tf32_model_options(**top) -> dict:
    return {'name': 'toy', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': False,
            'dist': False, 'rank': 0, 'world_size': 1, 'datasets': {}, 'path': {'pretrain_network_g': None},
            'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 4, 'num_layers': 2}}, **top}


def test_the_model_applies_allow_tf32_for_its_device(monkeypatch, tf32_flags):
    calls = []
    monkeypatch.setattr(denoising_model, 'set_tf32', lambda allow, device: calls.append((allow, device.type)))
    build_model(tf32_model_options())
    build_model(tf32_model_options(allow_tf32=True))
    assert calls == [(False, 'cpu'), (True, 'cpu')]  # the parsed option and the model's device
    with pytest.raises(ValueError, match="allow_tf32 must be true or false, got 'on'"):
        build_model(tf32_model_options(allow_tf32='on'))
