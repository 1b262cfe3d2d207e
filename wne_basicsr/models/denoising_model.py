"""DenoisingModel: BasicSR's SRModel for lq→gt denoising, CPU-capable DDP, validation on the bare network, mixed
precision, channels-last and compiled networks."""
from __future__ import annotations

import math
import os.path as osp
from collections import OrderedDict

import torch
import torch.distributed as dist
import torch.nn.functional as F
from basicsr.metrics import calculate_metric
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.registry import DATASET_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY
from torch import Tensor, nn
from torch.nn.parallel import DataParallel, DistributedDataParallel
from tqdm import tqdm

from wne_basicsr.errors import OptionError
from wne_basicsr.inference.forward import TileSpec, run_network
from wne_basicsr.inference.precision import (
    CompileSpec,
    autocast,
    batch_format,
    compile_errors_explained,
    dtype_name,
    precision_dtype,
    prepare_network,
    set_tf32,
    tf32_option,
)
from wne_basicsr.models.checkpoint_io import CheckpointIO
from wne_basicsr.registry_errors import check_arch_options

COLOR_CHANNELS = {'gray': 1, 'rgb': 3, 'y': 1}  # ours, plus BasicSR's `color: y` of PairedImageDataset


def all_finite(*tensors: Tensor) -> bool:
    """Whether every value of ``tensors`` is finite, read back in one host sync."""
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def input_channels(net: nn.Module) -> int | None:
    """Input channel count of a network: that of its first 4-D (convolution) weight, if any."""
    return next((p.shape[1] for p in net.parameters() if p.dim() == 4), None)


