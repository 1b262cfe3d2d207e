"""DenoisingModel with ``train.ema_decay`` and a BatchNorm backbone: the EMA network validates and resumes with the
running statistics of net_g, whatever the memory format, compilation or wrapper."""
import copy

import pytest
import torch
from torch.nn.parallel import DataParallel

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataloader, build_dataset
from basicsr.models import build_model

from wne_basicsr.resume import load_resume_state

DNCNN = {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}}  # BatchNorm2d layers


def ema_options(tmp_path, val_root: str | None = None, **top) -> dict:
    opt = {
        'name': 'toy', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': True, 'dist': False,
        'rank': 0, 'world_size': 1, 'auto_resume': False, 'datasets': {}, 'network_g': copy.deepcopy(DNCNN),
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None,
                 'visualization': str(tmp_path / 'vis'), 'models': str(tmp_path / 'models'),
                 'training_states': str(tmp_path / 'states')},
        'train': {'ema_decay': 0.9, 'optim_g': {'type': 'Adam', 'lr': 1e-2},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [1000], 'gamma': 0.5}, 'total_iter': 100,
                  'warmup_iter': -1, 'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0}},
        'val': {'metrics': {'psnr_float': {'type': 'calculate_psnr_float'}}},
    }
    if val_root is not None:
        opt['datasets']['val'] = {'name': 'toy_sigma25', 'type': 'NoisyEvalDataset', 'phase': 'val',
                                  'dataroot_gt': val_root, 'color': 'gray', 'noise': {'type': 'gaussian', 'sigma': 25}}
    for folder in ('models', 'states'):
        (tmp_path / folder).mkdir(exist_ok=True)
    return {**opt, **top}


def train(model, steps: int, seed: int = 0) -> None:
    """``steps`` steps on smooth 24×24 images with σ=25 noise."""
    generator = torch.Generator().manual_seed(seed)
    for it in range(1, steps + 1):
        gt = torch.nn.functional.interpolate(torch.rand(4, 1, 4, 4, generator=generator), size=(24, 24),
                                             mode='bilinear')
        model.feed_data({'lq': gt + 25 / 255 * torch.randn(gt.shape, generator=generator), 'gt': gt})
        model.optimize_parameters(it)


def buffers(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return dict(net.named_buffers())


def test_the_ema_network_validates_with_the_running_statistics_of_net_g(tmp_path, gray_folder, monkeypatch):
    opt = ema_options(tmp_path, gray_folder)
    torch.manual_seed(0)
    model = build_model(copy.deepcopy(opt))
    train(model, 60)
    ema, net_g = buffers(model.net_g_ema), buffers(model.net_g)
    assert ema.keys() == net_g.keys() and all(torch.equal(ema[k], net_g[k]) for k in ema)
    assert not torch.equal(ema['backbone.bn_layer_list.0.running_var'], torch.ones(8))  # trained, not initial

    val_opt = opt['datasets']['val']
    loader = build_dataloader(build_dataset(val_opt), val_opt, num_gpu=0, dist=False)
    model.validation(loader, 60, None, save_img=False)
    psnr_ema = model.metric_results['psnr_float']
    monkeypatch.setattr(model, 'inference_network', lambda: model.net_g)
    model.validation(loader, 60, None, save_img=False)
    psnr_net_g = model.metric_results['psnr_float']
    assert psnr_net_g > 25  # the network learnt: σ=25 noise alone is about 20 dB
    assert abs(psnr_ema - psnr_net_g) < 0.5, (psnr_ema, psnr_net_g)


@pytest.mark.parametrize('top', [{'channels_last': True}, {'compile': True}, {}])
def test_ema_buffers_follow_net_g_in_channels_last_compiled_and_wrapped_networks(tmp_path, top):
    model = build_model(ema_options(tmp_path, **top))
    if not top:
        model.net_g = DataParallel(model.net_g)  # a wrapper, as under DDP: its buffers are those of .module
    with torch.no_grad():
        for name, buffer in model.get_bare_model(model.net_g).named_buffers():
            buffer.copy_(torch.full_like(buffer, 3) if 'num_batches' in name else torch.rand_like(buffer))
    model.model_ema(decay=0.9)
    ema, net_g = buffers(model.net_g_ema), buffers(model.get_bare_model(model.net_g))
    assert ema.keys() == net_g.keys() and all(torch.equal(ema[k], net_g[k]) for k in ema)


def test_ema_weights_and_buffers_survive_auto_resume(tmp_path):
    torch.manual_seed(0)
    model = build_model(ema_options(tmp_path))
    train(model, 5)
    model.save(0, 5)

    opt = ema_options(tmp_path, auto_resume=True)
    state = load_resume_state(opt)  # the newest training state, and the network file of its iteration
    assert state['iter'] == 5
    torch.manual_seed(1)  # a different initialisation: everything must come from the files
    resumed = build_model(opt)
    resumed.resume_training(state)
    before, after = model.net_g_ema.state_dict(), resumed.net_g_ema.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(after[k], v) for k, v in buffers(model.net_g).items())  # net_g's statistics, not initial
