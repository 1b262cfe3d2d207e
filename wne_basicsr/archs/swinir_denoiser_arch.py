"""SwinIRDenoiser: BasicSR's own SwinIR with a zero-mean option for 3-channel inputs (docs/method.md §2.3b)."""
from __future__ import annotations

import torch
from basicsr.archs.swinir_arch import SwinIR
from basicsr.utils.registry import ARCH_REGISTRY


@ARCH_REGISTRY.register()
class SwinIRDenoiser(SwinIR):
    """BasicSR's ``SwinIR`` (same arguments and state-dict keys); ``zero_mean`` drops its DIV2K RGB-mean shift.

    BasicSR subtracts and re-adds (0.4488, 0.4371, 0.4040) when ``in_chans == 3``; the paper uses zero mean.
    """

    def __init__(self, *args, zero_mean: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.zero_mean = zero_mean
        if zero_mean:
            self.mean = torch.zeros(1, 1, 1, 1)
