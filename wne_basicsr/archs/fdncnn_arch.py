"""FDnCNN (after DPIR / Herbreteau et al. 2023): plain blind CNN with a direct clean output, in three modes."""
from __future__ import annotations

from basicsr.utils.registry import ARCH_REGISTRY
from torch import Tensor, nn

from wne_basicsr.archs.affine_layers import AffineConv2d, SortPool
from wne_basicsr.errors import OptionError

MODES = ('ordinary', 'scale_equiv', 'norm_equiv')


@ARCH_REGISTRY.register()
class FDnCNN(nn.Module):
    """conv act, (num_layers−2)×[conv act], conv, no BN and no skip.

    ``ordinary``: biases except the last conv, zero padding, ReLU. ``scale_equiv``: bias-free (exactly SE).
    ``norm_equiv``: affine convs, SortPool, reflect padding (exactly NE).
    """

    def __init__(self, num_in_ch: int = 1, num_feat: int = 64, num_layers: int = 20, mode: str = 'ordinary') -> None:
        super().__init__()
        if mode not in MODES:
            raise OptionError(f'FDnCNN: mode must be one of {MODES}, got {mode!r}')
        if num_layers < 2:
            raise OptionError(f'FDnCNN: num_layers must be at least 2, got {num_layers}')
        if mode == 'norm_equiv' and num_feat % 2:
            raise OptionError(f'FDnCNN: norm_equiv needs an even num_feat for SortPool, got {num_feat}')
        self.mode = mode
        channels = [num_in_ch] + [num_feat] * (num_layers - 1) + [num_in_ch]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            last = i == num_layers - 1
            if mode == 'norm_equiv':
                layers.append(AffineConv2d(c_in, c_out, 3))
            else:
                layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=mode == 'ordinary' and not last))
            if not last:
                layers.append(SortPool() if mode == 'norm_equiv' else nn.ReLU(inplace=True))
        self.fdncnn = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.fdncnn(x)
