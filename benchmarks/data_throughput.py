"""Training-patch throughput of NoisyImageDataset from a folder vs its LMDB, through BasicSR's sampler and dataloader.

    python benchmarks/data_throughput.py                      # datasets/Train400, LMDB made in a temporary folder
    python benchmarks/data_throughput.py --lmdb datasets/Train400.lmdb --workers 4 --repeats 7

Disk and LMDB runs alternate (ABBA order) so that drifting machine load hits both alike; each run times --batches
batches after one warm-up batch (worker start). Prints patches/s per run, the medians and the LMDB/disk ratio.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'scripts'))

import wne_basicsr  # noqa: E402,F401  (compat before basicsr)

# isort: split
from basicsr.data import build_dataloader, build_dataset  # noqa: E402
from basicsr.data.data_sampler import EnlargedSampler  # noqa: E402
from create_lmdb import create_lmdb  # noqa: E402


def patches_per_second(root: str, backend: str, args: argparse.Namespace) -> float:
    """Patches/s over ``args.batches`` batches of a fresh BasicSR train loader, after one warm-up batch."""
    opt = {'name': backend, 'type': 'NoisyImageDataset', 'phase': 'train', 'dataroot_gt': root,
           'io_backend': {'type': backend}, 'gt_size': args.patch, 'noise': {'type': 'gaussian', 'sigma': 25},
           'use_hflip': True, 'use_rot': True, 'color': 'gray', 'num_worker_per_gpu': args.workers,
           'batch_size_per_gpu': args.batch, 'dataset_enlarge_ratio': 100}
    dataset = build_dataset(opt)
    sampler = EnlargedSampler(dataset, 1, 0, opt['dataset_enlarge_ratio'])
    batches = iter(build_dataloader(dataset, opt, num_gpu=0, dist=False, sampler=sampler, seed=0))
    next(batches)
    start = time.perf_counter()
    for _ in range(args.batches):
        next(batches)
    return args.batches * args.batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default=osp.join(REPO, 'datasets', 'Train400'), help='image folder')
    parser.add_argument('--lmdb', help='its LMDB (default: made from --root in a temporary folder)')
    parser.add_argument('--workers', type=int, default=2, help='num_worker_per_gpu (default 2)')
    parser.add_argument('--batch', type=int, default=128, help='batch_size_per_gpu (default 128, the DnCNN recipe)')
    parser.add_argument('--patch', type=int, default=70, help='gt_size (default 70)')
    parser.add_argument('--batches', type=int, default=10, help='timed batches per run (default 10)')
    parser.add_argument('--repeats', type=int, default=5, help='runs per backend (default 5)')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        lmdb = args.lmdb
        if lmdb is None:
            lmdb = osp.join(tmp, osp.basename(osp.normpath(args.root)) + '.lmdb')
            create_lmdb([args.root], lmdb)
        runs: dict[str, list[float]] = {'disk': [], 'lmdb': []}
        for repeat in range(args.repeats):
            order = ('disk', 'lmdb') if repeat % 2 == 0 else ('lmdb', 'disk')
            for backend in order:
                runs[backend].append(patches_per_second(args.root if backend == 'disk' else lmdb, backend, args))
            print(f'repeat {repeat + 1}/{args.repeats}: disk {runs["disk"][-1]:8.1f}  lmdb {runs["lmdb"][-1]:8.1f} '
                  'patches/s', flush=True)
    disk, lmdb_rate = statistics.median(runs['disk']), statistics.median(runs['lmdb'])
    print(f'{args.root}: {args.workers} workers, batch {args.batch}, patch {args.patch}, {os.cpu_count()} CPUs, '
          f'load {os.getloadavg()[0]:.1f}')
    print(f'median patches/s: disk {disk:.1f}, lmdb {lmdb_rate:.1f}')
    print(f'LMDB/disk throughput ratio: {lmdb_rate / disk:.3f}')


if __name__ == '__main__':
    main()
