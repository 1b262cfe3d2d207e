"""Write one training options file per experiment of the paper (docs/method.md §4.2) under options/train/<Backbone>/.

    python scripts/make_options.py            # (re)write the files
    python scripts/make_options.py --check    # exit 1 if a file is missing or differs from what this script writes

Each file starts with a comment naming the paper tag it reproduces. The two hand-written DnCNN σ25 files
(`train_DnCNN_s25.yml`, `train_DnCNN_WNE_s25.yml`) are left alone: they train on the bundled Train400 by default.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import textwrap
from dataclasses import dataclass

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
GRAY_ROOTS = ('datasets/Train400', 'datasets/DIV2K/DIV2K_train_HR', 'datasets/DIV2K/DIV2K_valid_HR',
              'datasets/Flickr2K', 'datasets/WaterlooExploration')
RGB_ROOTS = GRAY_ROOTS[1:]
HAND_WRITTEN = ('options/train/DnCNN/train_DnCNN_s25.yml', 'options/train/DnCNN/train_DnCNN_WNE_s25.yml')
SHORT_NAME = ('options/train_swinir_wne_s10.yml', 'options/train/SwinIR/train_SwinIR_WNE_s10.yml')

FOLDERS = {'DnCNN': 'DnCNN', 'FDnCNN': 'FDnCNN', 'SwinIR': 'SwinIR', 'SwinIRM': 'SwinIR', 'Restormer': 'Restormer'}
PATCH_BATCH = {'DnCNN': (70, 128), 'FDnCNN': (70, 128), 'SwinIR': (64, 32), 'SwinIRM': (128, 8), 'Restormer': (64, 8)}
BACKBONE_NAMES = {'DnCNN': 'DnCNN', 'FDnCNN': 'FDnCNN', 'SwinIR': 'SwinIR lite', 'SwinIRM': 'SwinIR-M',
                  'Restormer': 'Restormer'}
VARIANTS = {'b': '', 'wne': 'WNE', 'wnei': 'WNEI', 'se': 'SE', 'ne': 'NE'}
WRAPPERS = {'wne': 'WNE', 'wnei': 'WNEInput'}
FDNCNN_MODES = {'b': 'ordinary', 'wne': 'ordinary', 'se': 'scale_equiv', 'ne': 'norm_equiv'}
FAMILIES = {'gaussian': ('', 'Gaussian'), 'laplace': ('laplace', 'Laplace'), 'uniform': ('uniform', 'uniform'),
            'rayleigh': ('rayleigh', 'Rayleigh')}
LOSSES = {'l1': 'L1Loss', 'l2': 'MSELoss'}
NON_GAUSSIAN = (('laplace', 20, 'lap_20'), ('uniform', 14, 'uni_14'), ('rayleigh', 17, 'ray_17'))
N2N_SIGMAS = (12.75, 19.125, 25.5, 10, 25, 50)


def fmt(value: float) -> str:
    """A number as it is typed: 10, 12.75."""
    return f'{value:g}'


@dataclass(frozen=True)
class Experiment:
    """One training run: the paper's tag and the settings of its row in docs/method.md §4.2."""

    tag: str
    backbone: str                                   # DnCNN | FDnCNN | SwinIR | SwinIRM | Restormer
    variant: str                                    # b | wne | wnei | se | ne
    loss: str                                       # l1 | l2
    halve_lr: bool                                  # "½": lr halved every 100k iterations, else constant
    sigma: float | None = None
    sigma_range: tuple[float, float] | None = None
    noise: str = 'gaussian'
    objective: str = 'supervised'
    soft_ne: bool = False
    color: str = 'gray'
    steps: int = 500_000
    paper: bool = True                              # False: a configuration beyond the paper's runs

    @property
    def channels(self) -> int:
        return 3 if self.color == 'rgb' else 1

    @property
    def sigma_text(self) -> str:
        return '-'.join(fmt(s) for s in self.sigma_range) if self.sigma_range else fmt(self.sigma)

    @property
    def stem(self) -> str:
        parts = [self.backbone, VARIANTS[self.variant], 'SoftNE' if self.soft_ne else '',
                 'N2N' if self.objective == 'n2n' else '', FAMILIES[self.noise][0], f's{self.sigma_text}',
                 'rgb' if self.color == 'rgb' else '']
        return 'train_' + '_'.join(p for p in parts if p)

    @property
    def path(self) -> str:
        return f'options/train/{FOLDERS[self.backbone]}/{self.stem}.yml'

    def val_sigmas(self) -> list[float]:
        """σ_train, or {clip(lo), (lo+hi)/2, clip(hi)} with clip to [5, 95] for a range (docs/method.md §4.1)."""
        if not self.sigma_range:
            return [self.sigma]
        lo, hi = self.sigma_range
        return [min(max(lo, 5), 95), (lo + hi) / 2, min(max(hi, 5), 95)]


