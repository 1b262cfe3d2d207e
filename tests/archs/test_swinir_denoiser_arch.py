"""SwinIRDenoiser (BasicSR's SwinIR, zero mean) and BasicSR's SwinIR as WNE backbones: counts, keys, padding, masks."""
import pytest
import torch

import wne_basicsr  # noqa: F401  (must come before anything from basicsr)

# isort: split
from basicsr.archs import build_network
from basicsr.archs.swinir_arch import SwinIR
from basicsr.utils.registry import ARCH_REGISTRY

from wne_basicsr.archs.swinir_denoiser_arch import SwinIRDenoiser
from wne_basicsr.archs.wrapper_arch import WNE, pad_to_multiple, window_multiple

LITE = {'upscale': 1, 'img_size': 64, 'window_size': 8, 'img_range': 1.0, 'depths': [6, 6, 6, 6], 'embed_dim': 60,
        'num_heads': [6, 6, 6, 6], 'mlp_ratio': 2, 'upsampler': '', 'resi_connection': '1conv'}
SMALL = {**LITE, 'img_size': 16, 'depths': [2], 'embed_dim': 12, 'num_heads': [2]}
RGB_MEAN = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)


@pytest.mark.parametrize('arch, channels, expected', [
    (SwinIR, 1, 903_121), (SwinIRDenoiser, 1, 903_121), (SwinIR, 3, 905_283), (SwinIRDenoiser, 3, 905_283)])
def test_lite_parameter_count(arch, channels, expected):
    """SwinIR lite (docs/method.md §2.3) has the published parameter count, with or without zero mean."""
    assert sum(p.numel() for p in arch(in_chans=channels, **LITE).parameters()) == expected


def test_registered_with_basicsr_state_dict_keys():
    """Registered under its own name; its state dict loads strictly into BasicSR's SwinIR and back."""
    assert ARCH_REGISTRY.get('SwinIRDenoiser') is SwinIRDenoiser
    ours = build_network({'type': 'SwinIRDenoiser', 'in_chans': 3, **SMALL})
    theirs = SwinIR(in_chans=3, **SMALL)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)


def test_zero_mean_drops_the_rgb_mean_shift():
    """zero_mean: f(x) = BasicSR's f(x + rgb_mean) − rgb_mean; zero_mean=False is BasicSR's SwinIR exactly."""
    torch.manual_seed(0)
    theirs = SwinIR(in_chans=3, **SMALL).eval()
    zero = SwinIRDenoiser(in_chans=3, **SMALL).eval()
    shifted = SwinIRDenoiser(in_chans=3, zero_mean=False, **SMALL).eval()
    for net in (zero, shifted):
        net.load_state_dict(theirs.state_dict())
    x = torch.rand(2, 3, 16, 24)
    with torch.no_grad():
        assert torch.equal(shifted(x), theirs(x))
        assert torch.allclose(zero(x), theirs(x + RGB_MEAN) - RGB_MEAN, atol=1e-6)
        assert not torch.allclose(zero(x), theirs(x), atol=1e-4)


@pytest.mark.parametrize('arch', ['SwinIR', 'SwinIRDenoiser'])
def test_wne_pads_to_window_8(arch):
    """window_multiple finds the Swin window (8), so WNE reflect-pads the normalized image to multiples of 8."""
    backbone = {'type': arch, 'in_chans': 1, **LITE}
    assert window_multiple(build_network(backbone)) == 8
    assert build_network({'type': 'WNE', 'backbone': backbone}).pad_multiple == 8


def test_wne_output_is_padded_backbone_output_cropped():
    """At 37×45 WNE equals s·crop(g(reflect_pad(z))) + μ with statistics of the unpadded image."""
    torch.manual_seed(1)
    net = WNE({'type': 'SwinIR', 'in_chans': 1, **SMALL}).eval()
    x = torch.rand(2, 1, 37, 45)
    mean = x.flatten(1).mean(1).view(-1, 1, 1, 1)
    std = x.flatten(1).std(1).view(-1, 1, 1, 1)
    padded, h, w = pad_to_multiple((x - mean) / std, 8)
    assert padded.shape[-2:] == (40, 48)
    with torch.no_grad():
        expected = std * net.backbone(padded)[..., :h, :w] + mean
        assert torch.allclose(net(x), expected, atol=1e-6)


def test_attention_masks_recomputed_at_other_sizes_match_the_stored_ones():
    """Off img_size BasicSR recomputes masks: same as the stored buffers at img_size, all zero for unshifted blocks."""
    torch.manual_seed(2)
    net = SwinIR(in_chans=1, **SMALL).eval()
    blocks = [m for m in net.modules() if hasattr(m, 'calculate_mask')]
    assert [b.shift_size for b in blocks] == [0, 4]
    assert torch.equal(blocks[1].calculate_mask((16, 16)), blocks[1].attn_mask)
    assert not blocks[0].calculate_mask((40, 48)).any()
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        stored = net(x)
        for block in blocks:
            block.input_resolution = (0, 0)  # forces BasicSR's recompute branch at 16×16
        assert torch.equal(net(x), stored)
