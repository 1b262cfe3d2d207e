"""A checkpoint that does not fit its network, said in one line (BasicSR logs every differing key, one per line),
with a hint when the keys differ by the wrappers' ``backbone.`` prefix."""
from __future__ import annotations

from basicsr.utils import get_root_logger
from torch import nn

from wne_basicsr.errors import OptionError

WRAPPER_PREFIX = 'backbone.'  # WNE, WNEInput and ScaleEquivariant keep their backbone's weights under it
SHOWN = 6  # keys named per kind of difference


def key_differences(own: dict, state: dict) -> dict[str, list[str]]:
    """The keys missing from ``state``, unexpected in it, and of a different shape, each sorted."""
    return {'missing from the checkpoint': sorted(set(own) - set(state)),
            'unexpected in the checkpoint': sorted(set(state) - set(own)),
            'shapes differ': [k for k in sorted(set(own) & set(state))
                              if getattr(state[k], 'shape', None) != own[k].shape]}


def prefix_hint(own: dict, state: dict) -> str:
    """What to change when only one side's keys carry the wrappers' ``backbone.`` prefix; else ''."""
    def wrapped(keys: dict) -> bool:
        return bool(keys) and all(k.startswith(WRAPPER_PREFIX) for k in keys)

    if wrapped(state) and not wrapped(own):
        return (f'its keys carry the wrapper prefix "{WRAPPER_PREFIX}" (e.g. {min(state)}) and the network\'s do not: '
                'it holds a wrapped network (WNE, WNEInput or ScaleEquivariant) and network_g is a bare one; set '
                'network_g to the wrapper it was trained with (type: WNE, backbone: <the current network_g>)')
    if wrapped(own) and not wrapped(state):
        return (f'the network\'s keys carry the wrapper prefix "{WRAPPER_PREFIX}" and the checkpoint\'s do not (e.g. '
                f'{min(state)}): it holds a bare network and network_g is a wrapper; set network_g to the bare '
                'network (the options under network_g.backbone), or load the checkpoint of the wrapped run')
    return ''


def fitting_state(net: nn.Module, state: dict, where: str, network: str, strict: bool) -> dict:
    """The part of ``state`` to load into ``net``. Strict: raise one OptionError line when anything differs. Not
    strict: log one warning line and leave out the keys of other shapes (as BasicSR does, less the flood of lines)."""
    own = net.state_dict()
    differences = key_differences(own, state)
    if not any(differences.values()):
        return state
    hint = prefix_hint(own, state)
    if strict and hint:
        raise OptionError(f'{where}: the checkpoint does not fit {network}: {hint}')
    shown = {**differences, 'shapes differ': [
        f'{k}: checkpoint {tuple(getattr(state[k], "shape", ()))} vs network {tuple(own[k].shape)}'
        for k in differences['shapes differ']]}
    parts = [f'{label} ({len(keys)}): {", ".join(keys[:SHOWN])}{", …" if len(keys) > SHOWN else ""}'
             for label, keys in shown.items() if keys]
    if strict:
        raise OptionError(f'{where}: the checkpoint does not fit {network}: {"; ".join(parts)}. Check network_g '
                          '(arch, channels, widths) or set strict_load_g: false')
    counts = ', '.join(f'{len(keys)} {label.replace("the checkpoint", "it")}'
                       for label, keys in differences.items() if keys)
    get_root_logger().warning(f'{where}: strict_load_g is false and the checkpoint does not fit {network} ({counts}); '
                              'the keys that fit are loaded, the network keeps its own values for the others'
                              f'{"; " + hint if hint else ""}')
    return {k: v for k, v in state.items() if k not in differences['shapes differ']}
