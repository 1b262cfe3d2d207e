"""Reference checkpoints ({"model_state": ...}, keys "model.") → BasicSR checkpoints: strict loading, same outputs."""
import argparse
import re

import pytest
import torch
import torch.nn.functional as F

import wne_basicsr  # noqa: F401  (must come before anything from basicsr)

# isort: split
from basicsr.archs import build_network
from script_loader import load_script

from wne_basicsr.utils.arch_from_weights import CheckpointError
from wne_basicsr.utils.checkpoint import convert_checkpoint, convert_state_dict

released = load_script('tests/utils/reference_keys.py')  # key lists of released checkpoints, written out

SWINIR = {'upscale': 1, 'img_size': 16, 'window_size': 8, 'img_range': 1.0, 'depths': [2, 2], 'embed_dim': 12,
          'num_heads': [2, 3], 'mlp_ratio': 2, 'upsampler': '', 'resi_connection': '1conv'}
RESTORMER = {'type': 'Restormer', 'dim': 8, 'num_blocks': [1, 1, 1, 2], 'num_refinement_blocks': 1}
# (backbone options, --mode, whether the reference uses the official Restormer key layout)
CASES = {
    'DnCNN': ({'type': 'DnCNN'}, None, False),
    'DnCNN-bias-free': ({'type': 'DnCNN', 'num_feat': 16, 'num_layers': 5, 'bias_free': True}, None, False),
    'FDnCNN': ({'type': 'FDnCNN', 'num_feat': 16, 'num_layers': 6}, None, False),
    'FDnCNN-scale_equiv': ({'type': 'FDnCNN', 'num_feat': 16, 'num_layers': 6, 'mode': 'scale_equiv'}, 'scale_equiv',
                           False),
    'FDnCNN-norm_equiv': ({'type': 'FDnCNN', 'num_feat': 16, 'num_layers': 6, 'mode': 'norm_equiv'}, 'norm-equiv',
                          False),
    'SwinIR': ({'type': 'SwinIR', 'in_chans': 1, **SWINIR}, None, False),
    'SwinIRDenoiser-rgb': ({'type': 'SwinIRDenoiser', 'in_chans': 3, **SWINIR}, None, False),
    'Restormer-official-keys': ({**RESTORMER, 'LayerNorm_type': 'BiasFree'}, None, True),
    'Restormer-rgb': ({**RESTORMER, 'inp_channels': 3, 'out_channels': 3}, None, False),
}
# Mohan et al.'s training-checkpoint container around the state dict (allcode/utils/train_utils.py save_checkpoint).
MOHAN_ARGS = argparse.Namespace(model='dncnn', bias=False, in_channels=1, hidden_size=8, num_layers=4, min_noise=0.0,
                                max_noise=55.0, lr=1e-3, batch_size=128)


def official_restormer_key(key: str) -> str:
    """Our Restormer key in the official layout (patch_embed.proj, down/up .body, norm .body)."""
    key = re.sub(r'^patch_embed\.', 'patch_embed.proj.', key)
    key = re.sub(r'^((?:down|up)\d_\d)\.', r'\1.body.', key)
    return re.sub(r'\.(norm[12])\.', r'.\1.body.', key)


def channels_of(options: dict) -> int:
    """Input channels of a backbone's options."""
    return options.get('in_chans', options.get('inp_channels', options.get('num_in_ch', 1)))


def trained_backbone(options: dict) -> torch.nn.Module:
    """A seeded backbone whose BatchNorm statistics (if any) moved away from their defaults."""
    torch.manual_seed(0)
    net = build_network(dict(options))
    with torch.no_grad():
        net.train()(torch.rand(2, channels_of(options), 16, 16))
    return net.eval()


def reference_checkpoint(net: torch.nn.Module, official_keys: bool = False) -> dict:
    """The paper's format: the wrapper-free backbone's state dict under "model_state", keys prefixed "model."."""
    rename = official_restormer_key if official_keys else (lambda k: k)
    return {'model_state': {f'model.{rename(k)}': v for k, v in net.state_dict().items()}, 'epoch': 3}


