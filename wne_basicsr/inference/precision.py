"""Precision, memory format and compilation of a network: options ``train.amp``, ``inference_dtype``,
``allow_tf32``, ``channels_last`` and ``compile``.

Wrappers keep their statistics, de-normalization and output in float32 under any autocast dtype, and only their backbone
is compiled, so exactness does not depend on these options (docs/method.md §1.2).
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from wne_basicsr.errors import OptionError

DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
PRECISIONS = (*DTYPES, 'auto')
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs')


def fast_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` does bfloat16 math natively: a CUDA GPU with bf16, or a CPU with AMX tiles or AVX512-BF16."""
    device = torch.device(device)
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported()
    return device.type == 'cpu' and (torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def precision_dtype(name: str | None, option: str, device: torch.device | str = 'cpu') -> torch.dtype | None:
    """Autocast dtype of a precision option: fp32 (the default; no autocast), bf16, fp16, or auto (bf16 where the
    device computes it natively, else fp32). A dtype the device's autocast cannot run is refused here."""
    name = name or 'fp32'
    if name not in PRECISIONS:
        raise OptionError(f'{option} must be one of {list(PRECISIONS)}, got {name!r}')
    if name == 'auto':
        return torch.bfloat16 if fast_bf16(device) else None
    dtype, device_type = DTYPES[name], torch.device(device).type
    if dtype is not None:
        try:
            torch.autocast(device_type, dtype=dtype)
        except (RuntimeError, ValueError) as err:  # an older torch: no fp16 autocast on the CPU
            raise OptionError(f'{option}: {name} cannot run here (torch {torch.__version__} has no {device_type} '
                              f'autocast in {name}: {err}); use bf16 or fp32') from err
    return dtype


def dtype_name(dtype: torch.dtype | None) -> str:
    """The option name of an autocast dtype (None → fp32)."""
    return next(name for name, value in DTYPES.items() if value == dtype)


@contextmanager
def autocast(device: torch.device | str, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.autocast`` of ``device``'s type in ``dtype``; nothing when ``dtype`` is None (fp32)."""
    with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
        yield


@dataclass(frozen=True)
class CompileSpec:
    """Arguments of ``torch.compile`` for option ``compile: true`` or ``compile: {mode, dynamic}``."""

    mode: str = 'default'
    dynamic: bool | None = None

    @classmethod
    def from_opt(cls, value: object, option: str = 'compile') -> CompileSpec | None:
        """None for ``false``/absent, the defaults for ``true``, else the checked mapping."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if not isinstance(value, dict) or set(value) - {'mode', 'dynamic'}:
            raise OptionError(f'{option} must be true, false or {{mode: <torch.compile mode>, dynamic: true|false}}, '
                              f'got {value!r}')
        mode, dynamic = value.get('mode', 'default'), value.get('dynamic')
        if mode not in COMPILE_MODES:
            raise OptionError(f'{option}.mode must be one of {list(COMPILE_MODES)}, got {mode!r}')
        if dynamic is not None and not isinstance(dynamic, bool):
            raise OptionError(f'{option}.dynamic must be true, false or ~, got {dynamic!r}')
        return cls(mode, dynamic)


def compile_unavailable(device: torch.device | str) -> str | None:
    """Why ``torch.compile`` cannot run on ``device`` here, or None when it can."""
    import torch._dynamo  # noqa: PLC0415  (loaded on demand: importing it costs a second)

    if not torch._dynamo.is_dynamo_supported():
        return 'torch.compile is not supported by this Python/torch build'
    if torch.device(device).type == 'cpu' and not any(shutil.which(c) for c in ('g++', 'c++', 'clang++')):
        return 'torch.compile on the CPU needs a C++ compiler (g++ or clang++) on the PATH'
    return None


def compile_target(net: nn.Module) -> nn.Module:
    """The module to compile: a wrapper's backbone (its float32 statistics stay eager), else the network."""
    backbone = getattr(net, 'backbone', None)
    return backbone if getattr(net, 'pads_internally', False) and isinstance(backbone, nn.Module) else net


def prepare_network(net: nn.Module, channels_last: bool = False, compile_spec: CompileSpec | None = None,
                    device: torch.device | str = 'cpu') -> nn.Module:
    """``net`` in channels-last memory format and/or with its backbone compiled, in place; its state-dict keys and
    the checkpoints it writes do not change."""
    if channels_last:
        net.to(memory_format=torch.channels_last)
    if compile_spec is not None:
        reason = compile_unavailable(device)
        if reason:
            raise OptionError(f'compile: {reason}; remove the compile option (or set compile: false)')
        compile_target(net).compile(mode=compile_spec.mode, dynamic=compile_spec.dynamic)
    return net


def batch_format(x: Tensor, channels_last: bool) -> Tensor:
    """A B×C×H×W batch in channels-last memory format when asked (other tensors as they are)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


@contextmanager
def compile_errors_explained() -> Iterator[None]:
    """Re-raise a failure inside torch.compile's machinery with how to run without it."""
    try:
        yield
    except Exception as err:
        if not type(err).__module__.startswith(('torch._dynamo', 'torch._inductor')):
            raise
        raise RuntimeError(f'torch.compile failed on this host ({type(err).__name__}: {str(err).splitlines()[0]}); '
                           'remove the compile option (or set compile: false) to run without it') from err


def tf32_option(value: object) -> bool:
    """The ``allow_tf32`` option: false (the default: float32 means float32) or true."""
    if value is not None and not isinstance(value, bool):
        raise OptionError(f'allow_tf32 must be true or false, got {value!r}')
    return bool(value)


def set_tf32(allow: bool, device: torch.device | str) -> None:
    """On CUDA, let float32 matmuls and cuDNN convolutions round their inputs to TF32 or not (a process-wide setting;
    PyTorch's default allows it for convolutions); other devices have no TF32 and are left alone."""
    if torch.device(device).type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow


@contextmanager
def tf32_disabled() -> Iterator[None]:
    """Turn TF32 off for CUDA matmuls and cuDNN convolutions; the previous settings are restored on exit."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