def experiments() -> list[Experiment]:
    """Every row of docs/method.md §4.2, expanded over σ, plus WNE(SwinIR-M) at σ 25, gray and colour (extra)."""
    runs: list[Experiment] = []
    for s in (10, 25, 50):
        runs += [Experiment(f'b_dncnn_{s}', 'DnCNN', 'b', 'l1', False, sigma=s),
                 Experiment(f'wne_dncnn_{s}', 'DnCNN', 'wne', 'l2', True, sigma=s)]
    runs.append(Experiment('wnei_dncnn_10', 'DnCNN', 'wnei', 'l2', True, sigma=10))
    for s in (10, 25, 50):
        runs += [Experiment(f'b_fdncnn_{s}', 'FDnCNN', 'b', 'l1', False, sigma=s),
                 Experiment(f'se_fdncnn_{s}', 'FDnCNN', 'se', 'l1', False, sigma=s),
                 Experiment(f'ne_fdncnn_{s}', 'FDnCNN', 'ne', 'l2', False, sigma=s, steps=900_000),
                 Experiment(f'wne_fdncnn_{s}', 'FDnCNN', 'wne', 'l2', True, sigma=s, steps=900_000)]
    for s in (10, 25, 50):
        runs += [Experiment(f'b_swinir_{s}', 'SwinIR', 'b', 'l2', False, sigma=s),
                 Experiment(f'wne_swinir_{s}', 'SwinIR', 'wne', 'l2', True, sigma=s)]
    runs += [Experiment('b_swinir_0-55', 'SwinIR', 'b', 'l2', False, sigma_range=(0, 55)),
             Experiment('wne_swinir_0-55', 'SwinIR', 'wne', 'l2', True, sigma_range=(0, 55)),
             Experiment('softne_swinir_10', 'SwinIR', 'b', 'l2', False, sigma=10, soft_ne=True)]
    for s in N2N_SIGMAS:
        if s not in (10, 25, 50):  # the supervised baselines at 10/25/50 are b_swinir_{10,25,50}
            runs.append(Experiment(f'b_swinir_{fmt(s)}', 'SwinIR', 'b', 'l2', False, sigma=s))
        runs += [Experiment(f'b_swinir_n2n_{fmt(s)}', 'SwinIR', 'b', 'l2', False, sigma=s, objective='n2n'),
                 Experiment(f'softne_swinir_n2n_{fmt(s)}', 'SwinIR', 'b', 'l2', False, sigma=s, objective='n2n',
                            soft_ne=True),
                 Experiment(f'wne_swinir_n2n_{fmt(s)}', 'SwinIR', 'wne', 'l2', True, sigma=s, objective='n2n')]
    for noise, s, family in NON_GAUSSIAN:
        runs += [Experiment(f'{family} × b_dncnn', 'DnCNN', 'b', 'l1', False, sigma=s, noise=noise),
                 Experiment(f'{family} × wne_dncnn', 'DnCNN', 'wne', 'l1', noise == 'rayleigh', sigma=s, noise=noise),
                 Experiment(f'{family} × se_fdncnn', 'FDnCNN', 'se', 'l1', False, sigma=s, noise=noise),
                 Experiment(f'{family} × ne_fdncnn', 'FDnCNN', 'ne', 'l1', False, sigma=s, noise=noise),
                 Experiment(f'{family} × b_swinir', 'SwinIR', 'b', 'l2', False, sigma=s, noise=noise),
                 Experiment(f'{family} × wne_swinir', 'SwinIR', 'wne', 'l2', True, sigma=s, noise=noise)]
    for color in ('gray', 'rgb'):
        suffix = '_rgb' if color == 'rgb' else ''
        for s in (10, 25, 50):
            runs += [Experiment(f'b_restormer_{s}{suffix}', 'Restormer', 'b', 'l2', False, sigma=s, color=color),
                     Experiment(f'wne_restormer_{s}{suffix}', 'Restormer', 'wne', 'l2', True, sigma=s, color=color)]
        runs.append(Experiment('wne_swinir_m_25' + suffix, 'SwinIRM', 'wne', 'l2', True, sigma=25, color=color,
                               paper=False))
    return runs


