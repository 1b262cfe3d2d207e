"""benchmarks/precision_quality.py: bf16 changes WNE's output a little and its NE defect hardly: every affine copy gives
the backbone the same normalized input up to fp32 round-off, which bf16 rounding only rarely tells apart."""
import json

import torch
import yaml
from basicsr.archs import build_network
from script_loader import load_script


def test_bf16_inference_costs_are_measured(tmp_path, make_images):
    network = {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 4}}
    torch.manual_seed(0)
    torch.save({'params': build_network(dict(network)).state_dict()}, tmp_path / 'net.pth')
    (tmp_path / 'train.yml').write_text(yaml.safe_dump({'network_g': network}))
    make_images(tmp_path / 'set', 2, (24, 20))
    script = load_script('benchmarks/precision_quality.py')
    script.main(['--opt', str(tmp_path / 'train.yml'), '--checkpoint', str(tmp_path / 'net.pth'), '--dataset',
                 str(tmp_path / 'set'), '--sigmas', '25', '--dtypes', 'bf16', '--json', str(tmp_path / 'out.json')])
    results = json.loads((tmp_path / 'out.json').read_text())
    fp32, bf16 = results['fp32']['25'], results['bf16']['25']
    assert fp32['ne_defect'] <= 1e-6 and bf16['ne_defect'] <= 1e-5
    assert fp32['psnr_float_db'] != bf16['psnr_float_db']  # the bf16 run really ran in bf16
    assert abs(fp32['psnr_float_db'] - bf16['psnr_float_db']) < 0.5
