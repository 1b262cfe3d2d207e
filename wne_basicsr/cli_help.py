"""The command line of ``wne-train`` / ``wne-test``, described: BasicSR's ``parse_options`` builds a bare parser of the
same arguments, so ours reads the command line first (``--help``, mistakes) and then lets BasicSR parse it."""
from __future__ import annotations

import argparse
import os.path as osp
import textwrap

DESCRIPTIONS = {
    True: 'Train a denoiser as an options file says, with BasicSR\'s parts and this package\'s archs, datasets and '
          'models. The options, datasets and network are checked before anything is written; the run writes '
          'experiments/<name>/ (models, training states, log) and tb_logger/<name>/ under the working directory, or '
          'under $WNE_BASICSR_ROOT if set.',
    False: 'Test trained networks as an options file says (path.pretrain_network_g names the checkpoint): every test '
           'set but the training ones, in key order; metrics in the log under results/<name>/ (working directory, '
           'or $WNE_BASICSR_ROOT), and per-image CSVs for sampler runs.',
}
EPILOGS = {
    True: '''examples:
  %(prog)s -opt options/quickstart/train_DnCNN_WNE_s25.yml
  %(prog)s -opt options/train/SwinIR/train_SwinIR_WNE_s10.yml --force_yml datasets:train:dataroot_gt=datasets/Train400
  %(prog)s -opt X.yml --auto_resume                      # continue from the newest training state
  torchrun --nproc_per_node=4 wne_basicsr/train.py -opt X.yml --launcher pytorch''',
    False: '''examples:
  %(prog)s -opt options/test/quickstart/test_DnCNN_WNE_s25.yml
  %(prog)s -opt X.yml --force_yml path:pretrain_network_g=experiments/NAME/models/net_g_latest.pth''',
}


def entry_point_parser(is_train: bool, prog: str | None = None) -> argparse.ArgumentParser:
    """The arguments of BasicSR 1.4.2's ``parse_options``, with a description and a help text each."""
    parser = argparse.ArgumentParser(prog=prog, description=textwrap.fill(DESCRIPTIONS[is_train], 79),
                                     epilog=EPILOGS[is_train], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', required=True, metavar='OPTIONS.yml',
                        help='the options file (YAML): network, datasets, ' + ('training schedule, validation'
                                                                                if is_train else 'checkpoint, metrics'))
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='how the processes of a distributed run were started: none (one process, the default), '
                             'pytorch (torchrun or python -m torch.distributed.launch), slurm (srun); on hosts '
                             'without GPUs the processes talk over gloo')
    parser.add_argument('--auto_resume', action='store_true',
                        help='continue from the newest complete training state under experiments/<name>/'
                             'training_states/ (none: start from iteration 0)' if is_train else
                             'accepted for BasicSR\'s sake; no effect when testing')
    parser.add_argument('--debug', action='store_true',
                        help='prefix the run name with debug_' + ('; log every iteration, save and validate every 8 '
                                                                  'and write no tensorboard log' if is_train else
                                                                  ' (results go to results/debug_<name>)'))
    parser.add_argument('--local_rank', type=int, default=0,
                        help='passed by python -m torch.distributed.launch (its --local-rank=N is accepted too); '
                             'each process reads its rank from the environment, so this value is not used')
    parser.add_argument('--force_yml', nargs='+', default=None, metavar='KEY:...:KEY=VALUE',
                        help='override options of the file, e.g. train:total_iter=1000 datasets:train:'
                             'dataroot_gt=datasets/Train400 (keys separated by ":"; values as in YAML: ~ is null, '
                             'true/false, numbers, !!float 1e-4, [lists]); applied after the random seed and the '
                             'process group are set, so manual_seed and dist_params cannot be changed this way')
    return parser


def check_command_line(argv: list[str], is_train: bool, prog: str) -> None:
    """Parse ``argv`` (the arguments after the program name) with ``entry_point_parser``: print the help and exit for
    ``-h``/``--help``, exit with the usage and a one-line error for a mistake."""
    entry_point_parser(is_train, osp.basename(prog)).parse_args(argv)
