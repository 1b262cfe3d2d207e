"""benchmarks/train_throughput.py: real DenoisingModel steps per mode, medians and ratios to fp32 in its JSON."""
import json

import pytest
import torch
from script_loader import load_script


@pytest.fixture
def script(monkeypatch):
    module = load_script('benchmarks/train_throughput.py')
    tiny = {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}}
    monkeypatch.setitem(module.NETWORKS, 'WNE(DnCNN)', (tiny, (2, 1, 24, 24)))
    return module


def test_modes_are_timed_against_fp32_and_written(script, tmp_path, capsys):
    out = tmp_path / 'throughput.json'
    script.main(['--only', 'WNE(DnCNN)', '--modes', 'fp32+cl', 'bf16', '--runs', '3', '--warmup', '1',
                 '--json', str(out)])
    results = json.loads(out.read_text())
    row = results['networks']['WNE(DnCNN)']
    assert list(row['seconds']) == ['fp32', 'fp32+cl', 'bf16']  # fp32, the reference, always runs first
    assert all(len(times) == 3 for times in row['all_seconds'].values())
    assert row['speedup_vs_fp32']['fp32'] == 1.0
    assert row['speedup_vs_fp32']['bf16'] == pytest.approx(row['seconds']['fp32'] / row['seconds']['bf16'])
    assert results['info']['native_bf16'] in (True, False) and results['info']['torch'] == torch.__version__
    assert 'WNE(DnCNN) (2, 1, 24, 24): fp32 ' in capsys.readouterr().out


def test_the_timed_step_trains(script):
    model = script.model(script.NETWORKS['WNE(DnCNN)'][0], 'bf16+cl', torch.device('cpu'))
    assert model.channels_last and model.train_dtype == torch.bfloat16
    before = [p.clone() for p in model.net_g.parameters()]
    batch = {'lq': torch.rand(2, 1, 24, 24), 'gt': torch.rand(2, 1, 24, 24)}
    assert script.step_seconds(model, batch, torch.device('cpu')) > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net_g.parameters()))
