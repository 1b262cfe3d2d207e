"""Convert the paper's reference checkpoints into BasicSR ones for our wrappers or backbones (docs/method.md §1.5).

A reference checkpoint is ``{"model_state": state_dict}`` or a bare state dict of a wrapper-free backbone, keys
prefixed ``model.``; Mohan et al.'s ``{"model": [state_dict], ...}`` and official Restormer ``{"params": ...}`` files
are read too. The result is ``{"params": state_dict}`` (the backbone under ``backbone.`` for a wrapper) that loads
strictly; the backbone's arguments are read off the weights, and every key filled in or dropped is reported.
"""
from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from basicsr.archs import build_network
from torch import Tensor, nn

from wne_basicsr.archs.affine_layers import BiasFreeBatchNorm2d
from wne_basicsr.utils.arch_from_weights import CheckpointError, backbone_options, examples, restormer_key

WRAPPERS = ('WNE', 'WNEInput', 'ScaleEquivariant', 'none')
# Buffers that are a pure function of the architecture (or, for the batch counter, never read in eval): filled from
# the built network when a reference lacks them.
DERIVED_BUFFERS = {
    'num_batches_tracked': 'BatchNorm batch counter, never read in eval mode; set to 0',
    'relative_position_index': 'a function of the window size; computed',
    'attn_mask': 'a function of img_size, window and shift; computed',
}
# Entries of a full BatchNorm2d that a bias-free BN (Mohan et al. 2020) never reads in its forward.
BIAS_FREE_BN_UNUSED = ('bias', 'running_mean', 'num_batches_tracked')


@dataclass(frozen=True)
class Conversion:
    """BasicSR ``params``, their ``network_g``, where the weights were found, and the keys filled in or dropped (→ why).

    ``filled`` names keys of ``params``; ``dropped`` names keys as the reference checkpoint spells them.
    """

    params: dict[str, Tensor]
    network: dict
    source: str
    filled: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    renamed: int = 0


def _official_restormer(state: Mapping) -> bool:
    """Whether the keys use the official Restormer layout (``patch_embed.proj``)."""
    return any(k.removeprefix('module.').removeprefix('model.').startswith('patch_embed.proj.') for k in state)


def _container(checkpoint: Mapping, arch: str) -> tuple[Mapping, str]:
    """The state dict inside a checkpoint for ``arch``, and where it was found."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f'expected {{"model_state": state_dict}} or a state dict, got {type(checkpoint)}')
    if 'model_state' in checkpoint:
        return checkpoint['model_state'], '"model_state"'
    model = checkpoint.get('model')
    if isinstance(model, (list, tuple)):
        if len(model) != 1 or not isinstance(model[0], Mapping):
            raise CheckpointError(f'"model" holds {len(model)} entries; expected one state dict (as in Mohan et '
                                  'al.\'s training checkpoints)')
        return model[0], '"model"[0]'
    if isinstance(model, Mapping):
        return model, '"model"'
    if 'params' in checkpoint or 'params_ema' in checkpoint:
        params = checkpoint.get('params')
        if arch == 'Restormer' and isinstance(params, Mapping) and _official_restormer(params):
            return params, '"params" (official Restormer layout)'
        raise CheckpointError('this is already a BasicSR checkpoint (it has a "params" key); no conversion needed')
    return checkpoint, 'the top level of the file'


def _strip(state: Mapping) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors keyed without ``module.``/``model.`` prefixes, and each new key's name in the checkpoint."""
    not_tensors = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise CheckpointError(f'not a state dict: non-tensor entries {examples(not_tensors)} (a full training '
                              f'checkpoint keeps its weights under "model_state")')
    out, origin = {}, {}
    for key, value in state.items():
        name = key.removeprefix('module.').removeprefix('model.')
        if name in out:
            raise CheckpointError(f'two entries, {origin[name]!r} and {key!r}, map to {name!r} once the "model." '
                                  'prefix is removed')
        out[name], origin[name] = value, key
    return out, origin


