"""The arguments of a backbone, read off the shapes and names of its reference weights (DnCNN, FDnCNN, SwinIR,
Restormer), for the checkpoint converter."""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from torch import Tensor

FDNCNN_MODES = ('ordinary', 'scale_equiv', 'norm_equiv')
# The official Restormer layout (wrapper modules named proj/body) → ours.
RESTORMER_RENAMES = ((re.compile(r'^patch_embed\.proj\.'), 'patch_embed.'),
                     (re.compile(r'^((?:down|up)\d_\d)\.body\.'), r'\1.'),
                     (re.compile(r'\.(norm[12])\.body\.'), r'.\1.'))
SEQUENTIAL_KEY = re.compile(r'^\d+\.')


class CheckpointError(ValueError):
    """A checkpoint that cannot be converted or does not fit the target network."""


def examples(keys: Iterable[str], limit: int = 5) -> str:
    """The first ``limit`` of the sorted keys, and how many more there are."""
    keys = sorted(keys)
    more = f', … ({len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    """How many distinct integers ``{i}`` complete ``pattern`` (a regex with one group) over the keys."""
    regex = re.compile(pattern)
    return len({m.group(1) for k in state if (m := regex.fullmatch(k))})


def _require(state: Mapping[str, Tensor], key: str, arch: str) -> Tensor:
    """``state[key]``, or a CheckpointError that shows what the keys look like instead."""
    if key not in state:
        hint = ''
        if state and all(SEQUENTIAL_KEY.match(k) for k in state):
            hint = (' (they are numbered nn.Sequential entries, as in KAIR/DPIR\'s "model.N" layout, which is not '
                    f'the layout of our {arch})')
        raise CheckpointError(f'{arch}: the checkpoint has no {key!r}; keys look like {examples(state, 3)}{hint}')
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
    num_layers = _count(state, r'fdncnn\.(\d+)\.weight')
    last = state.get(f'fdncnn.{2 * (num_layers - 1)}.weight')
    if last is not None and last.shape[0] + 1 == first.shape[1]:
        raise CheckpointError(f'FDnCNN: the first conv takes {first.shape[1]} channels and the last gives '
                              f'{last.shape[0]}: a non-blind FDnCNN (noise-level map as an extra input); only blind '
                              'FDnCNNs are supported')
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
    return {'type': 'FDnCNN', 'num_in_ch': first.shape[1], 'num_feat': first.shape[0], 'num_layers': num_layers,
            'mode': mode}


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


def restormer_key(key: str) -> str:
    """A key of the official Restormer layout (``patch_embed.proj``, ``body`` sub-modules) in ours; others unchanged."""
    for pattern, replacement in RESTORMER_RENAMES:
        key = pattern.sub(replacement, key)
    return key


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