def mohan_container(state: dict) -> dict:
    """A state dict inside Mohan et al.'s training checkpoint: "model" is a list, "args" an argparse Namespace."""
    return {'step': 1000, 'score': 31.5, 'last_step': 1000, 'best_step': 900, 'best_score': 31.6, 'model': [state],
            'optimizer': [{'state': {}, 'param_groups': [{'lr': 1e-3, 'params': list(range(len(state)))}]}],
            'scheduler': None, 'args': MOHAN_ARGS}


@pytest.mark.parametrize('wrapper', ['WNE', 'none'])
@pytest.mark.parametrize('case', list(CASES))
def test_round_trip_loads_strictly_and_gives_identical_outputs(tmp_path, case, wrapper):
    options, mode, official = CASES[case]
    original = trained_backbone(options)
    src, dst = tmp_path / 'reference.pth', tmp_path / 'converted.pth'
    torch.save(reference_checkpoint(original, official), src)
    conversion = convert_checkpoint(str(src), str(dst), options['type'], wrapper, mode)
    assert conversion.filled == {} and conversion.dropped == {}

    params = torch.load(dst, map_location='cpu')['params']
    converted = build_network(conversion.network).eval()
    converted.load_state_dict(params, strict=True)
    if wrapper == 'none':
        reference = original
    else:
        assert all(k.startswith('backbone.') for k in params)
        reference = build_network({'type': wrapper, 'backbone': options}).eval()
        reference.backbone.load_state_dict(original.state_dict(), strict=True)
    size = (16, 24) if wrapper == 'none' else (21, 19)  # bare SwinIR needs multiples of its window; WNE pads
    x = torch.rand(2, channels_of(options), *size)
    with torch.no_grad():
        assert (converted(x) - reference(x)).abs().max() <= 1e-6


