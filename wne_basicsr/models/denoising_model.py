"""DenoisingModel: BasicSR's SRModel for lq→gt denoising, CPU-capable DDP, validation on the bare network."""
from __future__ import annotations

import glob
import os
import os.path as osp
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from basicsr.metrics import calculate_metric
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import DATASET_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY
from torch import Tensor, nn
from torch.nn.parallel import DataParallel, DistributedDataParallel
from tqdm import tqdm

from wne_basicsr.models.tiling import TileSpec, run_network

COLOR_CHANNELS = {'gray': 1, 'rgb': 3, 'y': 1}  # ours, plus BasicSR's `color: y` of PairedImageDataset
PARTIAL_SUFFIX = '.partial'  # temporary checkpoint files: never matched as *.state or *.pth
INFERENCE_DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}  # autocast dtype of inference


def inference_dtype(opt: dict) -> torch.dtype | None:
    """Autocast dtype of option ``inference_dtype`` (fp32, the default: no autocast | bf16 | fp16)."""
    name = opt.get('inference_dtype') or 'fp32'
    if name not in INFERENCE_DTYPES:
        raise ValueError(f'inference_dtype must be one of {sorted(INFERENCE_DTYPES)}, got {name!r}')
    return INFERENCE_DTYPES[name]


def input_channels(net: nn.Module) -> int | None:
    """Input channel count of a network: that of its first 4-D (convolution) weight, if any."""
    return next((p.shape[1] for p in net.parameters() if p.dim() == 4), None)


