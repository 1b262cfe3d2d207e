"""Options of a toy DenoisingModel (a small WNE(DnCNN), Adam, MSE) for the model tests; folders under tmp_path."""
from __future__ import annotations

import copy

NETWORK = {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}}


def toy_options(tmp_path, amp: str | None = None, **top) -> dict:
    """Training options of the toy model with ``train.amp`` if given; ``top`` replaces top-level options."""
    for folder in ('models', 'states'):
        (tmp_path / folder).mkdir(exist_ok=True)
    opt = {
        'name': 'toy', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': True, 'dist': False,
        'rank': 0, 'world_size': 1, 'auto_resume': False, 'datasets': {}, 'network_g': copy.deepcopy(NETWORK),
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None,
                 'models': str(tmp_path / 'models'), 'training_states': str(tmp_path / 'states')},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5}, 'total_iter': 10,
                  'warmup_iter': -1, 'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0}},
    }
    if amp is not None:
        opt['train']['amp'] = amp
    return {**opt, **top}
