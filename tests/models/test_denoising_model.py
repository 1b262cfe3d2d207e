"""DenoisingModel: colour checks, input checks, training step and its log, validation metrics on the bare network."""
import copy

import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.data import build_dataloader, build_dataset
from basicsr.models import build_model


def model_options(tmp_path, root, network=None, color='gray') -> dict:
    val = {'name': 'toy_sigma25', 'type': 'NoisyEvalDataset', 'phase': 'val', 'dataroot_gt': root, 'color': color,
           'noise': {'type': 'gaussian', 'sigma': 25}}
    return {
        'name': 'toy', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': True, 'dist': False,
        'rank': 0, 'world_size': 1,
        'datasets': {'val': val},
        'network_g': network or {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None,
                 'visualization': str(tmp_path / 'vis'), 'models': str(tmp_path / 'models'),
                 'training_states': str(tmp_path / 'states')},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'scheduler': {'type': 'MultiStepLR',
                  'milestones': [100], 'gamma': 0.5}, 'total_iter': 10, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0}},
        'val': {'save_img': True, 'metrics': {'psnr_float': {'type': 'calculate_psnr_float'},
                                              'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}},
    }


def test_rgb_data_with_a_gray_network_is_refused(tmp_path, rgb_folder):
    with pytest.raises(ValueError, match=r"color='rgb'.*takes 1 channel"):
        build_model(model_options(tmp_path, rgb_folder, color='rgb'))


def test_training_steps_reduce_the_loss(tmp_path, gray_folder):
    torch.manual_seed(0)
    model = build_model(model_options(tmp_path, gray_folder))
    gt = torch.nn.functional.interpolate(torch.rand(4, 1, 3, 3), size=(24, 24), mode='bilinear')  # smooth images
    batch = {'lq': gt + 0.1 * torch.randn_like(gt), 'gt': gt}
    losses = []
    for it in range(1, 41):
        model.feed_data(batch)
        model.optimize_parameters(it)
        losses.append(model.get_current_log()['l_pix'])
    assert sum(losses[-5:]) < 0.8 * sum(losses[:5])
    assert 'psnr_train' in model.get_current_log()


def test_validation_float_and_uint8_psnr_on_bare_network(tmp_path, gray_folder):
    opt = model_options(tmp_path, gray_folder)
    model = build_model(copy.deepcopy(opt))
    val_opt = opt['datasets']['val']
    loader = build_dataloader(build_dataset(val_opt), val_opt, num_gpu=0, dist=False)
    model.validation(loader, 7, None, save_img=True)
    results = model.metric_results
    assert set(results) == {'psnr_float', 'psnr'}
    assert 20 < results['psnr_float'] < 60 and abs(results['psnr_float'] - results['psnr']) < 0.3
    assert model.best_metric_results['toy_sigma25']['psnr_float']['iter'] == 7
    assert (tmp_path / 'vis' / 'img000' / 'img000_7.png').is_file()
    assert model.net_g.training  # validation leaves the training network in train mode


def test_swinir_baseline_is_padded_to_its_window(tmp_path, gray_folder):
    swinir = {'type': 'SwinIR', 'upscale': 1, 'in_chans': 1, 'img_size': 16, 'window_size': 8, 'img_range': 1.0,
              'depths': [1], 'embed_dim': 12, 'num_heads': [2], 'mlp_ratio': 2, 'upsampler': '',
              'resi_connection': '1conv'}
    model = build_model(model_options(tmp_path, gray_folder, network=swinir))
    x = torch.rand(1, 1, 45, 37)
    assert model.denoise(x).shape == x.shape


def test_validation_computes_ne_defect_on_the_network(tmp_path, gray_folder):
    opt = model_options(tmp_path, gray_folder)
    opt['val']['metrics']['ne_defect'] = {'type': 'calculate_ne_defect', 'num_affine': 2}
    model = build_model(copy.deepcopy(opt))
    val_opt = opt['datasets']['val']
    model.validation(build_dataloader(build_dataset(val_opt), val_opt, num_gpu=0, dist=False), 3, None, False)
    assert 0 <= model.metric_results['ne_defect'] < 1e-5
    assert model.best_metric_results['toy_sigma25']['ne_defect']['better'] == 'lower'


def test_default_colors_follow_the_dataset_class(tmp_path, gray_folder):
    opt = model_options(tmp_path, gray_folder)
    opt['datasets']['val'] = {'name': 'clean', 'type': 'CleanImageDataset', 'dataroot_gt': gray_folder}
    build_model(copy.deepcopy(opt))  # CleanImageDataset is gray by default: fits a 1-channel network
    opt['datasets']['val'] = {'name': 'pairs', 'type': 'PairedNoisyDataset', 'dataroot_gt': gray_folder,
                              'dataroot_lq': gray_folder}
    with pytest.raises(ValueError, match=r"color='rgb'"):
        build_model(copy.deepcopy(opt))


def test_inference_dtype_bf16_runs_under_autocast_and_returns_fp32(tmp_path, gray_folder):
    torch.manual_seed(0)
    opt = model_options(tmp_path, gray_folder)
    x = torch.rand(2, 1, 24, 24)
    reference = build_model(opt).denoise(x)
    torch.manual_seed(0)
    out = build_model({**opt, 'inference_dtype': 'bf16'}).denoise(x)
    assert out.dtype == torch.float32
    assert not torch.equal(out, reference)  # bf16 convolutions really ran
    assert (out - reference).abs().max() < 2e-2


def test_psnr_train_is_computed_on_the_logged_iterations_and_l_pix_on_every_one(tmp_path, gray_folder):
    opt = model_options(tmp_path, gray_folder)
    opt['logger'] = {'print_freq': 3}
    model = build_model(opt)
    gt = torch.rand(2, 1, 16, 16)
    batch = {'lq': gt + 0.05 * torch.randn_like(gt), 'gt': gt}
    keys = []
    for it in range(1, 7):
        model.feed_data(batch)
        model.optimize_parameters(it)
        keys.append(list(model.get_current_log()))
    assert keys == [['l_pix'], ['l_pix'], ['l_pix', 'psnr_train']] * 2
    expected = -10 * torch.log10(torch.nn.functional.mse_loss(model.output.clamp(0, 1), gt))
    assert model.get_current_log()['psnr_train'] == pytest.approx(expected.item(), rel=1e-5)


def test_non_finite_gt_is_refused_with_its_name(tmp_path, gray_folder):
    model = build_model(model_options(tmp_path, gray_folder))
    lq = torch.rand(2, 1, 8, 8)
    gt = lq.clone()
    gt[1, 0, 2, 2] = float('inf')
    with pytest.raises(ValueError, match=r'^b_gt\.png: the gt image holds 1 NaN/Inf value'):
        model.feed_data({'lq': lq, 'gt': gt, 'lq_path': ['a.png', 'b.png'], 'gt_path': ['a_gt.png', 'b_gt.png']})
