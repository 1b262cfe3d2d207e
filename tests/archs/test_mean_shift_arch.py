"""MeanShift: its formula in both prediction modes, exact translation equivariance with the image mean, checks."""
import pytest
import torch
from basicsr.archs import build_network
from torch import nn

from wne_basicsr.archs.mean_shift_arch import MeanShift
from wne_basicsr.errors import OptionError


class Square(nn.Module):
    """A backbone that is neither linear nor translation-equivariant: g(z) = z² + 0.5."""

    def forward(self, z):
        return z * z + 0.5


@pytest.fixture
def x():
    return torch.rand(2, 1, 8, 10, generator=torch.Generator().manual_seed(0))


def test_image_mean_direct_formula_by_hand(x):
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(MeanShift(Square(), mean='image')(x), (x - m) ** 2 + 0.5 + m, atol=1e-6)


def test_fixed_mean_direct_and_residual_formulas_by_hand(x):
    assert torch.allclose(MeanShift(Square(), mean=0.25)(x), (x - 0.25) ** 2 + 0.5 + 0.25, atol=1e-6)
    assert torch.allclose(MeanShift(Square(), mean=0.25, pred_mode='residual')(x), x - ((x - 0.25) ** 2 + 0.5),
                          atol=1e-6)


def test_image_mean_is_exactly_translation_equivariant_and_a_fixed_mean_is_not(x):
    b = torch.tensor([0.3, -0.2]).view(2, 1, 1, 1)
    net = MeanShift(Square(), mean='image')
    assert torch.allclose(net(x + b), net(x) + b, atol=1e-6)
    fixed = MeanShift(Square(), mean=0.25)
    assert not torch.allclose(fixed(x + b), fixed(x) + b, atol=1e-3)


def test_builds_any_registered_backbone_from_options_and_pads_to_its_window():
    net = build_network({'type': 'MeanShift', 'mean': 0.434, 'backbone': {
        'type': 'SwinIR', 'upscale': 1, 'in_chans': 1, 'img_size': 16, 'window_size': 8, 'img_range': 1.0,
        'depths': [1], 'embed_dim': 6, 'num_heads': [2], 'mlp_ratio': 2, 'upsampler': '', 'resi_connection': '1conv'}})
    assert net.pad_multiple == 8
    assert net(torch.rand(1, 1, 13, 11)).shape == (1, 1, 13, 11)
    assert 'mean=0.434' in repr(net)


@pytest.mark.parametrize('mean', ['dataset', None, True, [0.4]])
def test_a_bad_mean_is_refused_naming_the_option(mean):
    with pytest.raises(OptionError, match='MeanShift: mean must be "image"'):
        MeanShift(Square(), mean=mean)