@MODEL_REGISTRY.register()
class DenoisingModel(SRModel):
    """Trains a denoiser on (lq, gt) pairs and validates each ``val*`` set on the bare (or EMA) network."""

    def __init__(self, opt: dict) -> None:
        TileSpec.from_opt(opt.get('tile'))  # a bad tile option fails at start-up, not at the first validation
        self.autocast_dtype = inference_dtype(opt)
        for metric_opt in ((opt.get('val') or {}).get('metrics') or {}).values():
            # error metrics such as calculate_ne_defect say that lower is better; the YAML may still override it
            metric_opt.setdefault('better', getattr(METRIC_REGISTRY.get(metric_opt['type']), 'better', 'higher'))
        super().__init__(opt)
        self._check_colors()

    def _check_colors(self) -> None:
        """Fail early when a dataset's ``color`` does not match the network's input channels."""
        channels = input_channels(self.get_bare_model(self.net_g))
        for name, dataset_opt in (self.opt.get('datasets') or {}).items():
            # our datasets say their default color; BasicSR's (PairedImageDataset, ...) decode 3-channel images
            kind = dataset_opt.get('type')
            default = getattr(DATASET_REGISTRY.get(kind) if kind in DATASET_REGISTRY else None, 'default_color', 'rgb')
            color = dataset_opt.get('color') or default
            if channels is not None and COLOR_CHANNELS.get(color, channels) != channels:
                raise ValueError(f'datasets.{name}: color={color!r} gives {COLOR_CHANNELS[color]}-channel images, but '
                                 f'network_g ({self.opt["network_g"]["type"]}) takes {channels} channel(s); set the '
                                 f'backbone\'s input channels (num_in_ch / in_chans / inp_channels) or the color')

    def model_to_device(self, net: nn.Module) -> nn.Module:
        """Move to the device; wrap in DDP (also on CPU, with no ``device_ids``) or DataParallel.

        Option ``sync_bn: true`` (DDP on CUDA) turns plain ``nn.BatchNorm*`` layers into SyncBatchNorm first.
        """
        net = net.to(self.device)
        if self.opt['dist']:
            if self.opt.get('sync_bn'):
                if self.device.type != 'cuda':
                    raise ValueError('option sync_bn: true needs CUDA devices (SyncBatchNorm has no CPU kernel); '
                                     'remove it for CPU runs')
                net = self.sync_batchnorm(net)
            find_unused = self.opt.get('find_unused_parameters', False)
            device_ids = [torch.cuda.current_device()] if self.device.type == 'cuda' else None
            return DistributedDataParallel(net, device_ids=device_ids, find_unused_parameters=find_unused)
        if self.opt['num_gpu'] > 1:
            return DataParallel(net)
        return net

    @staticmethod
    def sync_batchnorm(net: nn.Module) -> nn.Module:
        """Replace layers of exact type ``nn.BatchNorm1d/2d/3d`` by SyncBatchNorm; subclasses and other norms stay."""
        for parent in list(net.modules()):
            for name, child in parent.named_children():
                if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
                    setattr(parent, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        return net

    @staticmethod
    def check_finite(x: Tensor, what: str, names: list[str] | str | None = None) -> None:
        """Raise a ValueError naming the images of batch ``x`` that hold NaN or Inf values."""
        bad = ~torch.isfinite(x.flatten(1)).all(dim=1)
        if not bad.any():
            return
        index = bad.nonzero().flatten().tolist()
        names = [names] if isinstance(names, str) else names
        label = ', '.join(names[i] for i in index) if names and len(names) == len(x) else f'batch item(s) {index}'
        count = int((~torch.isfinite(x)).sum())
        raise ValueError(f'{label}: the {what} image holds {count} NaN/Inf value(s); denoisers need finite inputs')

    def feed_data(self, data: dict) -> None:
        """Move a batch to the device, refusing NaN/Inf images (named by the batch's ``lq_path`` when present)."""
        names = data.get('lq_path')
        self.check_finite(data['lq'], 'lq', names)
        self.lq = data['lq'].to(self.device)
        if 'gt' in data:
            self.check_finite(data['gt'], 'gt', data.get('gt_path', names))
            self.gt = data['gt'].to(self.device)
        self.clean = data['clean'].to(self.device) if 'clean' in data else None

    def inference_network(self) -> nn.Module:
        """The network validation runs: the EMA copy if any, else the bare net_g (never the DDP wrapper)."""
        return self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)

    def denoise(self, x: Tensor, names: list[str] | str | None = None) -> Tensor:
        """The inference network in eval mode on whole images ``x``, tiled per option ``tile`` (models/tiling.py).

        Option ``inference_dtype: bf16 | fp16`` runs it under autocast (wrapper statistics stay fp32); output is fp32.
        """
        self.check_finite(x, 'input', names)
        tile = TileSpec.from_opt(self.opt.get('tile'))
        net = self.inference_network()
        was_training = net.training
        net.eval()
        dtype = self.autocast_dtype
        with torch.no_grad(), torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
            out = run_network(net, x, tile)
        net.train(was_training)
        return out.float()

    def test(self) -> None:
        self.output = self.denoise(self.lq)

    @master_only
    def save_network(self, net: nn.Module | list[nn.Module], net_label: str, current_iter: int,
                     param_key: str | list[str] = 'params') -> None:
        """BasicSR's ``models/<label>_<iter>.pth`` ({param_key: CPU state dict}; -1 → latest), written atomically."""
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError(f'save_network: {len(nets)} networks but {len(keys)} param keys')
        save_dict = {}
        for net_, key in zip(nets, keys):
            state_dict = self.get_bare_model(net_).state_dict()
            for name in list(state_dict):
                state_dict[name.removeprefix('module.')] = state_dict.pop(name).cpu()
            save_dict[key] = state_dict
        label = 'latest' if current_iter == -1 else current_iter
        self.atomic_save(save_dict, osp.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

    @master_only
    def save_training_state(self, epoch: int, current_iter: int) -> None:
        """BasicSR's ``training_states/<iter>.state`` (epoch, iter, optimizer and scheduler states), atomically."""
        folder = self.opt['path']['training_states']
        if current_iter == -1:
            self.remove_partial_files(folder)
            return
        state = {'epoch': epoch, 'iter': current_iter, 'optimizers': [o.state_dict() for o in self.optimizers],
                 'schedulers': [s.state_dict() for s in self.schedulers]}
        self.atomic_save(state, osp.join(folder, f'{current_iter}.state'))

    @staticmethod
    def remove_partial_files(folder: str) -> None:
        """Delete the temporary files that a save killed before its rename left in ``folder``."""
        for path in glob.glob(osp.join(glob.escape(folder), f'.*{PARTIAL_SUFFIX}')):
            os.remove(path)

    @classmethod
    def atomic_save(cls, obj: object, path: str, retries: int = 3) -> None:
        """``torch.save`` to a hidden ``.partial`` file beside ``path``, fsync, then rename over ``path``.

        Readers see the old file or the complete new one; like BasicSR, failures are retried and then only logged.
        """
        folder, name = osp.split(path)
        cls.remove_partial_files(folder)
        tmp = osp.join(folder, f'.{name}.{os.getpid()}{PARTIAL_SUFFIX}')  # never ends in .state or .pth
        for retry in range(retries - 1, -1, -1):
            try:
                with open(tmp, 'wb') as f:
                    torch.save(obj, f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except Exception as err:
                get_root_logger().warning(f'Cannot save {path}: {err}; remaining retries: {retry}')
                if osp.exists(tmp):
                    os.remove(tmp)
                if retry:
                    time.sleep(1)
            else:
                if os.name == 'posix':  # make the rename itself durable
                    dir_fd = os.open(folder or '.', os.O_RDONLY)
                    try:
                        os.fsync(dir_fd)
                    finally:
                        os.close(dir_fd)
                return
        get_root_logger().warning(f'Still cannot save {path}; the previous file, if any, is intact.')

    def load_network(self, net: nn.Module, load_path: str, strict: bool = True,
                     param_key: str | None = 'params') -> None:
        """BasicSR's loading, with errors that name the option and file: missing, unreadable, wrong key or shapes."""
        option = next((f'path.{k}' for k, v in self.opt['path'].items() if v == load_path), 'checkpoint')
        where = f'{option}: {load_path}'
        if not osp.isfile(load_path):
            raise FileNotFoundError(f'{where}: no such checkpoint file')
        try:
            checkpoint = torch.load(load_path, map_location='cpu', weights_only=True)
        except Exception as err:
            raise ValueError(f'{where}: cannot read the checkpoint ({type(err).__name__}: {err})') from err
        if not isinstance(checkpoint, dict):
            raise ValueError(f'{where}: expected a dict of state dicts, got {type(checkpoint).__name__}')
        if param_key is not None:
            if param_key not in checkpoint and 'params' in checkpoint:
                get_root_logger().info(f'Loading: {param_key} does not exist, use params.')
                param_key = 'params'
            if param_key not in checkpoint:
                raise ValueError(f'{where}: no {param_key!r} entry (it holds {sorted(checkpoint)[:8]}); '
                                 'set path.param_key_g to one of them')
            checkpoint = checkpoint[param_key]
        state = {k.removeprefix('module.'): v for k, v in checkpoint.items()}
        net = self.get_bare_model(net)
        get_root_logger().info(f'Loading {type(net).__name__} model from {load_path}, with param key: [{param_key}].')
        self._print_different_keys_loading(net, state, strict)
        if strict:
            self._check_state_fits(net, state, where)
        net.load_state_dict(state, strict=strict)

    def _check_state_fits(self, net: nn.Module, state: dict, where: str) -> None:
        """Raise a ValueError listing the missing, unexpected and differently shaped keys of ``state`` for ``net``."""
        own = net.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        shapes = [f'{k}: checkpoint {tuple(getattr(state[k], "shape", ()))} vs network {tuple(own[k].shape)}'
                  for k in sorted(set(own) & set(state)) if getattr(state[k], 'shape', None) != own[k].shape]
        groups = {'missing from the checkpoint': missing, 'unexpected in the checkpoint': unexpected,
                  'shapes differ': shapes}
        parts = [f'{label} ({len(keys)}): {", ".join(keys[:6])}{", …" if len(keys) > 6 else ""}'
                 for label, keys in groups.items() if keys]
        if not parts:
            return
        raise ValueError(f'{where}: the checkpoint does not fit network_g (type {self.opt["network_g"]["type"]}): '
                         + '; '.join(parts) + '. Check network_g (arch, channels, widths) or set strict_load_g: false')

    def init_training_settings(self) -> None:
        """BasicSR's EMA, losses, optimizer and schedulers, plus the optional Soft-NE transform (``train.soft_ne``)."""
        from wne_basicsr.losses.soft_ne_loss import SoftNE  # imported here: only training needs it

        super().init_training_settings()
        if self.cri_pix is None:
            raise ValueError('train.pixel_opt is required (e.g. {type: MSELoss}): DenoisingModel trains a pixel loss')
        self.soft_ne = SoftNE.from_opt(self.opt['train'].get('soft_ne'))

    def optimize_parameters(self, current_iter: int) -> None:
        """One step on loss(f(lq), gt), or with Soft-NE on loss(f(α·lq + m), α·gt + m); logs map the output back."""
        self.optimizer_g.zero_grad()
        lq, gt = self.lq, self.gt
        if self.soft_ne is not None:
            alpha, shift = self.soft_ne.draw(lq.shape[0], lq.device)
            lq, gt = self.soft_ne.apply(lq, alpha, shift), self.soft_ne.apply(gt, alpha, shift)
        output = self.net_g(lq)
        loss_dict = OrderedDict()
        l_pix = self.cri_pix(output, gt)
        loss_dict['l_pix'] = l_pix
        l_pix.backward()
        self.optimizer_g.step()
        with torch.no_grad():
            output = output.detach()
            self.output = output if self.soft_ne is None else self.soft_ne.invert(output, alpha, shift)
            reference = self.clean if self.clean is not None else self.gt
            mse = F.mse_loss(self.output.clamp(0, 1), reference).clamp_min(1e-10)
            loss_dict['psnr_train'] = -10 * torch.log10(mse)
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img: bool) -> None:
        """Validate on one set: tensor metrics (float PSNR) on [0, 1] outputs, BasicSR metrics on uint8 images."""
        dataset_name = dataloader.dataset.opt['name']
        metrics = self.opt['val'].get('metrics') or {}
        if metrics:
            self._initialize_best_metric_results(dataset_name)
        self.metric_results = {name: 0.0 for name in metrics}
        pbar = tqdm(total=len(dataloader), unit='image', desc=dataset_name) if self.opt['val'].get('pbar') else None
        count = 0
        for val_data in dataloader:
            img_name = osp.splitext(osp.basename(val_data['lq_path'][0]))[0]
            self.feed_data(val_data)
            self.test()
            output = self.output.detach().cpu().clamp(0, 1)
            gt = self.gt.detach().cpu() if hasattr(self, 'gt') else None
            sr_img = tensor2img([output])
            gt_img = tensor2img([gt]) if gt is not None else None
            for name, metric_opt in metrics.items():
                self.metric_results[name] += self._metric(metric_opt, output, gt, sr_img, gt_img)
            if save_img:
                imwrite(sr_img, self._image_path(dataset_name, img_name, current_iter))
            del self.lq, self.output
            if hasattr(self, 'gt'):
                del self.gt
            count += 1
            if pbar is not None:
                pbar.update(1)
        if pbar is not None:
            pbar.close()
        if metrics and count:
            for name in self.metric_results:
                self.metric_results[name] /= count
                self._update_best_metric_result(dataset_name, name, self.metric_results[name], current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)
        elif not count:
            get_root_logger().warning(f'Validation set {dataset_name} is empty')

    def _metric(self, metric_opt: dict, output: Tensor, gt: Tensor | None, sr_img, gt_img) -> float:
        """One metric of one image: on the network itself (NE defect), on [0, 1] tensors, or on uint8 images."""
        fn = METRIC_REGISTRY.get(metric_opt['type'])
        if getattr(fn, 'needs_network', False):
            return calculate_metric({'img': output, 'img2': gt, 'net': self.inference_network(), 'lq': self.lq},
                                    metric_opt)
        if gt is None:
            raise ValueError('val.metrics need ground truth, but the validation set returned no "gt"')
        if getattr(fn, 'takes_tensors', False):
            return calculate_metric({'img': output, 'img2': gt}, metric_opt)
        return calculate_metric({'img': sr_img, 'img2': gt_img}, metric_opt)

    def _image_path(self, dataset_name: str, img_name: str, current_iter) -> str:
        if self.opt['is_train']:
            return osp.join(self.opt['path']['visualization'], img_name, f'{img_name}_{current_iter}.png')
        suffix = self.opt['val'].get('suffix') or self.opt['name']
        return osp.join(self.opt['path']['visualization'], dataset_name, f'{img_name}_{suffix}.png')
