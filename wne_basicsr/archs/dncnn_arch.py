"""DnCNN (Zhang et al. 2017, as in Mohan et al. 2020): residual denoiser, ordinary or bias-free."""
from __future__ import annotations

import math

from basicsr.utils.registry import ARCH_REGISTRY
from torch import Tensor, nn

from wne_basicsr.archs.affine_layers import BiasFreeBatchNorm2d
from wne_basicsr.errors import OptionError

BN_WEIGHT_CLAMP = 0.025


@ARCH_REGISTRY.register()
class DnCNN(nn.Module):
    """conv+ReLU, (num_layers−2)×[conv, BN, ReLU], conv; returns y − net(y). ``bias_free`` drops every bias."""

    def __init__(self, num_in_ch: int = 1, num_feat: int = 64, num_layers: int = 20, bias_free: bool = False) -> None:
        super().__init__()
        if num_layers < 2:
            raise OptionError(f'DnCNN: num_layers must be at least 2, got {num_layers}')
        bias = not bias_free
        self.first_layer = nn.Conv2d(num_in_ch, num_feat, 3, padding=1, bias=bias)
        self.hidden_layer_list = nn.ModuleList(
            nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=bias) for _ in range(num_layers - 2))
        norm = BiasFreeBatchNorm2d if bias_free else nn.BatchNorm2d
        self.bn_layer_list = nn.ModuleList(norm(num_feat) for _ in range(num_layers - 2))
        self.last_layer = nn.Conv2d(num_feat, num_in_ch, 3, padding=1, bias=bias)
        self.relu = nn.ReLU(inplace=True)
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming-normal convs, zero biases; BN weights ~ N(0, √(2/(9·64))) clamped to ±0.025 (docs/method.md §2.1)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0, mode='fan_in')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, BiasFreeBatchNorm2d)):
                m.weight.data.normal_(0, math.sqrt(2.0 / (9.0 * 64.0))).clamp_(-BN_WEIGHT_CLAMP, BN_WEIGHT_CLAMP)
                if getattr(m, 'bias', None) is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.first_layer(x))
        for conv, bn in zip(self.hidden_layer_list, self.bn_layer_list):
            out = self.relu(bn(conv(out)))
        return x - self.last_layer(out)
