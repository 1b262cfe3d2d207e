"""Soft-NE: α/m draws, the transform and its inverse, and the loss DenoisingModel optimizes, by hand."""
import copy

import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.models import build_model

from wne_basicsr.losses.soft_ne_loss import SoftNE


def test_transform_and_inverse_by_hand():
    soft_ne = SoftNE((0.5, 0.5), (0.25, 0.25))
    alpha, m = soft_ne.draw(2)
    assert alpha.shape == m.shape == (2, 1, 1, 1)
    assert alpha.unique().tolist() == [0.5] and m.unique().tolist() == [0.25]
    y = torch.tensor([[[[0.0, 0.2], [0.4, 1.0]]]])
    t = torch.tensor([[[[0.1, 0.1], [0.5, 0.9]]]])
    ty, tt = soft_ne.apply(y, alpha[:1], m[:1]), soft_ne.apply(t, alpha[:1], m[:1])
    assert torch.allclose(ty, torch.tensor([[[[0.25, 0.35], [0.45, 0.75]]]]))
    # with f = identity, L1 = mean |α·y + m − (α·t + m)| = 0.5 · mean |y − t| = 0.5 · 0.1
    assert torch.nn.functional.l1_loss(ty, tt).item() == pytest.approx(0.05)
    assert torch.allclose(soft_ne.invert(ty, alpha[:1], m[:1]), y)
    assert soft_ne.invert(torch.ones(1), torch.zeros(1), torch.zeros(1)).item() == pytest.approx(1e6)  # max(α, eps)


def test_draws_follow_torch_seed_and_ranges():
    soft_ne = SoftNE.from_opt({'alpha': [0.2, 0.6], 'mu': [-1, 1]})
    torch.manual_seed(3)
    alpha, m = soft_ne.draw(1000)
    torch.manual_seed(3)
    assert torch.equal(alpha, soft_ne.draw(1000)[0])
    assert 0.2 <= alpha.min() and alpha.max() <= 0.6 and -1 <= m.min() and m.max() <= 1
    assert alpha.unique().numel() == 1000 and abs(m.mean().item()) < 0.1


@pytest.mark.parametrize('opt, message', [
    ({'alpha': [1, 0]}, 'lo <= hi'),
    ({'alpha': [-0.5, 1]}, 'alpha must be >= 0'),
    ({'mu': 0.5}, r'\[lo, hi\]'),
    ({'beta': [0, 1]}, 'unknown keys'),
    ('on', 'expected a dict'),
])
def test_bad_options_are_named(opt, message):
    with pytest.raises(ValueError, match=message):
        SoftNE.from_opt(opt)
    assert SoftNE.from_opt(None) is None
    assert SoftNE.from_opt({}) == SoftNE((0.0, 1.0), (0.0, 1.0))


def test_model_optimizes_the_transformed_loss_and_logs_mapped_back(tmp_path):
    opt = {
        'name': 'soft', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': True, 'dist': False,
        'network_g': {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'scheduler': {'type': 'MultiStepLR',
                  'milestones': [100], 'gamma': 0.5}, 'total_iter': 1, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss'}, 'soft_ne': {'alpha': [0.5, 0.5], 'mu': [0.25, 0.25]}},
    }
    torch.manual_seed(0)
    model = build_model(opt)
    gt = torch.rand(2, 1, 12, 12)
    batch = {'lq': gt + 0.1 * torch.randn_like(gt), 'gt': gt}
    net = copy.deepcopy(model.net_g)
    with torch.no_grad():
        out = net(0.5 * batch['lq'] + 0.25)
    expected = (out - (0.5 * gt + 0.25)).abs().mean().item()
    model.feed_data(batch)
    model.optimize_parameters(1)
    assert model.get_current_log()['l_pix'] == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(model.output, (out - 0.25) / 0.5, atol=1e-6)
    plain = build_model({**opt, 'train': {k: v for k, v in opt['train'].items() if k != 'soft_ne'}})
    assert plain.soft_ne is None
