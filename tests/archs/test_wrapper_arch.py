"""WNE, WNEInput and ScaleEquivariant: exact equivariance, constant inputs, autocast, padding, errors."""
import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network

from wne_basicsr.archs.wrapper_arch import WNE, ScaleEquivariant

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
    """An offset of 10 with a variation of 0.1 (std ≈ 0.03): bf16, with a spacing of 1/16 near 10, would get the mean
    off by ~1e-3 and the std by ~20 %; the statistics match float64 ones to float32 precision."""
    torch.manual_seed(0)
    net = build_network({'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}}).eval()
    x = 10 + 0.1 * torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fp32 = net(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            z, (mean, std) = net.normalize(x)
            out = net(x)
    assert mean.dtype == std.dtype == z.dtype == out.dtype == torch.float32
    flat = x.double().flatten(1)
    assert torch.allclose(mean.double().flatten(), flat.mean(dim=1), rtol=0, atol=1e-5)
    assert torch.allclose(std.double().flatten(), flat.std(dim=1), rtol=1e-5, atol=0)
    assert (out - fp32).abs().max() < 0.1 * std.min()  # only the backbone ran in bf16


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


class PlusHalf(torch.nn.Module):
    """g(z) = z + 0.5: the wrapper's output then shows the scale s it used (x + 0.5·s)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + 0.5


@pytest.mark.parametrize('std_mode, correction', [(None, 0), ('population', 0), ('unbiased', 1)])
def test_scale_equivariant_scale_follows_std_mode(std_mode, correction):
    x = torch.rand(2, 1, 5, 7, dtype=torch.float64) + 0.1
    net = ScaleEquivariant(PlusHalf(), **({'std_mode': std_mode} if std_mode else {}))
    s = (x.flatten(1).square().sum(1) / (x[0].numel() - correction)).sqrt().view(-1, 1, 1, 1)
    assert torch.allclose(net(x), x + 0.5 * s, atol=1e-12)
    assert f'std_mode={std_mode or "population"}' in repr(net)
