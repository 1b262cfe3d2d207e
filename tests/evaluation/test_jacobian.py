"""Jacobian rows and the non-linearity ratio ρ (docs/method.md §7): WNE is a locally adaptive linear filter; DnCNN is
not."""
import wne_basicsr  # noqa: F401

# isort: split
import pytest
import torch
from basicsr.archs import build_network

from wne_basicsr.evaluation.jacobian import euler_terms, jacobian_rows, jvp_ratio

SMALL_DNCNN = {'type': 'DnCNN', 'num_in_ch': 1, 'num_feat': 8, 'num_layers': 4}
PIXELS = [(0, 0), (0, 9), (7, 5), (15, 15)]  # corner, border, interior, corner


def _image(seed: int = 0, size: int = 16) -> torch.Tensor:
    """A smooth 1×size×size image with noise, in roughly [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0.2, 0.8, size)
    return (ramp[:, None] * ramp[None, :] + 0.1 * torch.randn(size, size, generator=generator))[None]


def _with_biases(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-zero conv biases and BatchNorm statistics: a fresh DnCNN has none, which makes it homogeneous."""
    generator = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d) and module.bias is not None:
            module.bias.data = 0.1 * torch.randn(module.bias.shape, generator=generator)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean = 0.1 * torch.randn(module.running_mean.shape, generator=generator)
            module.bias.data = 0.1 * torch.randn(module.bias.shape, generator=generator)
            module.weight.data = 0.5 + torch.rand(module.weight.shape, generator=generator)
    return net.eval()


@pytest.mark.parametrize('pred_mode', ['direct', 'residual'])
def test_wne_rows_sum_to_one_and_rho_vanishes(pred_mode):
    torch.manual_seed(0)
    net = _with_biases(build_network({'type': 'WNE', 'pred_mode': pred_mode, 'backbone': dict(SMALL_DNCNN)}), 1)
    y = _image()
    rows = jacobian_rows(net, y, PIXELS)
    assert rows.shape == (len(PIXELS), 1, 16, 16)
    assert torch.allclose(rows.double().flatten(1).sum(dim=1), torch.ones(len(PIXELS), dtype=torch.float64),
                          atol=1e-4)
    assert jvp_ratio(net, y) <= 1e-5
    assert jvp_ratio(net, 3.0 * y - 0.7) <= 1e-5


def test_plain_dncnn_with_biases_is_not_linear():
    torch.manual_seed(0)
    net = _with_biases(build_network(dict(SMALL_DNCNN)), 1)
    y = _image()
    assert jvp_ratio(net, y) > 1e-3
    sums = jacobian_rows(net, y, PIXELS).double().flatten(1).sum(dim=1)
    assert (sums - 1).abs().max() > 1e-3


def test_linear_filter_row_is_its_kernel_and_rho_is_zero():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 1, 5, padding=2, bias=False).eval()
    kernel = conv.weight.detach()[0, 0]
    y = _image(size=12)
    assert jvp_ratio(conv, y) <= 1e-7
    inner, corner = jacobian_rows(conv, y, [(6, 4), (0, 1)])
    expected = torch.zeros(12, 12)
    expected[4:9, 2:7] = kernel
    assert torch.allclose(inner[0], expected)
    expected = torch.zeros(12, 12)
    expected[0:3, 0:4] = kernel[2:, 1:]  # the kernel placed at (0, 1), cut by the zero padding
    assert torch.allclose(corner[0], expected)


def test_rows_match_the_full_jacobian_and_outputs_match_the_network():
    torch.manual_seed(0)
    net = _with_biases(build_network({'type': 'WNE', 'backbone': dict(SMALL_DNCNN)}), 2)
    y = _image(size=8)
    full = torch.autograd.functional.jacobian(lambda x: net(x[None])[0], y)  # 1×8×8 × 1×8×8
    rows = jacobian_rows(net, y, [(2, 3), (7, 0)])
    assert torch.allclose(rows[0], full[0, 2, 3], atol=1e-6)
    assert torch.allclose(rows[1], full[0, 7, 0], atol=1e-6)
    out, tangent = euler_terms(net, y)
    with torch.no_grad():
        assert torch.allclose(out, net(y[None]), atol=1e-6)
    assert torch.allclose(tangent, torch.einsum('chwxyz,xyz->chw', full, y)[None], atol=1e-5)


def test_pixels_outside_the_input_and_batches_are_rejected():
    net = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False).eval()
    with pytest.raises(ValueError, match='outside the 8×8 input'):
        jacobian_rows(net, _image(size=8), [(8, 0)])
    with pytest.raises(ValueError, match='one C×H×W image'):
        jvp_ratio(net, torch.rand(2, 1, 8, 8))
