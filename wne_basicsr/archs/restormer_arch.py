"""Restormer (Zamir et al., CVPR 2022): an efficient transformer for high-resolution image restoration."""
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from basicsr.utils.registry import ARCH_REGISTRY
from einops import rearrange
from torch import nn

from wne_basicsr.archs.wrapper_arch import pad_to_multiple
from wne_basicsr.errors import OptionError

_LAYER_NORM_TYPES = ('WithBias', 'BiasFree')


def _check_layer_norm_type(layer_norm_type: str) -> None:
    """Raise an OptionError unless `layer_norm_type` is one of the supported layer norm variants."""
    if layer_norm_type not in _LAYER_NORM_TYPES:
        raise OptionError(f'Restormer: LayerNorm_type must be one of {_LAYER_NORM_TYPES}, got {layer_norm_type!r}')


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels of every pixel of a (B, C, H, W) tensor, with or without a bias."""

    def __init__(self, dim: int, layer_norm_type: str = 'WithBias', eps: float = 1e-5) -> None:
        super().__init__()
        _check_layer_norm_type(layer_norm_type)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if layer_norm_type == 'WithBias' else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        scale = self.weight.view(1, -1, 1, 1) / torch.sqrt(var + self.eps)
        if self.bias is None:
            return x * scale
        return (x - mean) * scale + self.bias.view(1, -1, 1, 1)


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention: attention across channels instead of pixels."""

    def __init__(self, dim: int, num_heads: int, bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, kernel_size=3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        q, k, v = (
            rearrange(t, 'b (head c) h w -> b head c (h w)', head=self.num_heads)
            for t in self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        )
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        out = rearrange(attn @ v, 'b head c (h w) -> b (head c) h w', h=h, w=w)
        return self.project_out(out)


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network: a GELU-gated, depthwise-convolved expansion."""

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class TransformerBlock(nn.Module):
    """Pre-norm residual block: x + MDTA(LN(x)), then x + GDFN(LN(x))."""

    def __init__(self, dim: int, num_heads: int, ffn_expansion_factor: float, bias: bool,
                 layer_norm_type: str) -> None:
        super().__init__()
        self.norm1 = ChannelLayerNorm(dim, layer_norm_type)
        self.attn = MDTA(dim, num_heads, bias)
        self.norm2 = ChannelLayerNorm(dim, layer_norm_type)
        self.ffn = GDFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def _down(dim: int, bias: bool) -> nn.Sequential:
    """Halve the resolution and double the channels: 3x3 conv dim -> dim/2, then PixelUnshuffle(2)."""
    return nn.Sequential(nn.Conv2d(dim, dim // 2, kernel_size=3, padding=1, bias=bias), nn.PixelUnshuffle(2))


def _up(dim: int, bias: bool) -> nn.Sequential:
    """Double the resolution and halve the channels: 3x3 conv dim -> 2*dim, then PixelShuffle(2)."""
    return nn.Sequential(nn.Conv2d(dim, dim * 2, kernel_size=3, padding=1, bias=bias), nn.PixelShuffle(2))


@ARCH_REGISTRY.register()
class Restormer(nn.Module):
    """Four-level U-shaped transformer with MDTA/GDFN blocks, a refinement stage and a global residual."""

    pads_internally = True  # any H×W: reflect-pads to a multiple of 8 and crops back

    def __init__(self, inp_channels: int = 1, out_channels: int = 1, dim: int = 48,
                 num_blocks: Sequence[int] = (4, 6, 6, 8), num_refinement_blocks: int = 4,
                 heads: Sequence[int] = (1, 2, 4, 8), ffn_expansion_factor: float = 2.66, bias: bool = False,
                 LayerNorm_type: str = 'WithBias') -> None:
        super().__init__()
        _check_layer_norm_type(LayerNorm_type)
        self.residual = inp_channels == out_channels

        def stage(channels: int, count: int, num_heads: int) -> nn.Sequential:
            return nn.Sequential(*(TransformerBlock(channels, num_heads, ffn_expansion_factor, bias, LayerNorm_type)
                                   for _ in range(count)))

        self.patch_embed = nn.Conv2d(inp_channels, dim, kernel_size=3, padding=1, bias=bias)
        self.encoder_level1 = stage(dim, num_blocks[0], heads[0])
        self.down1_2 = _down(dim, bias)
        self.encoder_level2 = stage(dim * 2, num_blocks[1], heads[1])
        self.down2_3 = _down(dim * 2, bias)
        self.encoder_level3 = stage(dim * 4, num_blocks[2], heads[2])
        self.down3_4 = _down(dim * 4, bias)
        self.latent = stage(dim * 8, num_blocks[3], heads[3])

        self.up4_3 = _up(dim * 8, bias)
        self.reduce_chan_level3 = nn.Conv2d(dim * 8, dim * 4, kernel_size=1, bias=bias)
        self.decoder_level3 = stage(dim * 4, num_blocks[2], heads[2])
        self.up3_2 = _up(dim * 4, bias)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, kernel_size=1, bias=bias)
        self.decoder_level2 = stage(dim * 2, num_blocks[1], heads[1])
        self.up2_1 = _up(dim * 2, bias)
        self.decoder_level1 = stage(dim * 2, num_blocks[0], heads[0])

        self.refinement = stage(dim * 2, num_refinement_blocks, heads[0])
        self.output = nn.Conv2d(dim * 2, out_channels, kernel_size=3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inp, h, w = pad_to_multiple(x, 8)

        enc1 = self.encoder_level1(self.patch_embed(inp))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        latent = self.latent(self.down3_4(enc3))

        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(latent), enc3], dim=1)))
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], dim=1)))
        dec1 = self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], dim=1))

        out = self.output(self.refinement(dec1))
        if self.residual:
            out = out + inp
        return out[..., :h, :w]
