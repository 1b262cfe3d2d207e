"""Convert the paper's reference checkpoints into BasicSR checkpoints for our wrappers or backbones (METHOD.md §1.5).

A reference checkpoint is ``{"model_state": state_dict}`` or a bare state dict of a wrapper-free backbone, its keys
prefixed ``model.``. The converted checkpoint is ``{"params": state_dict}`` with the backbone under ``backbone.`` for a
wrapper, and loads with strict loading. The backbone's arguments are read off the weights.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
from basicsr.archs import build_network
from torch import Tensor, nn

WRAPPERS = ('WNE', 'WNEInput', 'ScaleEquivariant', 'none')
FDNCNN_MODES = ('ordinary', 'scale_equiv', 'norm_equiv')
# Buffers that are a pure function of the architecture: filled from the built network when a reference lacks them.
DERIVED_BUFFERS = ('num_batches_tracked', 'relative_position_index', 'attn_mask')
# The official Restormer layout (wrapper modules named proj/body) → ours.
RESTORMER_RENAMES = ((re.compile(r'^patch_embed\.proj\.'), 'patch_embed.'),
                     (re.compile(r'^((?:down|up)\d_\d)\.body\.'), r'\1.'),
                     (re.compile(r'\.(norm[12])\.body\.'), r'.\1.'))


class CheckpointError(ValueError):
    """A checkpoint that cannot be converted or does not fit the target network."""


def _examples(keys, limit: int = 5) -> str:
    keys = sorted(keys)
    more = f', … ({len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def reference_state_dict(checkpoint: Mapping) -> dict[str, Tensor]:
    """The backbone state dict of a reference checkpoint, with ``module.`` and ``model.`` prefixes removed."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f'expected {{"model_state": state_dict}} or a state dict, got {type(checkpoint)}')
    if 'params' in checkpoint or 'params_ema' in checkpoint:
        raise CheckpointError('this is already a BasicSR checkpoint (it has a "params" key); no conversion needed')
    state = checkpoint.get('model_state', checkpoint)
    not_tensors = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise CheckpointError(f'not a state dict: non-tensor entries {_examples(not_tensors)} (a full training '
                              f'checkpoint keeps its weights under "model_state")')
    out = {}
    for key, value in state.items():
        name = key.removeprefix('module.').removeprefix('model.')
        if name in out:
            raise CheckpointError(f'two entries map to {name!r} once the "model." prefix is removed')
        out[name] = value
    return out


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    """How many distinct integers ``{i}`` complete ``pattern`` (a regex with one group) over the keys."""
    regex = re.compile(pattern)
    return len({m.group(1) for k in state if (m := regex.fullmatch(k))})


def _require(state: Mapping[str, Tensor], key: str, arch: str) -> Tensor:
    if key not in state:
        raise CheckpointError(f'{arch}: the checkpoint has no {key!r}; keys look like {_examples(state, 3)}')
    return state[key]


def dncnn_options(state: Mapping[str, Tensor], mode: str | None) -> dict:
    """DnCNN arguments: channels and depth from the shapes, bias-free when the convs have no bias."""
    first = _require(state, 'first_layer.weight', 'DnCNN')
    bias_free = 'first_layer.bias' not in state
    if mode not in (None, 'ordinary', 'scale_equiv'):
        raise CheckpointError(f'DnCNN: mode must be ordinary or scale_equiv, got {mode!r}')
    if mode is not None and (mode == 'scale_equiv') != bias_free:
        raise CheckpointError(f'DnCNN: mode {mode} contradicts the weights (convs '
                              f'{"without" if bias_free else "with"} biases)')
    return {'type': 'DnCNN', 'num_in_ch': first.shape[1], 'num_feat': first.shape[0],
            'num_layers': _count(state, r'hidden_layer_list\.(\d+)\.weight') + 2, 'bias_free': bias_free}