def backbone_options(exp: Experiment) -> dict:
    """The backbone's ``network_g`` arguments (docs/method.md §2)."""
    c = exp.channels
    if exp.backbone == 'DnCNN':
        return {'type': 'DnCNN', 'num_in_ch': c, 'num_feat': 64, 'num_layers': 20}
    if exp.backbone == 'FDnCNN':
        return {'type': 'FDnCNN', 'num_in_ch': c, 'num_feat': 64, 'num_layers': 20, 'mode': FDNCNN_MODES[exp.variant]}
    if exp.backbone in ('SwinIR', 'SwinIRM'):
        lite = exp.backbone == 'SwinIR'
        depth = [6] * (4 if lite else 6)
        # 3 channels: BasicSR's SwinIR would shift by the DIV2K RGB mean; SwinIRDenoiser keeps the paper's zero mean
        head = {'type': 'SwinIR'} if c == 1 else {'type': 'SwinIRDenoiser', 'zero_mean': True}
        return {**head, 'upscale': 1, 'in_chans': c, 'img_size': 64 if lite else 128, 'window_size': 8,
                'img_range': 1.0, 'depths': depth, 'embed_dim': 60 if lite else 180, 'num_heads': depth,
                'mlp_ratio': 2, 'drop_path_rate': 0.1, 'upsampler': '', 'resi_connection': '1conv'}
    return {'type': 'Restormer', 'inp_channels': c, 'out_channels': c, 'dim': 48, 'num_blocks': [4, 6, 6, 8],
            'num_refinement_blocks': 4, 'heads': [1, 2, 4, 8], 'ffn_expansion_factor': 2.66, 'bias': False,
            'LayerNorm_type': 'WithBias'}


