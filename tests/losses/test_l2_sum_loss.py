"""L2SumLoss: Σ(out − t)²/(2·B), registered under a name BasicSR does not use."""
import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.losses import build_loss


def test_value_by_hand():
    pred = torch.tensor([[[[1.0, 2.0]]], [[[0.0, -1.0]]]])  # B = 2, C·H·W = 2
    target = torch.tensor([[[[0.0, 0.0]]], [[[1.0, 1.0]]]])
    # squared errors 1 + 4 + 1 + 4 = 10, divided by 2·B = 4
    assert build_loss({'type': 'L2SumLoss'})(pred, target).item() == pytest.approx(2.5)
    assert build_loss({'type': 'L2SumLoss', 'loss_weight': 2.0})(pred, target).item() == pytest.approx(5.0)


def test_l1_and_l2_are_basicsr_losses():
    pred, target = torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 0.5)
    assert build_loss({'type': 'L1Loss'})(pred, target).item() == pytest.approx(0.5)
    assert build_loss({'type': 'MSELoss'})(pred, target).item() == pytest.approx(0.25)