def fdncnn_options(state: Mapping[str, Tensor], mode: str | None) -> dict:
    """FDnCNN arguments: biases mean ``ordinary``; bias-free weights need ``mode`` (scale_equiv or norm_equiv)."""
    first = _require(state, 'fdncnn.0.weight', 'FDnCNN')
    has_bias = 'fdncnn.0.bias' in state
    if mode is None:
        if not has_bias:
            raise CheckpointError('FDnCNN: bias-free weights fit both scale_equiv and norm_equiv; pass the mode '
                                  '(--mode scale_equiv or --mode norm_equiv)')
        mode = 'ordinary'
    if mode not in FDNCNN_MODES:
        raise CheckpointError(f'FDnCNN: mode must be one of {FDNCNN_MODES}, got {mode!r}')
    if (mode == 'ordinary') != has_bias:
        raise CheckpointError(f'FDnCNN: mode {mode} contradicts the weights (convs {"with" if has_bias else "without"} '
                              'biases)')
    return {'type': 'FDnCNN', 'num_in_ch': first.shape[1], 'num_feat': first.shape[0],
            'num_layers': _count(state, r'fdncnn\.(\d+)\.weight'), 'mode': mode}


def swinir_options(state: Mapping[str, Tensor], arch: str) -> dict:
    """SwinIR arguments (denoising head, upscale 1): sizes, depths, heads, window and img_size from the weights."""
    first = _require(state, 'conv_first.weight', arch)
    if any(k.startswith(('upsample.', 'conv_before_upsample.', 'conv_up1.')) for k in state):
        raise CheckpointError(f'{arch}: the checkpoint has an upsampler; only the denoising head (upsampler "") '
                              'is supported')
    embed_dim = first.shape[0]
    depths = [_count(state, rf'layers\.{i}\.residual_group\.blocks\.(\d+)\.norm1\.weight')
              for i in range(_count(state, r'layers\.(\d+)\.residual_group\.blocks\.0\.norm1\.weight'))]
    block = 'layers.{}.residual_group.blocks.{}.'
    table = _require(state, block.format(0, 0) + 'attn.relative_position_bias_table', arch)
    window = (math.isqrt(table.shape[0]) + 1) // 2
    mask = state.get(block.format(0, 1) + 'attn_mask')
    img_size = math.isqrt(mask.shape[0]) * window if mask is not None else 64
    return {'type': arch, 'upscale': 1, 'in_chans': first.shape[1], 'img_size': img_size, 'window_size': window,
            'img_range': 1.0, 'depths': depths, 'embed_dim': embed_dim,
            'num_heads': [state[block.format(i, 0) + 'attn.relative_position_bias_table'].shape[1]
                          for i in range(len(depths))],
            'mlp_ratio': state[block.format(0, 0) + 'mlp.fc1.weight'].shape[0] / embed_dim,
            'qkv_bias': block.format(0, 0) + 'attn.qkv.bias' in state, 'ape': 'absolute_pos_embed' in state,
            'patch_norm': 'patch_embed.norm.weight' in state, 'upsampler': '',
            'resi_connection': '1conv' if 'conv_after_body.weight' in state else '3conv'}


def restormer_options(state: Mapping[str, Tensor]) -> dict:
    """Restormer arguments: channels, widths, block counts, heads, FFN factor, bias and LayerNorm type."""
    embed = _require(state, 'patch_embed.weight', 'Restormer')
    dim = embed.shape[0]
    stages = ('encoder_level1', 'encoder_level2', 'encoder_level3', 'latent')
    hidden = [_require(state, f'{s}.0.ffn.project_out.weight', 'Restormer').shape[1] for s in stages]
    widths = [dim * 2 ** i for i in range(4)]
    factor = 2.66 if all(int(w * 2.66) == h for w, h in zip(widths, hidden)) else (hidden[-1] + 0.5) / widths[-1]
    out_channels = _require(state, 'output.weight', 'Restormer').shape[0]
    return {'type': 'Restormer', 'inp_channels': embed.shape[1], 'out_channels': out_channels,
            'dim': dim, 'num_blocks': [_count(state, rf'{s}\.(\d+)\.norm1\.weight') for s in stages],
            'num_refinement_blocks': _count(state, r'refinement\.(\d+)\.norm1\.weight'),
            'heads': [state[f'{s}.0.attn.temperature'].shape[0] for s in stages], 'ffn_expansion_factor': factor,
            'bias': 'patch_embed.bias' in state,
            'LayerNorm_type': 'WithBias' if 'encoder_level1.0.norm1.bias' in state else 'BiasFree'}


