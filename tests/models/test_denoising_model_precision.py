"""DenoisingModel under train.amp, channels_last and compile: steps that learn, checkpoints that load anywhere, resume
across precisions, and a clear stop on a non-finite loss."""
import copy

import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network
from basicsr.models import build_model

from wne_basicsr.archs.wrapper_arch import WNE
from wne_basicsr.metrics.ne_defect import ne_defect

# isort: split
from model_options import NETWORK
from model_options import toy_options as options


def batch(seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    gt = torch.nn.functional.interpolate(torch.rand(4, 1, 4, 4, generator=generator), size=(24, 24), mode='bilinear')
    return {'lq': gt + 0.1 * torch.randn(gt.shape, generator=generator), 'gt': gt}


def trained(opt: dict, steps: int = 3):
    torch.manual_seed(0)
    model = build_model(opt)
    before = {k: v.clone() for k, v in model.net_g.state_dict().items()}
    for it in range(1, steps + 1):
        model.feed_data(batch(it))
        model.optimize_parameters(it)
    return model, before


@pytest.mark.parametrize('top', [{'amp': 'bf16'}, {'amp': 'fp16'}, {'channels_last': True},
                                 {'amp': 'bf16', 'channels_last': True}])
def test_reduced_precision_and_channels_last_steps_change_the_weights(tmp_path, top):
    model, before = trained(options(tmp_path, **top))
    after = model.net_g.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    assert torch.isfinite(torch.tensor(model.get_current_log()['l_pix']))
    assert model.output.dtype == torch.float32
    assert (model.grad_scaler is not None) == (top.get('amp') == 'fp16')  # fp16 trains with a gradient scaler
    if top.get('channels_last'):
        conv = model.net_g.backbone.hidden_layer_list[0].weight
        assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()


def test_bf16_training_runs_the_forward_under_autocast(tmp_path):
    """The same start and batch give a different step in bf16 than in fp32, but the loss stays close."""
    fp32, _ = trained(options(tmp_path), steps=1)
    bf16, _ = trained(options(tmp_path, amp='bf16'), steps=1)
    a, b = fp32.get_current_log()['l_pix'], bf16.get_current_log()['l_pix']
    assert a != b and abs(a - b) < 0.05 * a


def test_checkpoint_of_a_bf16_channels_last_run_loads_strictly_into_a_plain_network(tmp_path):
    model, _ = trained(options(tmp_path, amp='bf16', channels_last=True))
    model.save(0, 3)
    state = torch.load(tmp_path / 'models' / 'net_g_3.pth', weights_only=True)['params']
    assert all(t.is_contiguous() for t in state.values())
    plain = build_network(copy.deepcopy(NETWORK)).eval()
    plain.load_state_dict(state, strict=True)
    x = torch.rand(2, 1, 21, 19)
    with torch.no_grad():
        assert torch.allclose(plain(x), model.denoise(x), atol=1e-6)


def test_compiled_backbone_keeps_the_checkpoint_keys(tmp_path):
    model = build_model(options(tmp_path, compile=True))
    net = model.net_g
    assert isinstance(net, WNE) and net.backbone._compiled_call_impl is not None  # only the backbone is compiled
    model.save(0, 1)
    state = torch.load(tmp_path / 'models' / 'net_g_1.pth', weights_only=True)['params']
    assert set(state) == set(build_network(copy.deepcopy(NETWORK)).state_dict())
    assert not [k for k in state if '_orig_mod' in k]


@pytest.mark.slow
def test_compiled_network_gives_the_plain_outputs(tmp_path):
    """One real compilation (a two-layer DnCNN, seconds): the compiled run matches the eager network."""
    opt = options(tmp_path, compile={'mode': 'default', 'dynamic': False},
                  network_g={'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 4, 'num_layers': 2}})
    torch.manual_seed(0)
    model = build_model(opt)
    plain = build_network(copy.deepcopy(opt['network_g'])).eval()
    plain.load_state_dict(model.net_g.state_dict(), strict=True)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model.denoise(x), plain(x), atol=1e-5)


def test_resume_in_another_precision(tmp_path):
    model, _ = trained(options(tmp_path, amp='bf16'))
    model.save(0, 3)
    state = torch.load(tmp_path / 'states' / '3.state', weights_only=False)
    opt = options(tmp_path, amp='fp32')
    opt['path']['pretrain_network_g'] = str(tmp_path / 'models' / 'net_g_3.pth')
    resumed = build_model(opt)
    resumed.resume_training(state)
    assert resumed.optimizer_g.state_dict()['state'][0]['step'] == 3  # Adam's moments came back
    resumed.feed_data(batch(4))
    resumed.optimize_parameters(4)
    assert torch.isfinite(torch.tensor(resumed.get_current_log()['l_pix']))


def test_non_finite_loss_stops_the_run_with_the_iteration(tmp_path):
    model = build_model(options(tmp_path, amp='bf16'))
    with torch.no_grad():
        model.net_g.backbone.last_layer.weight.fill_(float('inf'))
    model.feed_data(batch())
    message = r'iteration 7: the training loss is (nan|inf|-inf) .*train.amp: bf16.*fp32'
    with pytest.raises(FloatingPointError, match=message):
        model.optimize_parameters(7)


@pytest.mark.parametrize('key, value, message', [
    ('channels_last', 'yes', 'channels_last must be true or false'),
    ('compile', {'mode': 'fast'}, r'compile.mode must be one of'),
    ('inference_dtype', 'half', r"inference_dtype must be one of \['fp32', 'bf16', 'fp16', 'auto'\]"),
])
def test_bad_precision_options_are_named(tmp_path, key, value, message):
    with pytest.raises(ValueError, match=message):
        build_model(options(tmp_path, **{key: value}))


def test_unknown_training_precision_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"train.amp must be one of \['fp32', 'bf16', 'fp16', 'auto'\], got 'half'"):
        build_model(options(tmp_path, amp='half'))


def test_a_bf16_trained_wne_is_exactly_ne_in_fp32_and_ne_up_to_rounding_in_bf16_inference(tmp_path):
    """BN weights re-drawn in [0.5, 1.5] after the steps, so that the backbone is far from the identity. In bf16 the
    z of an affine copy, equal to z in exact arithmetic, now and then rounds to a neighbouring bf16 value: a defect
    well above fp32's (~1e-7), yet small (~1e-4)."""
    network = {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 4, 'num_layers': 3}}
    model, _ = trained(options(tmp_path, amp='bf16', network_g=network), steps=5)
    net = model.net_g.eval()
    generator = torch.Generator().manual_seed(0)
    y = torch.rand(1, 1, 128, 128, generator=torch.Generator().manual_seed(1))  # enough pixels for flips in 8 draws
    with torch.no_grad():
        for bn in net.backbone.bn_layer_list:
            bn.weight.copy_(0.5 + torch.rand(bn.weight.shape, generator=generator))
        z, _ = net.normalize(y)
        assert (net.run_backbone(z) - z).norm() > 0.1 * z.norm()
    fp32 = ne_defect(net, y, generator=torch.Generator().manual_seed(1))
    bf16 = ne_defect(net, y, generator=torch.Generator().manual_seed(1), dtype=torch.bfloat16)
    assert fp32 <= 1e-6
    assert 10 * fp32 < bf16 <= 1e-3
