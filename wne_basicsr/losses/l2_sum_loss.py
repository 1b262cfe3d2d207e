"""The paper's ``l2_sum`` loss Σ(out − t)²/(2·B) (docs/method.md §3.2); l1 and l2 are BasicSR's L1Loss/MSELoss."""
from __future__ import annotations

from basicsr.losses.basic_loss import mse_loss
from basicsr.utils.registry import LOSS_REGISTRY
from torch import Tensor, nn


@LOSS_REGISTRY.register()
class L2SumLoss(nn.Module):
    """Sum of squared errors over C·H·W and the batch, divided by twice the batch size, times ``loss_weight``."""

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None, **kwargs) -> Tensor:
        return self.loss_weight * mse_loss(pred, target, weight, reduction='sum') / (2 * pred.shape[0])
