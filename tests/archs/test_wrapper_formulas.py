"""Each wrapper and pred_mode against its formula, with a backbone whose output is known (g(z) = 2z + 0.5): a sign
error, a missing rescale or an identity would pass the equivariance tests but fails these."""
import pytest
import torch
from torch import nn

import wne_basicsr  # noqa: F401

# isort: split
from wne_basicsr import WNE, ScaleEquivariant, WNEInput


class Affine(nn.Module):
    """g(z) = 2·z + 0.5, elementwise: a backbone whose output is known."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 2 * z + 0.5


def image(seed: int = 0) -> torch.Tensor:
    return torch.rand(3, 2, 9, 7, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def stats(x: torch.Tensor, correction: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over C·H·W per instance, written out (not through the package)."""
    flat = x.flatten(1)
    mean = flat.sum(1) / flat.shape[1]
    var = ((flat - mean[:, None]) ** 2).sum(1) / (flat.shape[1] - correction)
    return mean.view(-1, 1, 1, 1), var.sqrt().view(-1, 1, 1, 1)


@pytest.mark.parametrize('std_mode, correction', [('unbiased', 1), ('population', 0)])
def test_wne_direct_is_s_g_z_plus_mu(std_mode, correction):
    x = image()
    mu, s = stats(x, correction)
    expected = s * (2 * (x - mu) / s + 0.5) + mu
    out = WNE(Affine(), pred_mode='direct', std_mode=std_mode)(x)
    assert torch.allclose(out, expected, atol=1e-12)
    assert torch.allclose(out, 2 * x - mu + 0.5 * s, atol=1e-12)


def test_wne_residual_is_x_minus_s_g_z():
    x = image(1)
    mu, s = stats(x)
    out = WNE(Affine(), pred_mode='residual')(x)
    assert torch.allclose(out, x - s * (2 * (x - mu) / s + 0.5), atol=1e-12)
    assert torch.allclose(out, 2 * mu - x - 0.5 * s, atol=1e-12)


@pytest.mark.parametrize('pred_mode', ['direct', 'residual'])
def test_wne_input_returns_g_z_without_denormalizing(pred_mode):
    x = image(2)
    mu, s = stats(x)
    g = 2 * (x - mu) / s + 0.5
    out = WNEInput(Affine(), pred_mode=pred_mode)(x)
    assert torch.allclose(out, g if pred_mode == 'direct' else x - g, atol=1e-12)


@pytest.mark.parametrize('pred_mode', ['direct', 'residual'])
def test_scale_equivariant_uses_the_uncentred_rms(pred_mode):
    x = image(3)
    rms = x.flatten(1).square().mean(1).sqrt().view(-1, 1, 1, 1)
    g = 2 * x / rms + 0.5
    out = ScaleEquivariant(Affine(), pred_mode=pred_mode)(x)
    assert torch.allclose(out, rms * g if pred_mode == 'direct' else x - rms * g, atol=1e-12)


def test_degenerate_inputs_take_the_zero_std_guard():
    constant = torch.full((2, 1, 5, 6), 0.3, dtype=torch.float64)
    assert torch.equal(WNE(Affine())(constant), constant)  # s = 0: the input itself, in both modes
    assert torch.equal(WNE(Affine(), pred_mode='residual')(constant), constant)
    assert torch.allclose(WNEInput(Affine())(constant), torch.full_like(constant, 0.5))  # z = 0, so g(0)
    zero = torch.zeros(2, 1, 5, 6, dtype=torch.float64)
    assert torch.equal(ScaleEquivariant(Affine())(zero), zero)


def test_float32_input_stays_float32_and_float64_is_computed_in_float64():
    x = image(4)
    assert WNE(Affine())(x).dtype == torch.float64
    assert WNE(Affine())(x.float()).dtype == torch.float32
