"""FDnCNN: parameter counts per mode, NE-arch exactness, SE-arch scale equivariance, affine layers."""
import pytest
import torch
from torch import nn

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network

from wne_basicsr.archs.affine_layers import AffineConv2d, SortPool


@pytest.mark.parametrize('mode, expected', [('ordinary', 665_920), ('scale_equiv', 664_704),
                                            ('norm_equiv', 664_704)])
def test_parameter_counts(mode, expected):
    assert sum(p.numel() for p in build_network({'type': 'FDnCNN', 'mode': mode}).parameters()) == expected


def test_reference_module_names():
    keys = set(build_network({'type': 'FDnCNN'}).state_dict())
    assert {'fdncnn.0.weight', 'fdncnn.0.bias', 'fdncnn.36.bias', 'fdncnn.38.weight'} <= keys
    assert 'fdncnn.38.bias' not in keys


def test_norm_equiv_mode_is_exactly_ne():
    torch.manual_seed(0)
    net = build_network({'type': 'FDnCNN', 'mode': 'norm_equiv'}).eval()
    x = torch.rand(1, 1, 40, 36)
    with torch.no_grad():
        y = net(x)
        for a, b in [(0.2, -2.0), (5.0, 2.0), (1.3, 0.4)]:
            ref = a * y + b
            assert (net(a * x + b) - ref).norm() / ref.norm() < 1e-5


def test_scale_equiv_mode_is_se_and_ordinary_is_not():
    torch.manual_seed(1)
    x = torch.rand(1, 1, 32, 32)
    se = build_network({'type': 'FDnCNN', 'num_feat': 16, 'num_layers': 5, 'mode': 'scale_equiv'}).eval()
    ordinary = build_network({'type': 'FDnCNN', 'num_feat': 16, 'num_layers': 5}).eval()
    with torch.no_grad():
        assert torch.allclose(se(4.0 * x), 4.0 * se(x), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(ordinary(4.0 * x), 4.0 * ordinary(x), rtol=1e-3)


def test_affine_kernels_sum_to_one_and_commute_with_affine_maps():
    torch.manual_seed(2)
    conv = AffineConv2d(3, 4, 3)
    assert torch.allclose(conv.affine_kernel().flatten(1).sum(dim=1), torch.ones(4), atol=1e-6)
    u = torch.randn(2, 3, 9, 7)
    assert torch.allclose(conv(2.5 * u - 1.0), 2.5 * conv(u) - 1.0, atol=1e-5)


def test_sort_pool_sorts_pairs():
    u = torch.tensor([3.0, 1.0, -2.0, 5.0]).view(1, 4, 1, 1)
    assert SortPool()(u).flatten().tolist() == [1.0, 3.0, -2.0, 5.0]
    with pytest.raises(ValueError, match='even'):
        SortPool()(torch.zeros(1, 3, 2, 2))


def test_modes_have_no_batch_norm_and_unknown_mode_fails():
    net = build_network({'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 3, 'mode': 'norm_equiv'})
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    with pytest.raises(ValueError, match='mode'):
        build_network({'type': 'FDnCNN', 'mode': 'affine'})
