"""Reference checkpoints ({"model_state": ...}, keys "model.") → BasicSR checkpoints: strict loading, same outputs."""
import importlib.util
import os.path as osp
import re

import pytest
import torch

import wne_basicsr  # noqa: F401  (must come before anything from basicsr)

# isort: split
from basicsr.archs import build_network

from wne_basicsr.utils.checkpoint import CheckpointError, convert_checkpoint, convert_state_dict

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
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


@pytest.mark.parametrize('wrapper', ['WNE', 'none'])
@pytest.mark.parametrize('case', list(CASES))
def test_round_trip_loads_strictly_and_gives_identical_outputs(tmp_path, case, wrapper):
    options, mode, official = CASES[case]
    original = trained_backbone(options)
    src, dst = tmp_path / 'reference.pth', tmp_path / 'converted.pth'
    torch.save(reference_checkpoint(original, official), src)
    network = convert_checkpoint(str(src), str(dst), options['type'], wrapper, mode)

    params = torch.load(dst, map_location='cpu')['params']
    converted = build_network(network).eval()
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
    params, network = convert_state_dict(bare, 'DnCNN', 'WNEInput')
    assert network == {'type': 'WNEInput', 'backbone': {'type': 'DnCNN', 'num_in_ch': 1, 'num_feat': 8,
                                                         'num_layers': 4, 'bias_free': False}}
    assert set(params) == {f'backbone.{k}' for k in original.state_dict()}


@pytest.mark.parametrize('options, dropped', [
    ({'type': 'SwinIR', 'in_chans': 1, **SWINIR}, 'relative_position_index'),
    ({'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}, 'num_batches_tracked'),
])
def test_architecture_buffers_missing_from_the_reference_are_rebuilt(options, dropped):
    """Buffers that are a function of the architecture are filled in when a reference lacks them."""
    original = trained_backbone(options)
    state = {k: v for k, v in reference_checkpoint(original)['model_state'].items() if not k.endswith(dropped)}
    params, network = convert_state_dict({'model_state': state}, options['type'], 'none')
    converted = build_network(network).eval()
    converted.load_state_dict(params, strict=True)
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
    ({'model.first_layer.weight': torch.zeros(8, 1, 3, 3), 'epoch': 3}, 'non-tensor entries epoch'),
    ([torch.zeros(1)], 'expected'),
])
def test_not_a_reference_checkpoint(checkpoint, message):
    with pytest.raises(CheckpointError, match=message):
        convert_state_dict(checkpoint, 'DnCNN', 'WNE')


def test_fdncnn_mode_read_off_the_weights_or_required():
    """Biases → ordinary; bias-free is ambiguous between scale_equiv and norm_equiv, so it needs --mode."""
    ordinary = reference_checkpoint(trained_backbone({'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 4}))
    assert convert_state_dict(ordinary, 'FDnCNN', 'none')[1]['mode'] == 'ordinary'
    with pytest.raises(CheckpointError, match='contradicts'):
        convert_state_dict(ordinary, 'FDnCNN', 'none', 'norm_equiv')
    bias_free = reference_checkpoint(trained_backbone({'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 4,
                                                       'mode': 'norm_equiv'}))
    with pytest.raises(CheckpointError, match='--mode scale_equiv or --mode norm_equiv'):
        convert_state_dict(bias_free, 'FDnCNN', 'WNE')


def test_command_line(tmp_path, capsys):
    """The script converts, prints the network_g to use, and exits 2 with the message on a bad checkpoint."""
    spec = importlib.util.spec_from_file_location('convert_reference_checkpoint',
                                                  osp.join(REPO, 'scripts', 'convert_reference_checkpoint.py'))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    src = tmp_path / 'ref.pth'
    torch.save(reference_checkpoint(trained_backbone({'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 4,
                                                      'mode': 'scale_equiv'})), src)
    assert script.main([str(src), str(tmp_path / 'out.pth'), '--arch', 'FDnCNN']) == 2
    assert '--mode' in capsys.readouterr().err
    assert script.main([str(src), str(tmp_path / 'out.pth'), '--arch', 'FDnCNN', '--mode', 'scale_equiv']) == 0
    out = capsys.readouterr().out
    assert 'network_g:' in out and 'type: WNE' in out and 'mode: scale_equiv' in out
    assert set(torch.load(tmp_path / 'out.pth')) == {'params'}
