"""Trained networks for evaluation: the device to run on and a network_g with its BasicSR checkpoint loaded."""
from __future__ import annotations

from copy import deepcopy

import torch
from basicsr.archs import build_network
from torch import Tensor, nn

from wne_basicsr.errors import OptionError
from wne_basicsr.evaluation.sweep_config import ModelSpec


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; anything else as given."""
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(device)


def load_network(model: ModelSpec, device: torch.device | str = 'cpu') -> nn.Module:
    """Build ``network_g`` and load its BasicSR checkpoint (``param_key``, else a raw state dict), in eval mode."""
    net = build_network(deepcopy(model.network_opt))
    state = torch.load(model.checkpoint, map_location='cpu', weights_only=True)
    if model.param_key in state:
        state = state[model.param_key]
    elif not all(isinstance(v, Tensor) for v in state.values()):
        raise OptionError(f'{model.checkpoint}: no "{model.param_key}" entry (found {sorted(state)[:5]})')
    state = {k.removeprefix('module.'): v for k, v in state.items()}
    net.load_state_dict(state, strict=True)
    return net.to(device).eval()
