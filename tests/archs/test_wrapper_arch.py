"""WNE, WNEInput and ScaleEquivariant: exact equivariance, constant inputs, autocast, padding, errors."""
import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network

from wne_basicsr.archs.wrapper_arch import WNE

AFFINE = [(0.2, -2.0), (5.0, 2.0), (1.7, 0.3), (0.5, 0.0), (3.3, -0.7), (1.0, 1.5)]
BACKBONES = [dict(type='DnCNN'), dict(type='FDnCNN'), dict(type='DnCNN', num_feat=16, num_layers=5, bias_free=True),
             dict(type='FDnCNN', num_feat=16, num_layers=5, mode='scale_equiv')]


def relative_defect(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest per-instance ‖out − ref‖ / ‖ref‖ of a batch."""
    out, ref = out.detach(), ref.detach()
    return float(((out - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)).max())


@pytest.mark.parametrize('backbone', BACKBONES[:2], ids=['DnCNN', 'FDnCNN'])
@pytest.mark.parametrize('pred_mode', ['direct', 'residual'])
def test_wne_is_exactly_normalization_equivariant(backbone, pred_mode):
    torch.manual_seed(0)
    net = build_network({'type': 'WNE', 'pred_mode': pred_mode, 'backbone': backbone}).eval()
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        y = net(x)
        for a, b in AFFINE:
            assert relative_defect(net(a * x + b), a * y + b) < 1e-5


def test_wne_from_yaml_dict_trained_mode_batch():
    torch.manual_seed(1)
    net = build_network({'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 16, 'num_layers': 6}})
    net.train()  # BatchNorm in train mode still sees identical normalized inputs
    x = torch.rand(3, 1, 24, 20)
    a = torch.tensor([0.3, 2.0, 4.5]).view(3, 1, 1, 1)
    b = torch.tensor([-1.5, 0.2, 1.9]).view(3, 1, 1, 1)
    y = net(x)
    assert relative_defect(net(a * x + b), a * y + b) < 1e-5


@pytest.mark.parametrize('wrapper', ['WNE', 'ScaleEquivariant'])
@pytest.mark.parametrize('pred_mode', ['direct', 'residual'])
@pytest.mark.parametrize('backbone', BACKBONES, ids=['DnCNN', 'FDnCNN', 'DnCNN-bf', 'FDnCNN-se'])
def test_constant_and_zero_inputs_return_themselves(wrapper, pred_mode, backbone):
    net = build_network({'type': wrapper, 'pred_mode': pred_mode, 'backbone': backbone}).eval()
    x = torch.zeros(3, 1, 33, 31)
    x[1] = 0.3
    x[2] = -7.25
    with torch.no_grad():
        out = net(x if wrapper == 'WNE' else x[:1])
    assert not torch.isnan(out).any()
    assert torch.equal(out, x if wrapper == 'WNE' else x[:1])


def test_wne_input_is_invariant():
    torch.manual_seed(2)
    net = build_network({'type': 'WNEInput', 'backbone': {'type': 'DnCNN', 'num_feat': 16, 'num_layers': 5}}).eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        y = net(x)
        for a, b in AFFINE:
            assert relative_defect(net(a * x + b), y) < 1e-5


def test_scale_equivariant_wrapper_is_se_not_ne():
    torch.manual_seed(3)
    net = build_network({'type': 'ScaleEquivariant', 'backbone': {'type': 'FDnCNN', 'num_feat': 16,
                                                                  'num_layers': 5}}).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        y = net(x)
        for a in (0.2, 1.7, 5.0):
            assert relative_defect(net(a * x), a * y) < 1e-5
        assert relative_defect(net(x + 0.5), y + 0.5) > 1e-3


@pytest.mark.parametrize('std_mode', ['unbiased', 'population'])
def test_std_modes_are_both_exact(std_mode):
    torch.manual_seed(4)
    net = build_network({'type': 'WNE', 'std_mode': std_mode, 'backbone': {'type': 'FDnCNN', 'num_feat': 8,
                                                                           'num_layers': 4}}).eval()
    x = torch.rand(1, 1, 20, 20)
    with torch.no_grad():
        assert relative_defect(net(2.5 * x - 1), 2.5 * net(x) - 1) < 1e-5


def test_statistics_stay_float32_under_autocast():
    net = build_network({'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}}).eval()
    x = torch.rand(1, 1, 16, 16) * 1e-3 + 1000.0  # bf16 statistics would lose this image entirely
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = net(x)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert (out - x).abs().max() < 1e-2  # an untrained DnCNN is near identity in normalized coordinates


def test_window_padding_keeps_exact_equivariance():
    torch.manual_seed(5)
    swinir = dict(type='SwinIR', upscale=1, in_chans=1, img_size=16, window_size=4, img_range=1.0, depths=[1],
                  embed_dim=12, num_heads=[2], mlp_ratio=2, upsampler='', resi_connection='1conv')
    net = build_network({'type': 'WNE', 'backbone': swinir}).eval()
    assert net.pad_multiple == 4
    x = torch.rand(1, 1, 13, 18)
    with torch.no_grad():
        y = net(x)
        assert y.shape == x.shape
        for a, b in AFFINE[:3]:
            assert relative_defect(net(a * x + b), a * y + b) < 1e-5


def test_backbone_weights_live_under_backbone_prefix():
    net = build_network({'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}})
    bare = build_network({'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3})
    assert {f'backbone.{k}' for k in bare.state_dict()} == set(net.state_dict())
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in bare.parameters())


@pytest.mark.parametrize('kwargs, message', [
    (dict(backbone={'type': 'DnCNN'}, pred_mode='noise'), 'pred_mode'),
    (dict(backbone={'type': 'DnCNN'}, std_mode='sample'), 'std_mode'),
    (dict(backbone='DnCNN'), 'backbone'),
])
def test_bad_options_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WNE(**kwargs)