def scalar(value) -> str:
    """A YAML scalar or flow list."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(scalar(v) for v in value) + ']'
    if value == '':
        return "''"
    return str(value)


def block(mapping: dict, indent: int) -> list[str]:
    """A mapping as block-style YAML lines (nested dicts indented by two spaces)."""
    lines = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            lines += [' ' * indent + f'{key}:', *block(value, indent + 2)]
        else:
            lines.append(' ' * indent + f'{key}: {scalar(value)}')
    return lines


def network_lines(exp: Experiment) -> list[str]:
    """The ``network_g`` section."""
    backbone = backbone_options(exp)
    if exp.variant in WRAPPERS:
        net = {'type': WRAPPERS[exp.variant], 'pred_mode': 'direct', 'std_mode': 'unbiased', 'backbone': backbone}
    else:
        net = backbone
    return ['network_g:', *block(net, 2)]


def noise_text(exp: Experiment, sigma: float | None = None) -> str:
    """The ``noise`` option of a dataset (the training one when ``sigma`` is None)."""
    if sigma is None and exp.sigma_range:
        return f'{{type: {exp.noise}, sigma_range: [{", ".join(fmt(v) for v in exp.sigma_range)}]}}'
    return f'{{type: {exp.noise}, sigma: {fmt(exp.sigma if sigma is None else sigma)}}}'


def describe(exp: Experiment) -> str:
    """The header's one-paragraph summary of the run."""
    name = BACKBONE_NAMES[exp.backbone]
    model = {'b': f'baseline {name}', 'wne': f'WNE({name}), pred_mode direct',
             'wnei': f'WNE-I({name}) (input normalization only), pred_mode direct',
             'se': f'SE-arch {name} (mode scale_equiv)', 'ne': f'NE-arch {name} (mode norm_equiv)'}[exp.variant]
    if exp.backbone == 'FDnCNN' and exp.variant in ('b', 'wne'):
        model += ' (mode ordinary)'
    family = FAMILIES[exp.noise][1]
    if exp.sigma_range:
        noise = f'{family} sigma ~ U[{exp.sigma_text.replace("-", ", ")}] per sample'
    else:
        noise = f'{family} sigma={exp.sigma_text}'
    if exp.noise == 'rayleigh':
        noise += ' (not re-centred: unit std, mean +1.913 sigma)'
    objective = 'Noise2Noise (target = a second noisy draw with the same sigma)' if exp.objective == 'n2n' \
        else 'supervised'
    if exp.soft_ne:
        objective += ' + Soft-NE (alpha, mu ~ U[0, 1] per sample)'
    patch, batch = PATCH_BATCH[exp.backbone]
    lr = 'lr 1e-4 halved every 100k' if exp.halve_lr else 'constant lr 1e-4'
    val = 'CBSD68' if exp.color == 'rgb' else 'Set12'
    at = 'sigma ' + ', '.join(fmt(s) for s in exp.val_sigmas()) if exp.sigma_range else 'the training sigma'
    colour = ', colour (rgb)' if exp.color == 'rgb' else ''
    return (f'{model}{colour}, {noise}, {objective}, {exp.loss}, patch {patch} / batch {batch}, {exp.steps // 1000}k '
            f'iterations, {lr}, validation every 30k on {val} at {at}. Last checkpoint.')


def header(exp: Experiment) -> list[str]:
    """Comment lines: the paper tag, the summary, how to run it and where its data comes from."""
    if exp.paper:
        first = f'Paper recipe {exp.tag} (docs/method.md §4.2): '
    else:
        first = ('Not a paper run: SwinIR-M (SwinIR\'s own denoising size: embed 180, 6 RSTBs of depth 6, img_size '
                 '128) with the SwinIR recipe of docs/method.md §4.2: ')
    lines = textwrap.wrap(first + describe(exp), 118)
    batch = PATCH_BATCH[exp.backbone][1]
    lines += [
        'Generated by scripts/make_options.py (edit the script, then rerun it). Run from the repository root:',
        f'  python wne_basicsr/train.py -opt {exp.path}',
        f'  torchrun --nproc_per_node=4 wne_basicsr/train.py -opt {exp.path} --launcher pytorch',
        f'(with N processes, batch_size_per_gpu is per process: use {batch}/N to keep the paper\'s batch).',
    ]
    if exp.color == 'gray':
        lines.append('With only the bundled set: --force_yml datasets:train:dataroot_gt=datasets/Train400')
    if exp.soft_ne:
        lines.append('train.soft_ne (DenoisingModel, docs/method.md §3.2): L = loss(f(alpha·y + mu), alpha·t + mu).')
    return ['# ' + line for line in lines]


