"""WNE around the transformer backbones (SwinIR lite, Restormer) is exactly NE on odd sizes, gray and colour."""
import pytest
import torch

import wne_basicsr  # noqa: F401  (must come before anything from basicsr)

# isort: split
from basicsr.archs import build_network

SWINIR_LITE = {'upscale': 1, 'img_size': 64, 'window_size': 8, 'img_range': 1.0, 'depths': [6, 6, 6, 6],
               'embed_dim': 60, 'num_heads': [6, 6, 6, 6], 'mlp_ratio': 2, 'upsampler': '', 'resi_connection': '1conv'}
BACKBONES = {
    'SwinIR-lite': lambda c: {'type': 'SwinIR' if c == 1 else 'SwinIRDenoiser', 'in_chans': c, **SWINIR_LITE},
    'Restormer': lambda c: {'type': 'Restormer', 'inp_channels': c, 'out_channels': c},
}
AFFINE = [(1.7, 0.3), (0.4, -0.6)]



def relative_defect(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest per-instance ‖out − ref‖ / ‖ref‖ of a batch."""
    return float(((out - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)).max())


@pytest.mark.parametrize('shape', [(1, 1, 37, 45), (1, 3, 40, 24)], ids=['gray-37x45', 'rgb-40x24'])
@pytest.mark.parametrize('backbone', list(BACKBONES))
def test_wne_transformer_is_normalization_equivariant(backbone, shape):
    """f(a·y + b) = a·f(y) + b to fp32 round-off (relative defect ≤ 1e-5) for the paper's full-size backbones."""
    torch.manual_seed(0)
    net = build_network({'type': 'WNE', 'backbone': BACKBONES[backbone](shape[1])}).eval()
    y = torch.rand(shape) + 0.1 * torch.randn(shape)
    with torch.no_grad():
        out = net(y)
        assert out.shape == shape and torch.isfinite(out).all()
        for a, b in AFFINE:
            assert relative_defect(net(a * y + b), a * out + b) <= 1e-5


def test_bare_swinir_is_not_normalization_equivariant():
    """The same backbone without the wrapper is far from NE (so the test above measures the wrapper)."""
    torch.manual_seed(0)
    net = build_network(BACKBONES['SwinIR-lite'](1)).eval()
    y = torch.rand(1, 1, 40, 48)
    with torch.no_grad():
        assert relative_defect(net(3.0 * y + 2.5), 3.0 * net(y) + 2.5) > 1e-3
