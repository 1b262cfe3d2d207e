"""DenoisingModel under ``train.amp: fp16`` (on the CPU: torch's CPU autocast and GradScaler): the scaler skips
overflowing steps and lowers its scale, its state resumes, and a NaN loss or a collapsed scale stops the run."""

import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.models import build_model

from wne_basicsr.resume import load_resume_state

# isort: split
from model_options import toy_options


def fp16_options(tmp_path, **top) -> dict:
    return toy_options(tmp_path, amp='fp16', **top)


def step(model, it: int, seed: int | None = None) -> None:
    """Iteration ``it`` on a batch of smooth images with noise, drawn from ``seed`` (default: ``it``)."""
    generator = torch.Generator().manual_seed(it if seed is None else seed)
    gt = torch.nn.functional.interpolate(torch.rand(4, 1, 4, 4, generator=generator), size=(24, 24), mode='bilinear')
    model.feed_data({'lq': gt + 0.1 * torch.randn(gt.shape, generator=generator), 'gt': gt})
    model.optimize_parameters(it)


def set_scale(model, scale: float) -> None:
    """Put the scaler at ``scale`` through its public state."""
    state = model.grad_scaler.state_dict()
    model.grad_scaler.load_state_dict({**state, 'scale': scale})


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.net_g.named_parameters()}


def test_an_overflowing_step_is_skipped_with_a_lower_scale_and_training_goes_on(tmp_path):
    torch.manual_seed(0)
    model = build_model(fp16_options(tmp_path))
    assert isinstance(model.grad_scaler, torch.amp.GradScaler) and model.grad_scaler.get_scale() == 2.0 ** 16
    step(model, 1)
    set_scale(model, 2.0 ** 40)  # the scaled loss's gradients overflow float16; the loss itself is finite
    before = weights(model)
    step(model, 2)
    assert model.grad_scaler.get_scale() == 2.0 ** 39  # lowered
    after = weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # the step was skipped
    set_scale(model, 2.0 ** 10)
    step(model, 3)
    assert model.grad_scaler.get_scale() == 2.0 ** 10
    assert any(not torch.equal(after[k], v) for k, v in weights(model).items())  # and training went on


def test_the_backward_runs_on_the_scaled_loss(tmp_path):
    """The same batch at a 16× larger scale gives 16× larger gradients in the backward (the step unscales them)."""
    torch.manual_seed(0)
    model = build_model(fp16_options(tmp_path))
    seen = []
    model.net_g.backbone.last_layer.weight.register_hook(lambda grad: seen.append(grad.abs().max().item()))
    set_scale(model, 2.0 ** 8)
    step(model, 1)
    set_scale(model, 2.0 ** 12)
    step(model, 2, seed=1)
    assert len(seen) == 2 and 12 < seen[1] / seen[0] < 20


def test_a_nan_loss_under_fp16_stops_the_run_with_the_iteration(tmp_path):
    model = build_model(fp16_options(tmp_path))
    with torch.no_grad():
        model.net_g.backbone.last_layer.weight.fill_(float('nan'))
    with pytest.raises(FloatingPointError, match=r'iteration 4: the training loss is nan .*train.amp: fp16.*bf16'):
        step(model, 4)


def test_a_collapsed_scale_stops_the_run_with_the_iteration(tmp_path):
    model = build_model(fp16_options(tmp_path))
    step(model, 1)
    set_scale(model, 0.5)
    with pytest.raises(FloatingPointError, match=r'iteration 2: the fp16 gradient scale has fallen to 0.5.*bf16'):
        step(model, 2)


def test_the_scaler_state_survives_auto_resume(tmp_path):
    torch.manual_seed(0)
    model = build_model(fp16_options(tmp_path))
    step(model, 1)
    set_scale(model, 2.0 ** 40)
    step(model, 2)  # overflow: the scale halves and the growth count restarts
    step(model, 3)
    scaler_state = model.grad_scaler.state_dict()
    assert scaler_state['scale'] == 2.0 ** 38
    model.save(0, 3)

    opt = fp16_options(tmp_path, auto_resume=True)
    resumed = build_model(opt)
    resumed.resume_training(load_resume_state(opt))
    assert resumed.grad_scaler.get_scale() == model.grad_scaler.get_scale()
    assert resumed.grad_scaler.state_dict() == scaler_state


@pytest.mark.parametrize('amp, scaler_saved', [('fp16', False), ('bf16', True)])
def test_states_with_and_without_a_scaler_resume_in_either_precision(tmp_path, amp, scaler_saved):
    """An older state (no scaler in it) resumes an fp16 run with a fresh scaler; an fp16 state resumes a bf16 run."""
    model = build_model(fp16_options(tmp_path))
    step(model, 1)
    model.save(0, 1)
    state = torch.load(tmp_path / 'states' / '1.state', weights_only=False)
    assert 'grad_scaler' in state
    if not scaler_saved:
        del state['grad_scaler']
    opt = fp16_options(tmp_path)
    opt['train']['amp'] = amp
    opt['path']['pretrain_network_g'] = str(tmp_path / 'models' / 'net_g_1.pth')
    resumed = build_model(opt)
    resumed.resume_training(state)
    assert resumed.optimizer_g.state_dict()['state'][0]['step'] == 1
    assert resumed.grad_scaler is None if amp == 'bf16' else resumed.grad_scaler.get_scale() == 2.0 ** 16
    step(resumed, 2)
    assert resumed.optimizer_g.state_dict()['state'][0]['step'] == 2
