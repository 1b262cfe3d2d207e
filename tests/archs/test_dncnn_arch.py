"""DnCNN: parameter counts, residual output, init clamp, bias-free BN outside the BatchNorm hierarchy."""
import pytest
import torch
from torch import nn

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network

from wne_basicsr.archs.affine_layers import BiasFreeBatchNorm2d


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize('bias_free, expected', [(False, 668_225), (True, 665_856)])
def test_parameter_counts(bias_free, expected):
    assert count(build_network({'type': 'DnCNN', 'bias_free': bias_free})) == expected


def test_untrained_dncnn_is_near_identity_and_keeps_shape():
    torch.manual_seed(0)
    net = build_network({'type': 'DnCNN'}).eval()
    x = torch.rand(2, 1, 37, 29)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    assert (y - x).abs().mean() < 0.1


def test_bn_weights_are_clamped():
    net = build_network({'type': 'DnCNN', 'num_layers': 6})
    for bn in net.bn_layer_list:
        assert bn.weight.abs().max() <= 0.025
        assert torch.count_nonzero(bn.bias) == 0


def test_reference_module_names():
    keys = build_network({'type': 'DnCNN', 'num_layers': 4}).state_dict()
    assert {'first_layer.weight', 'hidden_layer_list.1.weight', 'bn_layer_list.1.running_var',
            'last_layer.bias'} <= set(keys)


def test_bias_free_dncnn_is_scale_equivariant_in_eval_mode():
    torch.manual_seed(1)
    net = build_network({'type': 'DnCNN', 'num_feat': 16, 'num_layers': 6, 'bias_free': True})
    net.train()
    net(torch.rand(4, 1, 24, 24))  # move the running variances away from their initial ones
    net.eval()
    x = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        assert torch.allclose(net(3.0 * x), 3.0 * net(x), rtol=1e-5, atol=1e-6)


def test_bias_free_bn_matches_its_definition_and_survives_sync_bn_conversion():
    bn = BiasFreeBatchNorm2d(3)
    x = torch.randn(4, 3, 5, 5) * 2 + 1
    out = bn(x)
    var = x.transpose(0, 1).reshape(3, -1).var(dim=1, unbiased=True)
    assert torch.allclose(out, x / (var.sqrt() + 1e-5).view(1, 3, 1, 1))
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * var)
    assert not isinstance(bn, nn.modules.batchnorm._BatchNorm)
    net = build_network({'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4, 'bias_free': True})
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert all(isinstance(m, BiasFreeBatchNorm2d) for m in converted.bn_layer_list)


def test_too_few_layers_is_an_error():
    with pytest.raises(ValueError, match='num_layers'):
        build_network({'type': 'DnCNN', 'num_layers': 1})