def render(exp: Experiment) -> str:
    """The whole options file of one experiment."""
    patch, batch = PATCH_BATCH[exp.backbone]
    roots = RGB_ROOTS if exp.color == 'rgb' else GRAY_ROOTS
    sets = ('DIV2K train/valid HR + Flickr2K + Waterloo Exploration (the gray set without BSD400)'
            if exp.color == 'rgb' else
            'BSD400 (bundled as Train400) + DIV2K train/valid HR + Flickr2K + Waterloo Exploration: 8,694 images')
    data_note = ['    # ' + line for line in textwrap.wrap(
        f'{sets}, each picked uniformly; datasets/README.md says where to get them and how to make their LMDBs.', 112)]
    noise_comment = '   # not re-centred (docs/method.md §3.1)' if exp.noise == 'rayleigh' else ''
    lines = [*header(exp),
             f'name: {exp.stem}', 'model_type: DenoisingModel', 'scale: 1', 'num_gpu: auto', 'manual_seed: 0', '',
             'datasets:', '  train:', f'    name: {exp.color}_train', '    type: NoisyImageDataset', *data_note,
             '    dataroot_gt:', *(f'      - {root}' for root in roots),
             '    io_backend: {type: disk}   # or {type: lmdb} with .lmdb roots made by scripts/create_lmdb.py',
             f'    noise: {noise_text(exp)}{noise_comment}', f'    objective: {exp.objective}', f'    gt_size: {patch}',
             '    use_hflip: true', '    use_rot: true', f'    color: {exp.color}', '    num_worker_per_gpu: 4',
             f'    batch_size_per_gpu: {batch}', '    dataset_enlarge_ratio: 100', '    prefetch_mode: ~']
    sigmas = exp.val_sigmas()
    val_set, val_root = ('CBSD68', 'datasets/CBSD68') if exp.color == 'rgb' else ('Set12', 'datasets/Set12')
    val_comment = '   # the paper validates on its first 12 images (logging only)' if exp.color == 'rgb' else ''
    family = '' if exp.noise == 'gaussian' else f'{exp.noise}_'
    for s in sigmas:
        key = 'val' if len(sigmas) == 1 else f'val_sigma{fmt(s)}'
        lines += [f'  {key}:', f'    name: {val_set}_{family}sigma{fmt(s)}', '    type: NoisyEvalDataset',
                  f'    dataroot_gt: {val_root}{val_comment}', '    io_backend: {type: disk}',
                  f'    noise: {noise_text(exp, s)}', f'    color: {exp.color}', '    seed: 0']
    if exp.halve_lr:
        scheduler = ['  scheduler:          # halved every 100k iterations', '    type: MultiStepLR',
                     f'    milestones: {scalar(list(range(100_000, exp.steps, 100_000)))}', '    gamma: 0.5']
    else:
        scheduler = ['  scheduler:          # constant learning rate', '    type: MultiStepLR',
                     f'    milestones: [{exp.steps}]', '    gamma: 1.0']
    soft_ne = ['  soft_ne: {alpha: [0, 1], mu: [0, 1]}   # Soft-NE ranges of alpha and mu'] if exp.soft_ne else []
    lines += ['', *network_lines(exp), '',
              'path:', '  pretrain_network_g: ~', '  strict_load_g: true', '  resume_state: ~', '',
              'train:', '  ema_decay: 0', '  optim_g:', '    type: Adam', '    lr: !!float 1e-4',
              '    betas: [0.9, 0.999]', '    weight_decay: 0', *scheduler, f'  total_iter: {exp.steps}',
              '  warmup_iter: -1', '  pixel_opt:', f'    type: {LOSSES[exp.loss]}', '    loss_weight: 1.0',
              '    reduction: mean', *soft_ne, '',
              'val:', '  val_freq: !!float 3e4', '  save_img: false', '  pbar: true', '  metrics:',
              '    psnr_float: {type: calculate_psnr_float}',
              '    psnr: {type: calculate_psnr, crop_border: 0, test_y_channel: false}',
              '    ssim: {type: calculate_ssim, crop_border: 0, test_y_channel: false}', '',
              'logger:', '  print_freq: 100', '  save_checkpoint_freq: !!float 3e4', '  use_tb_logger: true', '',
              'dist_params:', '  backend: nccl', '  port: 29500']
    return '\n'.join(lines) + '\n'


def generated_files() -> dict[str, str]:
    """Repository-relative path → content of every file this script writes."""
    files = {exp.path: render(exp) for exp in experiments() if exp.path not in HAND_WRITTEN}
    files[SHORT_NAME[0]] = files[SHORT_NAME[1]]
    return files


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the options files; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='only report files that are missing or differ')
    parser.add_argument('--root', default=REPO, help='repository root to write under (default: this repository)')
    args = parser.parse_args(argv)
    stale = []
    for rel, text in generated_files().items():
        path = osp.join(args.root, rel)
        current = open(path, encoding='utf-8').read() if osp.isfile(path) else None
        if current == text:
            continue
        if args.check:
            stale.append(rel)
            continue
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        print(f'wrote {rel}')
    if stale:
        print('out of date (run python scripts/make_options.py):\n  ' + '\n  '.join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
