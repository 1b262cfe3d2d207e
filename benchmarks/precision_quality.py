"""What lower-precision inference costs a trained model: float PSNR and NE defect per σ, fp32 against bf16 / fp16.

    python benchmarks/precision_quality.py --opt options/quickstart/train_DnCNN_WNE_s25.yml \\
        --checkpoint experiments/quickstart_DnCNN_WNE_s25/models/net_g_latest.pth [--dataset datasets/Set12]
        [--sigmas 10 25 50] [--dtypes fp32 bf16] [--max-images N] [--json PATH]

The same seeded noisy image (draw 0) goes through the network under each autocast dtype (wrapper statistics stay fp32).
The NE defect (docs/method.md §5.3, 2 affine draws per image) is measured here under that dtype too, unlike the sweeps,
which always measure it in fp32: that is the point of this script.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import pathlib
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # run as a script from a clone

import numpy as np  # noqa: E402
import torch  # noqa: E402

import wne_basicsr  # noqa: E402,F401  (compat patches and registration before anything from basicsr)
from wne_basicsr.data.noise import eval_noisy, seeded_generator  # noqa: E402
from wne_basicsr.evaluation.networks import load_network  # noqa: E402
from wne_basicsr.evaluation.quality import evaluate_quality  # noqa: E402
from wne_basicsr.evaluation.sweep_config import DatasetSpec, ModelSpec  # noqa: E402
from wne_basicsr.inference.precision import DTYPES, autocast  # noqa: E402
from wne_basicsr.metrics.ne_defect import ne_defect  # noqa: E402


def measure(net: torch.nn.Module, images: list, sigmas: list[float], dtype: torch.dtype | None) -> dict:
    """Mean float PSNR and NE defect over the images at each σ, under autocast in ``dtype``."""
    rows = {}
    for sigma in sigmas:
        quality = evaluate_quality(net, images, 'gaussian', sigma, 1, dtype=dtype)
        defects = []
        for stem, clean in images:
            noisy = eval_noisy(clean, 'gaussian', sigma, stem, 0, 0)[None]
            with autocast('cpu', dtype):
                defects.append(ne_defect(net, noisy, 2, generator=seeded_generator(0, stem, f'{sigma:.6f}', 0, 'ne')))
        rows[f'{sigma:g}'] = {'psnr_float_db': quality['psnr_float_db'], 'ne_defect': float(np.mean(defects))}
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--opt', required=True, help='training options (for network_g)')
    parser.add_argument('--checkpoint', required=True, help='its BasicSR checkpoint')
    parser.add_argument('--dataset', default='datasets/Set12', help='a folder of clean test images')
    parser.add_argument('--sigmas', type=float, nargs='+', default=[10, 25, 50])
    parser.add_argument('--dtypes', nargs='+', choices=list(DTYPES), default=['fp32', 'bf16'])
    parser.add_argument('--max-images', type=int, help='the first N images only')
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)
    net = load_network(ModelSpec.from_opt('model', {'options': args.opt, 'checkpoint': args.checkpoint}))
    images = DatasetSpec.from_opt('test', {'dataroot_gt': args.dataset, 'max_images': args.max_images}).load()
    names = ['fp32', *(name for name in args.dtypes if name != 'fp32')]  # fp32, the reference, always runs
    results = {name: measure(net, images, args.sigmas, DTYPES[name]) for name in names}
    print(f'{args.checkpoint} on {args.dataset} ({len(images)} images): float PSNR (dB) / NE defect')
    for name, rows in results.items():
        print(f'  {name:>5}: ' + ', '.join(f'σ {s}: {r["psnr_float_db"]:.3f} / {r["ne_defect"]:.1e}'
                                          for s, r in rows.items()))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == '__main__':
    main()