def check_fits(net: nn.Module, params: Mapping[str, Tensor], what: str) -> None:
    """Raise CheckpointError listing missing keys, unexpected keys and shape mismatches of ``params`` for ``net``."""
    expected = net.state_dict()
    missing = set(expected) - set(params)
    unexpected = set(params) - set(expected)
    shapes = [f'{k} {tuple(params[k].shape)} vs {tuple(expected[k].shape)}' for k in sorted(set(expected) & set(params))
              if params[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing key(s): {examples(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): {examples(unexpected)}')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatch(es) (checkpoint vs model): {"; ".join(shapes[:5])}')
    if problems:
        raise CheckpointError(f'the checkpoint does not fit {what}: ' + '; '.join(problems))


def drop_unused_bias_free_bn(net: nn.Module, params: dict[str, Tensor], origin: Mapping[str, str]) -> dict[str, str]:
    """Remove the BatchNorm2d entries that ``net``'s bias-free BNs never read, once shown inert; return them (→ why).

    A non-zero ``bias`` or ``running_mean`` means the layer ran as an ordinary BN: that checkpoint is refused.
    """
    # Mohan et al.'s bias-free BN is a BatchNorm2d whose forward reads only weight and running_var: its bias gets no
    # gradient and its running_mean and batch counter are never updated, so all three keep their initial zeros.
    dropped = {}
    for key in sorted(set(params) - set(net.state_dict())):
        module_name, _, leaf = key.rpartition('.')
        if leaf not in BIAS_FREE_BN_UNUSED:
            continue
        try:
            module = net.get_submodule(module_name)
        except AttributeError:
            continue
        if not isinstance(module, BiasFreeBatchNorm2d):
            continue
        value, name = params.pop(key), origin[key]
        if leaf == 'num_batches_tracked':
            dropped[name] = f'batch counter of a bias-free BN, never read (value {value.tolist()})'
            continue
        if value.shape != module.weight.shape:
            raise CheckpointError(f'{name} has shape {tuple(value.shape)}, but its bias-free BN has '
                                  f'{module.weight.shape[0]} channels')
        if torch.count_nonzero(value):
            largest = f'{value.abs().max().item():.3g}'
            if leaf == 'bias':
                raise CheckpointError(f'{name} is not zero (largest |value| {largest}): that BatchNorm adds a learned '
                                      'bias, so the network is not bias-free; refusing rather than dropping it')
            raise CheckpointError(f'{name} is not zero (largest |value| {largest}): a bias-free BN never updates its '
                                  'running mean, so this BatchNorm subtracted batch means in training (it ran as an '
                                  'ordinary BN, e.g. after convert_sync_batchnorm) and the checkpoint is not '
                                  'bias-free; refusing rather than dropping it')
        dropped[name] = f'{leaf} of a bias-free BN, never read by its forward (all zero)'
    return dropped


def _renamed(state: dict[str, Tensor], origin: dict[str, str],
             rename: Callable[[str], str]) -> tuple[dict[str, Tensor], dict[str, str], int]:
    """``state`` and ``origin`` under ``rename`` of their keys, and how many keys changed."""
    names = {k: rename(k) for k in state}
    counts = Counter(names.values())
    clash = [origin[k] for k, n in names.items() if counts[n] > 1]
    if clash:
        raise CheckpointError(f'entries {examples(clash)} map to the same key once renamed')
    return ({names[k]: v for k, v in state.items()}, {names[k]: origin[k] for k in state},
            sum(k != n for k, n in names.items()))


def convert_state_dict(checkpoint: Mapping, arch: str, wrapper: str = 'WNE', mode: str | None = None) -> Conversion:
    """Reference checkpoint → BasicSR ``params`` for ``wrapper`` around ``arch``, its ``network_g`` and what changed."""
    if wrapper not in WRAPPERS:
        raise CheckpointError(f'wrapper must be one of {WRAPPERS}, got {wrapper!r}')
    container, source = _container(checkpoint, arch)
    state, origin = _strip(container)
    renamed = 0
    if arch == 'Restormer':
        state, origin, renamed = _renamed(state, origin, restormer_key)
    backbone = backbone_options(arch, state, mode)
    network = backbone if wrapper == 'none' else {'type': wrapper, 'backbone': backbone}
    prefix = '' if wrapper == 'none' else 'backbone.'
    try:
        net = build_network(dict(network))
    except (KeyError, TypeError, ValueError, AssertionError) as err:
        raise CheckpointError(f'cannot build {network} from the checkpoint: {err}') from err
    params = {prefix + k: v for k, v in state.items()}
    dropped = drop_unused_bias_free_bn(net, params, {prefix + k: v for k, v in origin.items()})
    own = net.state_dict()
    filled = {}
    for key in sorted(set(own) - set(params)):
        leaf = key.rsplit('.', 1)[-1]
        if leaf in DERIVED_BUFFERS:
            params[key] = own[key]
            where = f' (img_size {backbone["img_size"]})' if leaf == 'attn_mask' and 'img_size' in backbone else ''
            filled[key] = DERIVED_BUFFERS[leaf] + where
    check_fits(net, params, f'{network["type"]}' + ('' if wrapper == 'none' else f'({arch})'))
    net.load_state_dict(params, strict=True)
    return Conversion(params, network, source, filled, dropped, renamed)


def load_checkpoint_file(path: str, trusted: bool = False) -> Mapping:
    """``torch.load`` on the CPU; unless ``trusted``, only tensors, plain containers and argparse Namespaces.

    Mohan et al.'s checkpoints keep their training arguments (plain values) in a Namespace.
    """
    try:
        if trusted:
            return torch.load(path, map_location='cpu', weights_only=False)
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:
        if trusted:
            raise
        raise CheckpointError(f'{path}: cannot load it with weights_only=True ({err}). If you trust the file, allow '
                              'arbitrary pickled objects (--trusted).') from err


def convert_checkpoint(src: str, dst: str, arch: str, wrapper: str = 'WNE', mode: str | None = None,
                       trusted: bool = False) -> Conversion:
    """Convert the reference checkpoint ``src`` into the BasicSR checkpoint ``dst``; errors name ``src``."""
    checkpoint = load_checkpoint_file(src, trusted)
    try:
        conversion = convert_state_dict(checkpoint, arch, wrapper, mode)
    except CheckpointError as err:
        raise CheckpointError(f'{src}: {err}') from err
    torch.save({'params': conversion.params}, dst)
    return conversion
