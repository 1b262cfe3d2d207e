"""Tests for the Restormer architecture: parameter counts, shapes, registry, gradients and option validation."""
import pytest
import torch

import wne_basicsr  # noqa: F401  (must come before anything from basicsr)

# isort: split
from basicsr.utils.registry import ARCH_REGISTRY

from wne_basicsr.archs.restormer_arch import Restormer

SMALL = {'dim': 8, 'num_blocks': [1, 1, 1, 1], 'num_refinement_blocks': 1, 'heads': [1, 2, 4, 8]}


@pytest.mark.parametrize('channels, layer_norm_type, expected', [
    (1, 'WithBias', 26_124_052),
    (1, 'BiasFree', 26_109_076),
    (3, 'WithBias', 26_126_644),
    (3, 'BiasFree', 26_111_668),
])
def test_parameter_count(channels: int, layer_norm_type: str, expected: int) -> None:
    """The default model has exactly the published number of parameters."""
    model = Restormer(inp_channels=channels, out_channels=channels, LayerNorm_type=layer_norm_type)
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize('channels, shape', [(1, (1, 1, 37, 45)), (3, (2, 3, 40, 24)), (1, (1, 1, 5, 3))])
@pytest.mark.parametrize('layer_norm_type', ['WithBias', 'BiasFree'])
def test_output_shape(channels: int, shape: tuple, layer_norm_type: str) -> None:
    """Any spatial size comes back at the input size."""
    torch.manual_seed(0)
    model = Restormer(inp_channels=channels, out_channels=channels, LayerNorm_type=layer_norm_type, **SMALL).eval()
    with torch.no_grad():
        out = model(torch.rand(shape))
    assert out.shape == shape
    assert torch.isfinite(out).all()


def test_different_in_out_channels() -> None:
    """Without the global residual the output has out_channels channels."""
    model = Restormer(inp_channels=3, out_channels=1, **SMALL).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 19, 21))
    assert out.shape == (1, 1, 19, 21)


def test_registry() -> None:
    """The architecture is registered in BasicSR's ARCH_REGISTRY under its class name."""
    assert ARCH_REGISTRY.get('Restormer') is Restormer


def test_gradients_reach_every_parameter() -> None:
    """A backward pass yields a gradient for every parameter."""
    torch.manual_seed(0)
    model = Restormer(**SMALL)
    model(torch.rand(2, 1, 16, 16)).square().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_bad_layer_norm_type() -> None:
    """An unknown LayerNorm_type is rejected with a message naming the option."""
    with pytest.raises(ValueError, match='LayerNorm_type'):
        Restormer(LayerNorm_type='Nope', **SMALL)