def rename_restormer(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Keys of the official Restormer layout (``patch_embed.proj``, ``body`` sub-modules) in ours; others unchanged."""
    out = {}
    for key, value in state.items():
        for pattern, replacement in RESTORMER_RENAMES:
            key = pattern.sub(replacement, key)
        out[key] = value
    return out


def backbone_options(arch: str, state: Mapping[str, Tensor], mode: str | None = None) -> dict:
    """``network_g`` arguments of a backbone read off its state dict (the arch's defaults for other archs)."""
    if arch in ('DnCNN', 'FDnCNN'):
        mode = mode.replace('-', '_') if mode else None
        return dncnn_options(state, mode) if arch == 'DnCNN' else fdncnn_options(state, mode)
    if mode is not None:
        raise CheckpointError(f'a mode applies to DnCNN and FDnCNN only, not to {arch}')
    if arch in ('SwinIR', 'SwinIRDenoiser'):
        return swinir_options(state, arch)
    if arch == 'Restormer':
        return restormer_options(state)
    return {'type': arch}


def check_fits(net: nn.Module, params: Mapping[str, Tensor], what: str) -> None:
    """Raise CheckpointError listing missing keys, unexpected keys and shape mismatches of ``params`` for ``net``."""
    expected = net.state_dict()
    missing = set(expected) - set(params)
    unexpected = set(params) - set(expected)
    shapes = [f'{k} {tuple(params[k].shape)} vs {tuple(expected[k].shape)}' for k in sorted(set(expected) & set(params))
              if params[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing key(s): {_examples(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): {_examples(unexpected)}')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatch(es) (checkpoint vs model): {"; ".join(shapes[:5])}')
    if problems:
        raise CheckpointError(f'the checkpoint does not fit {what}: ' + '; '.join(problems))


def convert_state_dict(checkpoint: Mapping, arch: str, wrapper: str = 'WNE',
                       mode: str | None = None) -> tuple[dict[str, Tensor], dict]:
    """Reference checkpoint → (BasicSR ``params`` for ``wrapper`` around ``arch``, that network's ``network_g``)."""
    if wrapper not in WRAPPERS:
        raise CheckpointError(f'wrapper must be one of {WRAPPERS}, got {wrapper!r}')
    state = reference_state_dict(checkpoint)
    if arch == 'Restormer':
        state = rename_restormer(state)
    backbone = backbone_options(arch, state, mode)
    network = backbone if wrapper == 'none' else {'type': wrapper, 'backbone': backbone}
    prefix = '' if wrapper == 'none' else 'backbone.'
    try:
        net = build_network(dict(network))
    except (KeyError, TypeError, ValueError, AssertionError) as err:
        raise CheckpointError(f'cannot build {network} from the checkpoint: {err}') from err
    params = {prefix + k: v for k, v in state.items()}
    own = net.state_dict()
    for key in set(own) - set(params):
        if key.rsplit('.', 1)[-1] in DERIVED_BUFFERS:
            params[key] = own[key]
    check_fits(net, params, f'{network["type"]}' + ('' if wrapper == 'none' else f'({arch})'))
    net.load_state_dict(params, strict=True)
    return params, network


def load_checkpoint_file(path: str, trusted: bool = False) -> Mapping:
    """``torch.load`` on the CPU; tensors and plain containers only unless ``trusted`` (arbitrary pickles)."""
    try:
        return torch.load(path, map_location='cpu', weights_only=not trusted)
    except Exception as err:
        if trusted:
            raise
        raise CheckpointError(f'{path}: cannot load it with weights_only=True ({err}). If you trust the file, allow '
                              'arbitrary pickled objects (--trusted).') from err


def convert_checkpoint(src: str, dst: str, arch: str, wrapper: str = 'WNE', mode: str | None = None,
                       trusted: bool = False) -> dict:
    """Convert the reference checkpoint ``src`` into the BasicSR checkpoint ``dst``; return its ``network_g``."""
    params, network = convert_state_dict(load_checkpoint_file(src, trusted), arch, wrapper, mode)
    torch.save({'params': params}, dst)
    return network