def test_wne_input_wrapper_and_bare_state_dict():
    """A bare state dict (no "model_state") converts too, here for the WNE-I wrapper."""
    original = trained_backbone({'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4})
    bare = {f'model.{k}': v for k, v in original.state_dict().items()}
    conversion = convert_state_dict(bare, 'DnCNN', 'WNEInput')
    assert conversion.network == {'type': 'WNEInput', 'backbone': {'type': 'DnCNN', 'num_in_ch': 1, 'num_feat': 8,
                                                                    'num_layers': 4, 'bias_free': False}}
    assert conversion.source == 'the top level of the file'
    assert set(conversion.params) == {f'backbone.{k}' for k in original.state_dict()}


@pytest.mark.parametrize('options, dropped', [
    ({'type': 'SwinIR', 'in_chans': 1, **SWINIR}, 'relative_position_index'),
    ({'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}, 'num_batches_tracked'),
])
def test_architecture_buffers_missing_from_the_reference_are_rebuilt_and_reported(options, dropped):
    """Buffers that are a function of the architecture are filled in when a reference lacks them, and listed."""
    original = trained_backbone(options)
    state = {k: v for k, v in reference_checkpoint(original)['model_state'].items() if not k.endswith(dropped)}
    conversion = convert_state_dict({'model_state': state}, options['type'], 'none')
    assert set(conversion.filled) == {k for k in original.state_dict() if k.endswith(dropped)}
    assert conversion.dropped == {}
    converted = build_network(conversion.network).eval()
    converted.load_state_dict(conversion.params, strict=True)
    x = torch.rand(1, channels_of(options), 16, 16)
    with torch.no_grad():
        assert torch.equal(converted(x), original(x))


@pytest.mark.parametrize('changes, arch, mode, wrapper, message', [
    ({'model.extra.weight': torch.zeros(1)}, 'DnCNN', None, 'none', r'1 unexpected key\(s\): extra.weight'),
    ({'model.last_layer.bias': None}, 'DnCNN', None, 'WNE', r'1 missing key\(s\): backbone.last_layer.bias'),
    ({'model.hidden_layer_list.1.weight': torch.zeros(8, 8, 1, 1)}, 'DnCNN', None, 'none',
     r'shape mismatch.*hidden_layer_list.1.weight \(8, 8, 1, 1\) vs \(8, 8, 3, 3\)'),
    ({}, 'FDnCNN', None, 'none', "no 'fdncnn.0.weight'"),
    ({}, 'DnCNN', 'scale_equiv', 'none', 'contradicts'),
    ({}, 'SwinIR', 'ordinary', 'none', 'DnCNN and FDnCNN only'),
])
def test_keys_that_do_not_fit_are_listed(changes, arch, mode, wrapper, message):
    state = reference_checkpoint(trained_backbone({'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}))['model_state']
    state.update(changes)
    with pytest.raises(CheckpointError, match=message):
        convert_state_dict({k: v for k, v in state.items() if v is not None}, arch, wrapper, mode)


@pytest.mark.parametrize('checkpoint, message', [
    ({'params': {}}, 'already a BasicSR checkpoint'),
    ({'params': {'patch_embed.proj.weight': torch.zeros(8, 1, 3, 3)}}, 'already a BasicSR checkpoint'),
    ({'model.first_layer.weight': torch.zeros(8, 1, 3, 3), 'epoch': 3}, 'non-tensor entries epoch'),
    ({'model': [{}, {}]}, '"model" holds 2 entries'),
    ({'model.first_layer.weight': torch.zeros(1), 'first_layer.weight': torch.zeros(1)}, 'two entries'),
    ([torch.zeros(1)], 'expected'),
])
def test_not_a_reference_checkpoint(checkpoint, message):
    """Only official Restormer weights are read from a "params" checkpoint, and only for --arch Restormer."""
    with pytest.raises(CheckpointError, match=message):
        convert_state_dict(checkpoint, 'DnCNN', 'WNE')


def test_fdncnn_mode_read_off_the_weights_or_required():
    """Biases → ordinary; bias-free is ambiguous between scale_equiv and norm_equiv, so it needs --mode."""
    ordinary = reference_checkpoint(trained_backbone({'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 4}))
    assert convert_state_dict(ordinary, 'FDnCNN', 'none').network['mode'] == 'ordinary'
    with pytest.raises(CheckpointError, match='contradicts'):
        convert_state_dict(ordinary, 'FDnCNN', 'none', 'norm_equiv')
    bias_free = reference_checkpoint(trained_backbone({'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 4,
                                                       'mode': 'norm_equiv'}))
    with pytest.raises(CheckpointError, match='--mode scale_equiv or --mode norm_equiv'):
        convert_state_dict(bias_free, 'FDnCNN', 'WNE')


# --- bias-free DnCNN with full BatchNorm2d entries (Mohan et al. 2020 and the paper's reference code) ----------------

def mohan_bias_free_dncnn() -> dict[str, torch.Tensor]:
    """A bias-free DnCNN (depth 4, 8 channels) as Mohan et al.'s code saves it: each BN a full BatchNorm2d."""
    g = torch.Generator().manual_seed(0)
    return {
        'first_layer.weight': torch.randn(8, 1, 3, 3, generator=g) * 0.3,
        'hidden_layer_list.0.weight': torch.randn(8, 8, 3, 3, generator=g) * 0.2,
        'hidden_layer_list.1.weight': torch.randn(8, 8, 3, 3, generator=g) * 0.2,
        'bn_layer_list.0.weight': torch.rand(8, generator=g) + 0.5,
        'bn_layer_list.0.bias': torch.zeros(8),
        'bn_layer_list.0.running_mean': torch.zeros(8),
        'bn_layer_list.0.running_var': torch.rand(8, generator=g) + 0.5,
        'bn_layer_list.0.num_batches_tracked': torch.tensor(0),
        'bn_layer_list.1.weight': torch.rand(8, generator=g) + 0.5,
        'bn_layer_list.1.bias': torch.zeros(8),
        'bn_layer_list.1.running_mean': torch.zeros(8),
        'bn_layer_list.1.running_var': torch.rand(8, generator=g) + 0.5,
        'bn_layer_list.1.num_batches_tracked': torch.tensor(0),
        'last_layer.weight': torch.randn(1, 8, 3, 3, generator=g) * 0.2,
    }


MOHAN_UNUSED = [f'bn_layer_list.{i}.{leaf}' for i in range(2) for leaf in ('bias', 'running_mean',
                                                                             'num_batches_tracked')]


def bias_free_dncnn_forward(state: dict[str, torch.Tensor], x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mohan et al.'s bias-free DnCNN in eval mode, in plain ops: x − net(x); BN: h / (√running_var + eps) · weight."""
    h = F.relu(F.conv2d(x, state['first_layer.weight'], padding=1))
    for i in range(2):
        h = F.conv2d(h, state[f'hidden_layer_list.{i}.weight'], padding=1)
        h = h / (state[f'bn_layer_list.{i}.running_var'].sqrt() + eps).view(1, -1, 1, 1)
        h = F.relu(h * state[f'bn_layer_list.{i}.weight'].view(1, -1, 1, 1))
    return x - F.conv2d(h, state['last_layer.weight'], padding=1)


def test_mohan_bias_free_dncnn_converts_and_computes_the_bias_free_forward(tmp_path):
    """The released layout loads without --trusted, drops (and lists) the inert BN entries, and matches the forward."""
    state = mohan_bias_free_dncnn()
    src, dst = tmp_path / 'bf_dncnn.pt', tmp_path / 'converted.pth'
    torch.save(mohan_container(state), src)
    conversion = convert_checkpoint(str(src), str(dst), 'DnCNN', 'none')
    assert conversion.source == '"model"[0]'
    assert conversion.network == {'type': 'DnCNN', 'num_in_ch': 1, 'num_feat': 8, 'num_layers': 4, 'bias_free': True}
    assert sorted(conversion.dropped) == sorted(MOHAN_UNUSED) and conversion.filled == {}
    net = build_network(conversion.network).eval()
    net.load_state_dict(torch.load(dst)['params'], strict=True)
    x = torch.rand(2, 1, 12, 10) * 2 - 0.5
    with torch.no_grad():
        assert (net(x) - bias_free_dncnn_forward(state, x)).abs().max() <= 1e-6


def test_paper_bias_free_dncnn_drops_under_the_names_of_the_file():
    """{"model_state": ...} with "model." keys into WNE: dropped keys are named as in the file."""
    state = {f'model.{k}': v for k, v in mohan_bias_free_dncnn().items()}
    conversion = convert_state_dict({'model_state': state}, 'DnCNN', 'WNE')
    assert sorted(conversion.dropped) == sorted(f'model.{k}' for k in MOHAN_UNUSED)
    assert not any('running_mean' in k or k.endswith('.bias') for k in conversion.params)
    assert all(k.startswith('backbone.') for k in conversion.params)


@pytest.mark.parametrize('key, value, message', [
    ('bn_layer_list.1.bias', torch.full((8,), 0.01), r'bn_layer_list.1.bias is not zero .* not bias-free'),
    ('bn_layer_list.0.running_mean', torch.full((8,), 0.2), r'bn_layer_list.0.running_mean is not zero .* ordinary BN'),
    ('bn_layer_list.0.bias', torch.zeros(4), r'bn_layer_list.0.bias has shape \(4,\)'),
])
def test_a_bias_free_bn_that_was_not_bias_free_is_refused(tmp_path, key, value, message):
    """A BN bias or running mean that moved means the layer ran as an ordinary BN: refuse, naming the file and key."""
    state = mohan_bias_free_dncnn()
    state[key] = value
    src = tmp_path / 'not_bias_free.pt'
    torch.save(mohan_container(state), src)
    with pytest.raises(CheckpointError, match=f'^{re.escape(str(src))}: {message}'):
        convert_checkpoint(str(src), str(tmp_path / 'out.pth'), 'DnCNN', 'none')


def test_a_nonzero_batch_counter_is_dropped_with_its_value():
    """The counter is never read by the bias-free forward, whatever its value; the report shows the value."""
    state = mohan_bias_free_dncnn()
    state['bn_layer_list.1.num_batches_tracked'] = torch.tensor(7)
    dropped = convert_state_dict(mohan_container(state), 'DnCNN', 'none').dropped
    assert 'value 7' in dropped['bn_layer_list.1.num_batches_tracked']


# --- fixtures from the key lists of released checkpoints (tests/utils/reference_keys.py) -----------------------------

def released_state(spec: tuple, seed: int = 0, zero: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Tensors for a written-out key list: integer buffers 0, variances positive, keys ending in ``zero`` all zero."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in spec:
        if key.endswith(('num_batches_tracked', 'relative_position_index')):
            state[key] = torch.zeros(shape, dtype=torch.long)
        elif key.endswith(zero):
            state[key] = torch.zeros(shape)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.1
    return state


def paper(state: dict) -> dict:
    """The paper's reference format around a state dict."""
    return {'model_state': {f'model.{k}': v for k, v in state.items()}}


SWINIR_BUFFERS = ('attn_mask', 'relative_position_index')
BN_UNUSED = ('bn_layer_list.0.bias', 'bn_layer_list.1.bias', 'running_mean')
# patch_embed.proj, the six down/up .body.0 convs, and norm1/norm2 .body of the nine transformer blocks
RESTORMER_RENAMED = 1 + 6 + 2 * 9
# fixture: (checkpoint, --arch, --mode, expected network_g (a subset), keys filled in, keys dropped, keys renamed)
FIXTURES = {
    'mohan-bias-free-dncnn': (
        lambda: mohan_container(released_state(released.MOHAN_BF_DNCNN, zero=BN_UNUSED)), 'DnCNN', None,
        {'num_layers': 4, 'num_feat': 8, 'bias_free': True}, set(),
        {k for k, _ in released.MOHAN_BF_DNCNN if k.startswith('bn_') and not k.endswith(('weight', 'running_var'))},
        0),
    'paper-bias-free-dncnn': (
        lambda: paper(released_state(released.MOHAN_BF_DNCNN, zero=BN_UNUSED)), 'DnCNN', 'scale_equiv',
        {'bias_free': True}, set(),
        {f'model.{k}' for k, _ in released.MOHAN_BF_DNCNN
         if k.startswith('bn_') and not k.endswith(('weight', 'running_var'))}, 0),
    'mohan-dncnn': (lambda: mohan_container(released_state(released.MOHAN_DNCNN)), 'DnCNN', None,
                    {'num_layers': 4, 'bias_free': False}, set(), set(), 0),
    'mohan-dncnn-without-batch-counters': (
        lambda: {k: v for k, v in released_state(released.MOHAN_DNCNN).items() if 'num_batches' not in k}, 'DnCNN',
        None, {'bias_free': False}, {'bn_layer_list.0.num_batches_tracked', 'bn_layer_list.1.num_batches_tracked'},
        set(), 0),
    'herbreteau-fdncnn-ordinary': (lambda: released_state(released.HERBRETEAU_FDNCNN_ORDINARY), 'FDnCNN', None,
                                   {'mode': 'ordinary', 'num_layers': 4, 'num_feat': 8}, set(), set(), 0),
    'herbreteau-fdncnn-scale-equiv': (lambda: released_state(released.HERBRETEAU_FDNCNN_BIAS_FREE), 'FDnCNN',
                                      'scale-equiv', {'mode': 'scale_equiv'}, set(), set(), 0),
    'paper-fdncnn-norm-equiv': (lambda: paper(released_state(released.HERBRETEAU_FDNCNN_BIAS_FREE)), 'FDnCNN',
                                'norm_equiv', {'mode': 'norm_equiv'}, set(), set(), 0),
    'swinir-official': (lambda: released_state(released.SWINIR), 'SwinIR', None,
                        {'img_size': 16, 'window_size': 8, 'depths': [2, 2], 'num_heads': [2, 3], 'embed_dim': 12,
                         'mlp_ratio': 2.0, 'patch_norm': True, 'qkv_bias': True}, set(), set(), 0),
    'paper-swinir-without-buffers': (
        lambda: paper({k: v for k, v in released_state(released.SWINIR).items() if not k.endswith(SWINIR_BUFFERS)}),
        'SwinIR', None, {'img_size': 64}, {k for k, _ in released.SWINIR if k.endswith(SWINIR_BUFFERS)}, set(), 0),
    'restormer-official-params': (
        lambda: {'params': released_state(released.RESTORMER)}, 'Restormer', None,
        {'dim': 8, 'num_blocks': [1, 1, 1, 2], 'num_refinement_blocks': 1, 'heads': [1, 2, 4, 8],
         'LayerNorm_type': 'BiasFree', 'bias': False, 'ffn_expansion_factor': 2.66}, set(), set(),
        RESTORMER_RENAMED),
    'paper-restormer-official-keys': (lambda: paper(released_state(released.RESTORMER)), 'Restormer', None,
                                      {'LayerNorm_type': 'BiasFree'}, set(), set(), RESTORMER_RENAMED),
}


@pytest.mark.parametrize('wrapper', ['none', 'WNE'])
@pytest.mark.parametrize('name', list(FIXTURES))
def test_released_key_lists_convert_and_load_strictly(name, wrapper):
    """Each released layout converts, loads strictly into our arch, and reports exactly what it filled in or dropped."""
    make, arch, mode, expected, filled, dropped, renamed = FIXTURES[name]
    conversion = convert_state_dict(make(), arch, wrapper, mode)
    backbone = conversion.network if wrapper == 'none' else conversion.network['backbone']
    assert backbone['type'] == arch and backbone.items() >= expected.items()
    prefix = '' if wrapper == 'none' else 'backbone.'
    assert set(conversion.filled) == {prefix + k for k in filled}
    assert set(conversion.dropped) == dropped and conversion.renamed == renamed
    build_network(conversion.network).load_state_dict(conversion.params, strict=True)


@pytest.mark.parametrize('spec, arch, message', [
    (released.KAIR_FDNCNN, 'FDnCNN', r"no 'fdncnn.0.weight'.*KAIR/DPIR's \"model.N\" layout"),
    (released.HERBRETEAU_FDNCNN_NON_BLIND, 'FDnCNN', 'a non-blind FDnCNN'),
])
def test_released_layouts_our_archs_cannot_compute_are_refused(spec, arch, message):
    with pytest.raises(CheckpointError, match=message):
        convert_state_dict(released_state(spec), arch, 'none')


def test_command_line(tmp_path, capsys):
    """The script converts, lists what it filled in or dropped, prints network_g, and exits 2 on a bad checkpoint."""
    script = load_script('scripts/convert_reference_checkpoint.py')
    src = tmp_path / 'ref.pth'
    torch.save(reference_checkpoint(trained_backbone({'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 4,
                                                      'mode': 'scale_equiv'})), src)
    assert script.main([str(src), str(tmp_path / 'out.pth'), '--arch', 'FDnCNN']) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {src}: ') and '--mode' in err
    assert script.main([str(src), str(tmp_path / 'out.pth'), '--arch', 'FDnCNN', '--mode', 'scale_equiv']) == 0
    out = capsys.readouterr().out
    assert 'network_g:' in out and 'type: WNE' in out and 'mode: scale_equiv' in out
    assert 'filled' not in out and 'dropped' not in out
    assert set(torch.load(tmp_path / 'out.pth')) == {'params'}

    torch.save(mohan_container(mohan_bias_free_dncnn()), src)
    assert script.main([str(src), str(tmp_path / 'out.pth'), '--arch', 'DnCNN', '--wrapper', 'none']) == 0
    out = capsys.readouterr().out
    assert 'read the state dict at "model"[0]' in out and 'dropped 6 key(s):' in out
    assert all(f'  {key}: ' in out for key in MOHAN_UNUSED) and 'bias_free: true' in out