@MODEL_REGISTRY.register()
class DenoisingModel(CheckpointIO, SRModel):
    """Trains a denoiser on (lq, gt) pairs and validates each ``val*`` set on the bare (or EMA) network.

    Options: ``train.amp`` (fp32 | bf16 | fp16 | auto: the training forward and loss under autocast, the loss reduced
    in fp32; fp16 with a gradient scaler), ``inference_dtype`` (the same, for validation and testing), ``allow_tf32``
    (TF32 matmuls and convolutions on CUDA; off by default), ``channels_last`` (network and batches in channels-last
    memory format), ``compile`` (torch.compile of the backbone), ``tile`` and ``sync_bn``. Checkpoints are the same
    whatever these options say.
    """

    def __init__(self, opt: dict) -> None:
        check_arch_options(opt.get('network_g'), 'network_g')  # before BasicSR builds it: misspelled arguments
        TileSpec.from_opt(opt.get('tile'))  # a bad tile option fails at start-up, not at the first validation
        device = torch.device('cuda' if opt['num_gpu'] != 0 else 'cpu')
        self.autocast_dtype = precision_dtype(opt.get('inference_dtype'), 'inference_dtype', device)
        self.allow_tf32 = tf32_option(opt.get('allow_tf32'))
        set_tf32(self.allow_tf32, device)  # on CUDA, fp32 is fp32 unless allow_tf32: true
        self.channels_last = opt.get('channels_last', False)
        if not isinstance(self.channels_last, bool):
            raise OptionError(f'channels_last must be true or false, got {self.channels_last!r}')
        self.compile_spec = CompileSpec.from_opt(opt.get('compile'))
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
                raise OptionError(f'datasets.{name}: color={color!r} gives {COLOR_CHANNELS[color]}-channel images, but '
                                  f'network_g ({self.opt["network_g"]["type"]}) takes {channels} channel(s); set the '
                                  f'backbone\'s input channels (num_in_ch / in_chans / inp_channels) or the color')

    def model_to_device(self, net: nn.Module) -> nn.Module:
        """Move to the device (channels-last and compiled per the options); wrap in DDP (also on CPU, with no
        ``device_ids``) or DataParallel.

        Option ``sync_bn: true`` (DDP on CUDA) turns plain ``nn.BatchNorm*`` layers into SyncBatchNorm first.
        """
        net = prepare_network(net.to(self.device), self.channels_last, self.compile_spec, self.device)
        if self.opt['dist']:
            if self.opt.get('sync_bn'):
                if self.device.type != 'cuda':
                    raise OptionError('option sync_bn: true needs CUDA devices (SyncBatchNorm has no CPU kernel); '
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
        """Raise an OptionError naming the images of batch ``x`` that hold NaN or Inf values."""
        bad = ~torch.isfinite(x.flatten(1)).all(dim=1)
        if not bad.any():
            return
        index = bad.nonzero().flatten().tolist()
        names = [names] if isinstance(names, str) else names
        label = ', '.join(names[i] for i in index) if names and len(names) == len(x) else f'batch item(s) {index}'
        count = int((~torch.isfinite(x)).sum())
        raise OptionError(f'{label}: the {what} image holds {count} NaN/Inf value(s); denoisers need finite inputs')

    def feed_data(self, data: dict) -> None:
        """Move a batch to the device, refusing NaN/Inf images (named by the batch's ``lq_path`` when present)."""
        names = data.get('lq_path')
        if not all_finite(*(data[key] for key in ('lq', 'gt') if key in data)):  # one sync; then name the bad images
            self.check_finite(data['lq'], 'lq', names)
            self.check_finite(data['gt'], 'gt', data.get('gt_path', names))
        self.lq = batch_format(data['lq'].to(self.device), self.channels_last)
        if 'gt' in data:
            self.gt = data['gt'].to(self.device)
        self.clean = data['clean'].to(self.device) if 'clean' in data else None

    @torch.no_grad()
    def model_ema(self, decay: float = 0.999) -> None:
        """BasicSR's moving average of the parameters, then net_g's buffers (BatchNorm running statistics) copied
        into the EMA network, which would otherwise validate and save its initial statistics."""
        super().model_ema(decay)
        # buffers are copied, not averaged, as timm's ModelEmaV3 does with exclude_buffers=True (its ModelEmaV2
        # averages them); named_buffers sees through channels-last and in-place compilation, get_bare_model DDP
        ema_buffers = dict(self.net_g_ema.named_buffers())
        for name, buffer in self.get_bare_model(self.net_g).named_buffers():
            ema_buffers[name].copy_(buffer)

    def inference_network(self) -> nn.Module:
        """The network validation runs: the EMA copy if any, else the bare net_g (never the DDP wrapper)."""
        return self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)

    def denoise(self, x: Tensor, names: list[str] | str | None = None) -> Tensor:
        """The inference network in eval mode on whole images ``x``, tiled per option ``tile`` (inference/forward.py).

        Option ``inference_dtype: bf16 | fp16`` runs it under autocast (wrapper statistics stay fp32); output is fp32.
        """
        self.check_finite(x, 'input', names)
        tile = TileSpec.from_opt(self.opt.get('tile'))
        net = self.inference_network()
        was_training = net.training
        net.eval()
        with torch.no_grad(), autocast(x.device, self.autocast_dtype), compile_errors_explained():
            out = run_network(net, batch_format(x, self.channels_last), tile)
        net.train(was_training)
        return out.float()

    def test(self) -> None:
        self.output = self.denoise(self.lq)

    def init_training_settings(self) -> None:
        """BasicSR's EMA, losses, optimizer and schedulers, the Soft-NE transform (``train.soft_ne``) and the training
        precision (``train.amp``)."""
        from wne_basicsr.losses.soft_ne_loss import SoftNE  # imported here: only training needs it

        super().init_training_settings()
        if self.cri_pix is None:
            raise OptionError('train.pixel_opt is required (e.g. {type: MSELoss}): DenoisingModel trains a pixel loss')
        self.soft_ne = SoftNE.from_opt(self.opt['train'].get('soft_ne'))
        amp = self.opt['train'].get('amp')
        self.train_dtype = precision_dtype(amp, 'train.amp', self.device)
        self.grad_scaler = torch.amp.GradScaler(self.device.type) if self.train_dtype == torch.float16 else None
        # psnr_train only on the iterations that are logged: every print_freq-th, and the last
        self.print_freq = (self.opt.get('logger') or {}).get('print_freq', 1)
        self.total_iter = int(self.opt['train'].get('total_iter', 0))
        if hasattr(self, 'net_g_ema'):
            prepare_network(self.net_g_ema, self.channels_last, self.compile_spec, self.device)
        get_root_logger().info(f'Training precision {dtype_name(self.train_dtype)} (train.amp: {amp or "fp32"}), '
                               f'inference {dtype_name(self.autocast_dtype)}, allow_tf32: {self.allow_tf32}, '
                               f'channels_last: {self.channels_last}, compile: {self.compile_spec}')

    def optimize_parameters(self, current_iter: int) -> None:
        """One step on loss(f(lq), gt), or with Soft-NE on loss(f(α·lq + m), α·gt + m); logs map the output back.

        The forward runs under the ``train.amp`` autocast; the loss is computed in fp32 and must be finite. psnr_train
        is computed on the iterations that are logged: every ``logger.print_freq``-th (every one without logger options)
        and the last.
        """
        self.optimizer_g.zero_grad()
        lq, gt = self.lq, self.gt
        if self.soft_ne is not None:
            alpha, shift = self.soft_ne.draw(lq.shape[0], lq.device)
            lq, gt = self.soft_ne.apply(lq, alpha, shift), self.soft_ne.apply(gt, alpha, shift)
        with autocast(self.device, self.train_dtype), compile_errors_explained():
            output = self.net_g(lq)
        l_pix = self.cri_pix(output.float(), gt.float())
        with torch.no_grad():
            output = output.detach().float()
            self.output = output if self.soft_ne is None else self.soft_ne.invert(output, alpha, shift)
            values = OrderedDict(l_pix=l_pix.detach())
            if current_iter % self.print_freq == 0 or current_iter == self.total_iter:
                reference = self.clean if self.clean is not None else self.gt
                values['psnr_train'] = -10 * torch.log10(
                    F.mse_loss(self.output.clamp(0, 1), reference).clamp_min(1e-10))
        self.log_dict = self._checked_log(values, current_iter)
        if self.grad_scaler is None:
            l_pix.backward()
            self.optimizer_g.step()
        else:
            self.grad_scaler.scale(l_pix).backward()
            self.grad_scaler.step(self.optimizer_g)
            self.grad_scaler.update()
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def _checked_log(self, values: OrderedDict[str, Tensor], current_iter: int) -> OrderedDict[str, float]:
        """The step's log values (means over the ranks), read in its one host sync; a NaN/Inf loss on any rank stops
        the run on every rank instead of training on garbage, and so does an fp16 gradient scale fallen below 1.

        Under fp16 a NaN/Inf gradient alone is the scaler's to handle: it skips that step and lowers the scale.
        """
        # the scale as the previous steps left it, read in the same sync (None before the first scaled step)
        scale = self.grad_scaler._get_scale_async() if self.grad_scaler is not None else None
        stacked = torch.stack([*values.values(), *([] if scale is None else [scale.reshape(())])])
        if self.opt['dist']:
            dist.all_reduce(stacked)  # a NaN/Inf on one rank makes every rank's sum non-finite
            stacked /= self.opt['world_size']
        read = stacked.tolist()
        log = OrderedDict(zip(values, read))
        advice = ('Stopping rather than training on; the checkpoints saved so far are intact (--auto_resume restarts '
                  'from the last one). Lower train.optim_g.lr, or use train.amp: bf16 (or fp32); fp16 overflows first.')
        if not math.isfinite(log['l_pix']):
            raise FloatingPointError(
                f'iteration {current_iter}: the training loss is {log["l_pix"]} (not finite) under train.amp: '
                f'{dtype_name(self.train_dtype)}. {advice}')
        if scale is not None and read[-1] < 1:
            raise FloatingPointError(
                f'iteration {current_iter}: the fp16 gradient scale has fallen to {read[-1]:g}: the gradients '
                f'overflow float16 at nearly every step, and those steps are skipped. {advice}')
        return log

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
            raise OptionError('val.metrics need ground truth, but the validation set returned no "gt"')
        if getattr(fn, 'takes_tensors', False):
            return calculate_metric({'img': output, 'img2': gt}, metric_opt)
        return calculate_metric({'img': sr_img, 'img2': gt_img}, metric_opt)

    def _image_path(self, dataset_name: str, img_name: str, current_iter) -> str:
        if self.opt['is_train']:
            return osp.join(self.opt['path']['visualization'], img_name, f'{img_name}_{current_iter}.png')
        suffix = self.opt['val'].get('suffix') or self.opt['name']
        return osp.join(self.opt['path']['visualization'], dataset_name, f'{img_name}_{suffix}.png')
