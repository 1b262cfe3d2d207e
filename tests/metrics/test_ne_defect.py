"""NE defect (docs/method.md §5.3): exact for WNE, clearly non-zero for a biased DnCNN, its definition, the metric."""
import wne_basicsr  # noqa: F401

# isort: split
import math

import pytest
import torch
from basicsr.archs import build_network
from basicsr.metrics import calculate_metric
from basicsr.utils.registry import METRIC_REGISTRY
from torch import nn

from wne_basicsr.metrics.ne_defect import ne_defect

TINY_DNCNN = {'type': 'DnCNN', 'num_in_ch': 1, 'num_feat': 8, 'num_layers': 4}



def _randomized(net: nn.Module) -> nn.Module:
    """Give every bias, BN weight and BN running statistic a clearly non-trivial value."""
    torch.manual_seed(1)
    for module in net.modules():
        if isinstance(module, nn.Conv2d) and module.bias is not None:
            nn.init.normal_(module.bias, 0.0, 0.2)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.normal_(module.bias, 0.0, 0.2)
            module.running_mean.normal_(0.0, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    return net


def _images() -> torch.Tensor:
    return torch.rand(2, 1, 24, 24, generator=torch.Generator().manual_seed(0))


def test_wne_network_is_exactly_equivariant():
    net = _randomized(build_network({'type': 'WNE', 'backbone': TINY_DNCNN}))
    assert ne_defect(net, _images(), generator=torch.Generator().manual_seed(0)) <= 1e-5


def test_ordinary_dncnn_with_biases_is_not_equivariant():
    net = _randomized(build_network(dict(TINY_DNCNN)))
    assert ne_defect(net, _images(), generator=torch.Generator().manual_seed(0)) > 1e-3


class _Doubler(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


def test_definition_matches_closed_form():
    """f(x) = 2x: f(a·y+b) − (a·f(y)+b) = b·1, so each ratio is |b|·√d / (‖2a·y + b‖ + τ)."""
    x, num_affine, tau = _images(), 3, 1e-6
    value = ne_defect(_Doubler(), x, num_affine=num_affine, tau=tau, generator=torch.Generator().manual_seed(5))
    generator = torch.Generator().manual_seed(5)
    a = 0.5 + torch.rand(num_affine, 2, 1, 1, 1, generator=generator)
    b = -0.25 + 0.5 * torch.rand(num_affine, 2, 1, 1, 1, generator=generator)
    target = (2 * a.double() * x.double() + b.double()).flatten(2).norm(dim=2)
    expected = (b.double().flatten(1).abs() * math.sqrt(x[0].numel()) / (target + tau)).mean()
    assert value == pytest.approx(float(expected), rel=1e-6)


def _averaging_conv() -> nn.Module:
    """A 3×3 convolution whose weights sum to 1, no bias: exactly NE in exact arithmetic, and autocast reaches it."""
    conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode='replicate', bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.rand(conv.weight.shape, generator=torch.Generator().manual_seed(2)))
        conv.weight /= conv.weight.sum()
    return conv


def test_measures_in_fp32_inside_a_caller_autocast_region_and_in_the_dtype_it_is_given():
    """A caller's bf16 autocast does not leak in (nor does a bf16 input); ``dtype`` runs the passes in that dtype."""
    net, x = _averaging_conv(), _images()
    fp32 = ne_defect(net, x, generator=torch.Generator().manual_seed(0))
    assert fp32 < 1e-6
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert ne_defect(net, x, generator=torch.Generator().manual_seed(0)) == fp32
    rounded = x.bfloat16()
    assert ne_defect(net, rounded, generator=torch.Generator().manual_seed(0)) == ne_defect(
        net, rounded.float(), generator=torch.Generator().manual_seed(0))
    bf16 = ne_defect(net, x, generator=torch.Generator().manual_seed(0), dtype=torch.bfloat16)
    assert 1e-4 < bf16 < 1e-1  # bf16 keeps 8 mantissa bits: round-off near 2⁻⁹ of each value


def test_restores_training_mode_and_tf32_flags():
    net = _randomized(build_network(dict(TINY_DNCNN))).train()
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = True, True
    try:
        running_mean = net.bn_layer_list[0].running_mean.clone()
        ne_defect(net, _images(), num_affine=2)
        assert net.training
        assert torch.equal(net.bn_layer_list[0].running_mean, running_mean)  # ran in eval mode
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_registered_metric_needs_the_network_and_is_seeded():
    metric = METRIC_REGISTRY.get('calculate_ne_defect')
    assert metric.needs_network and metric.better == 'lower'
    net, x = _randomized(build_network(dict(TINY_DNCNN))), _images()
    opt = {'type': 'calculate_ne_defect', 'num_affine': 2, 'better': 'lower'}
    data = {'img': x, 'img2': x, 'net': net, 'lq': x}
    first, second = calculate_metric(data, opt), calculate_metric(data, opt)
    assert first == second > 1e-3
    with pytest.raises(ValueError, match='net='):
        calculate_metric({'img': x, 'img2': x}, opt)
