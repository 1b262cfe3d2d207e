"""Every image-to-image arch in BasicSR's registry, and ours, inside WNE: same shape, exact NE, one training step.

The table is in docs/api.md (Arbitrary backbones); ``test_every_registered_arch_is_classified`` makes a newly
registered arch fail until it is added to ``WORKS`` or ``CANNOT``.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import wne_basicsr  # noqa: F401  (must come before anything from basicsr)

# isort: split
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY

HEIGHT, WIDTH = 37, 29  # odd on purpose: the wrapper pads to window/unshuffle multiples and crops back
AFFINE = [(1.7, 0.3), (0.4, -0.6)]
SWINIR_SMALL = {'upscale': 1, 'upsampler': '', 'img_size': 16, 'window_size': 4, 'img_range': 1.0, 'depths': [1],
                'embed_dim': 12, 'num_heads': [2], 'mlp_ratio': 2, 'resi_connection': '1conv'}
DNCNN_SMALL = {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}

# case id -> (channels, WNE options besides type/pred_mode, with a small ``backbone``)
WORKS: dict[str, tuple[int, dict]] = {
    'DnCNN': (1, {'backbone': {**DNCNN_SMALL, 'num_layers': 4}}),
    **{f'FDnCNN-{mode}': (1, {'backbone': {'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 4, 'mode': mode}})
       for mode in ('ordinary', 'scale_equiv', 'norm_equiv')},
    'Restormer': (1, {'backbone': {'type': 'Restormer', 'dim': 8, 'num_blocks': [1, 1, 1, 1],
                                   'num_refinement_blocks': 1, 'heads': [1, 2, 4, 8]}}),
    'SwinIRDenoiser': (3, {'backbone': {'type': 'SwinIRDenoiser', 'in_chans': 3, **SWINIR_SMALL}}),
    'SwinIR': (1, {'backbone': {'type': 'SwinIR', 'in_chans': 1, **SWINIR_SMALL}}),
    'EDSR': (3, {'backbone': {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 2,
                              'upscale': 1}}),
    'RCAN': (3, {'backbone': {'type': 'RCAN', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_group': 1,
                              'num_block': 2, 'squeeze_factor': 4, 'upscale': 1}}),
    'RRDBNet': (1, {'pad_multiple': 4, 'backbone': {'type': 'RRDBNet', 'num_in_ch': 1, 'num_out_ch': 1, 'scale': 1,
                                                    'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4}}),
    'SRVGGNetCompact_basicsr': (1, {'backbone': {'type': 'SRVGGNetCompact_basicsr', 'num_in_ch': 1, 'num_out_ch': 1,
                                                 'num_feat': 8, 'num_conv': 2, 'upscale': 1}}),
    'ECBSR': (1, {'backbone': {'type': 'ECBSR', 'num_in_ch': 1, 'num_out_ch': 1, 'num_block': 2, 'num_channel': 8,
                               'with_idt': True, 'act_type': 'prelu', 'scale': 1}}),
    'RIDNet': (3, {'backbone': {'type': 'RIDNet', 'in_channels': 3, 'mid_channels': 16, 'out_channels': 3,
                                'num_block': 1}}),
    **{f'{wrapper}-DnCNN': (1, {'backbone': {'type': wrapper, 'backbone': DNCNN_SMALL}})
       for wrapper in ('WNE', 'WNEInput', 'ScaleEquivariant', 'MeanShift')},
}

CANNOT: dict[str, str] = {
    'MSRResNet': 'supports upscale 2, 3, 4 only: at upscale 1 the constructor fails (no upconv1)',
    'BasicVSR': 'video: maps a B×T×C×H×W clip through SpyNet optical flow',
    'IconVSR': 'video: maps a B×T×C×H×W clip (SpyNet flow, EDVR key-frame features)',
    'BasicVSRPlusPlus': 'video: maps a B×T×C×H×W clip through SpyNet optical flow',
    'EDVR': 'video: maps a B×T×C×H×W clip to its centre frame',
    'DUF': 'video: B×T×C×H×W clip, upsampling filters for scale 2, 3, 4 only',
    'TOFlow': 'video: B×T×C×H×W clip with SpyNet-style flow',
    'SpyNet': 'optical flow between two frames, not an image-to-image map',
    'HiFaceGAN': 'runs inside WNE (pad_multiple: 32) and trains, but its InstanceNorms on near-constant channels '
                 'amplify fp32 round-off up to 1/sqrt(eps) ≈ 316×: NE defect 5e-6 to 5e-5, not ≤ 1e-5',
    'DFDNet': 'face restoration needing a facial-component dictionary file and VGG19 weights (a download)',
    'StyleGAN2Generator': 'generator: maps latent style vectors to an image, takes no image',
    'StyleGAN2Discriminator': 'GAN discriminator: image to a real/fake score',
    'VGGStyleDiscriminator': 'GAN discriminator: image to a real/fake score',
    'HiFaceGANDiscriminator': 'GAN discriminator: multiscale real/fake feature maps',
    'UNetDiscriminatorSN_basicsr': 'GAN discriminator: image to a 1-channel per-pixel real/fake logit map',
    'VGGFeatureExtractor': 'feature extractor for perceptual losses, builds pretrained VGG weights (a download)',
}


def ne_defect(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max|out − ref| / max|ref|."""
    return float((out - ref).abs().max() / ref.abs().max())


def build_wne(case: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """WNE around the small backbone of ``case``, built from a YAML-style options dict, and an odd-sized input."""
    channels, options = WORKS[case]
    torch.manual_seed(0)
    net = build_network({'type': 'WNE', 'pred_mode': 'direct', **options})
    x = torch.rand(1, channels, HEIGHT, WIDTH) + 0.1 * torch.randn(1, channels, HEIGHT, WIDTH)
    return net, x


def test_every_registered_arch_is_classified():
    """Each arch in ARCH_REGISTRY is either tested inside WNE below or listed in CANNOT with a reason."""
    works = {options['backbone']['type'] for _, options in WORKS.values()}
    assert not works & set(CANNOT)
    assert sorted(set(ARCH_REGISTRY.keys()) - works - set(CANNOT)) == []
    assert sorted((works | set(CANNOT)) - set(ARCH_REGISTRY.keys())) == []


@pytest.mark.parametrize('case', list(WORKS))
def test_wne_backbone_is_exactly_normalization_equivariant(case: str):
    """Eval mode: output of the input's odd shape, and f(a·x + b) = a·f(x) + b to fp32 round-off."""
    net, x = build_wne(case)
    net.eval()
    with torch.no_grad():
        out = net(x)
        assert out.shape == x.shape and torch.isfinite(out).all()
        for a, b in AFFINE:
            assert ne_defect(net(a * x + b), a * out + b) <= 1e-5


@pytest.mark.parametrize('case', list(WORKS))
def test_wne_backbone_trains(case: str):
    """Train mode: one Adam step on an MSE loss is finite and moves the backbone's parameters."""
    net, x = build_wne(case)
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    loss = F.mse_loss(net(x), torch.rand_like(x))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in params if p.grad is not None)
    assert any(not torch.equal(p0, p.detach()) for p0, p in zip(before, params))
