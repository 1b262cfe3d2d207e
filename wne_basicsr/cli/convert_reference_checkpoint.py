"""Convert a checkpoint of the paper's reference code into a BasicSR checkpoint for WNE or a bare backbone.

    python scripts/convert_reference_checkpoint.py IN.pth OUT.pth --arch SwinIR [--wrapper WNE|WNEInput|none]
        [--mode ordinary|scale_equiv|norm_equiv] [--trusted]

Prints every key it filled in or dropped (with the reason), then the ``network_g`` to put in the options file (with
``path: {pretrain_network_g: OUT.pth, strict_load_g: true}``).
"""
from __future__ import annotations

import argparse
import sys

import wne_basicsr  # noqa: F401  (compat patches and registration before anything from basicsr)

# isort: split
import yaml

from wne_basicsr.startup import prepare_process
from wne_basicsr.utils.arch_from_weights import FDNCNN_MODES, CheckpointError
from wne_basicsr.utils.checkpoint import WRAPPERS, Conversion, convert_checkpoint


def report(conversion: Conversion) -> str:
    """What the conversion read, renamed, filled in and dropped: one line per key filled in or dropped."""
    lines = [f'read the state dict at {conversion.source}']
    if conversion.renamed:
        lines.append(f'renamed {conversion.renamed} key(s) from the official Restormer layout')
    for what, keys in (('filled in', conversion.filled), ('dropped', conversion.dropped)):
        if keys:
            lines.append(f'{what} {len(keys)} key(s):')
            lines.extend(f'  {key}: {why}' for key, why in keys.items())
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the conversion; return the exit status (2 with a message for a checkpoint that cannot be converted)."""
    prepare_process()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', metavar='IN', help='reference checkpoint ({"model_state": ...}, Mohan et al.\'s '
                        '{"model": [...]}, official Restormer {"params": ...}, or a state dict)')
    parser.add_argument('dst', metavar='OUT', help='BasicSR checkpoint to write ({"params": ...})')
    parser.add_argument('--arch', required=True, help='backbone type: DnCNN, FDnCNN, SwinIR, SwinIRDenoiser, Restormer')
    parser.add_argument('--wrapper', default='WNE', choices=WRAPPERS,
                        help='what the reference model was wrapped in and our checkpoint is for (default WNE)')
    parser.add_argument('--mode', choices=FDNCNN_MODES,
                        help='FDnCNN/DnCNN mode; needed only for bias-free FDnCNN (scale_equiv or norm_equiv)')
    parser.add_argument('--trusted', action='store_true',
                        help='allow arbitrary pickled objects in IN (torch.load weights_only=False)')
    args = parser.parse_args(argv)
    try:
        conversion = convert_checkpoint(args.src, args.dst, args.arch, args.wrapper, args.mode, args.trusted)
    except CheckpointError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(report(conversion))
    print(f'wrote {args.dst}; load it with strict_load_g: true into\n'
          + yaml.safe_dump({'network_g': conversion.network}, sort_keys=False, default_flow_style=None))
    return 0


if __name__ == '__main__':
    sys.exit(main())
